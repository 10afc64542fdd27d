/**
 * The benchmark report's chart: throughput and latency percentiles against offered load, one line per
 * system (each measured system next to its baseline), rendered to SVG with Vega-Lite (no browser).
 */
import { parse, View } from 'vega';
import { compile } from 'vega-lite';

export interface LoadPoint {
  /** Benchmark name, e.g. "gateway" or "bare Fastify (baseline)". */
  system: string;
  /** Offered load, requests or records per second (0 = as fast as possible). */
  offered: number;
  achieved: number;
  p50Ms: number;
  p99Ms: number;
}

export async function renderChart(points: LoadPoint[], title: string): Promise<string> {
  const rows = points.flatMap((p) => [
    { system: p.system, offered: p.offered, metric: 'achieved (per s)', value: p.achieved },
    { system: p.system, offered: p.offered, metric: 'p50 latency (ms)', value: p.p50Ms },
    { system: p.system, offered: p.offered, metric: 'p99 latency (ms)', value: p.p99Ms },
  ]);
  const spec = compile({
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title,
    data: { values: rows },
    facet: { column: { field: 'metric', type: 'nominal', title: null } },
    spec: {
      width: 260,
      height: 200,
      mark: { type: 'line', point: true },
      encoding: {
        x: { field: 'offered', type: 'quantitative', title: 'offered load (per s)' },
        y: { field: 'value', type: 'quantitative', title: null },
        color: { field: 'system', type: 'nominal' },
      },
    },
    resolve: { scale: { y: 'independent' } },
  } as Parameters<typeof compile>[0]).spec;
  const view = new View(parse(spec), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  return svg;
}
