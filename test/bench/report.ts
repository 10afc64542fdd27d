/**
 * `npm run bench`: one benchmark report. Runs, in one go on this machine, the relay's benchmarks
 * next to their baselines and writes test/bench/results/report.md and chart.svg:
 *
 *   Kafka itself     Apache Kafka's producer performance tool against the same broker (acks=all,
 *                    idempotent, a record the size of an encoded session), at each offered load
 *   gateway          services/gateway/bench/gateway.ts: the gateway vs a bare Fastify route that parses
 *                    the same body and answers 202, and vs the durable floor (bench/floor.ts: only the
 *                    Postgres claim and the Kafka ack), at each offered load and unthrottled
 *   pipeline         services/worker/bench/pipeline.ts: gateway-produce → worker → sandbox receipt vs a
 *                    naive relay (a route calling the sandbox directly), with 1 and with 2 workers, and
 *                    (1 worker) vs the durable floor (bench/floor.ts: Kafka, ledger, reply, commit only)
 *
 * Each figure is printed next to its baseline as a ratio; the machine is shared and noisy, so only
 * ratios from the same run are compared. Kafka: KAFKA_BROKERS when set, else a broker started here
 * from infra/kafka (port BENCH_KAFKA_PORT, 29092) and stopped after. Loads: BENCH_LOADS (1000,2000,4000).
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { createKafka, ensureTopics, topicNames } from '@s2s/bus';
import { encodeIngest, exampleIosSession } from '@s2s/contracts';
import { ROOT } from '../support/processes.js';
import { type LoadPoint, renderChart } from './chart.js';
import { kafkaProducerPerf, type ProducerPerfResult } from './kafka-baseline.js';

const env = process.env;
const LOADS = (env.BENCH_LOADS ?? '1000,2000,4000').split(',').map(Number);
const DURATION = env.BENCH_DURATION_S ?? '8';
const OUT = `${ROOT}test/bench/results`;
const TSX = `${ROOT}node_modules/.bin/tsx`;
const log = (line: string) => process.stdout.write(`[bench] ${line}\n`);

interface Figures {
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
}
interface GatewayRun {
  offered: number;
  bare: Figures;
  floor: Figures;
  gateway: Figures;
}
interface PipelineRun {
  workers: number;
  rate: number;
  results: { label: string; records: number; perSecond: number; p50: number; p99: number; cpuUs?: Record<string, number> }[];
}

function runScript<T>(script: string, extra: Record<string, string>): Promise<T> {
  const file = join(tmpdir(), `s2s-bench-${process.pid}-${Date.now()}.json`);
  return new Promise((resolve, reject) => {
    const child = spawn(TSX, [`${ROOT}${script}`], {
      cwd: ROOT,
      env: { ...env, ...extra, BENCH_JSON: file },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    child.on('exit', (code) => {
      try {
        resolve(JSON.parse(readFileSync(file, 'utf8')) as T);
      } catch {
        reject(new Error(`${script} exited with ${code} and wrote no figures`));
      } finally {
        rmSync(file, { force: true });
      }
    });
  });
}

const ratio = (a: number, b: number) => (b > 0 ? (a / b).toFixed(2) : 'n/a');
const n0 = (x: number) => Math.round(x).toLocaleString('en-US');

async function main() {
  let brokers = env.KAFKA_BROKERS;
  const port = env.BENCH_KAFKA_PORT ?? '29092';
  if (!brokers) {
    execFileSync('bash', [`${ROOT}infra/kafka/kafka.sh`, 'start'], { env: { ...env, KAFKA_PORT: port }, stdio: 'inherit' });
    brokers = `127.0.0.1:${port}`;
  }
  const shared = { KAFKA_BROKERS: brokers, BENCH_DURATION_S: DURATION };
  try {
    // 1. Kafka's own producer, the same broker, a record the size of what the gateway produces.
    const recordSize = encodeIngest({
      requestId: '01a204c8-a7df-72a7-8162-cac2ff133a4e',
      idempotencyKey: '01a204c8-a7df-72a7-8162-cac2ff133a4e',
      bodyHash: 'f'.repeat(64),
      appId: 'bench',
      deviceKey: 'f'.repeat(32),
      receivedAtMs: Date.now(),
      kind: 'session',
      record: exampleIosSession(1, 'bench'),
    }).length;
    const admin = createKafka({ brokers: brokers.split(','), clientId: 'bench-report' }).admin();
    await admin.connect();
    const names = topicNames(`benchreport${Date.now()}.`);
    await ensureTopics(admin, names, { ingestPartitions: 12, replicationFactor: 1 });
    const kafka = new Map<number, ProducerPerfResult>();
    for (const offered of [...LOADS, -1]) {
      log(`Kafka producer perf tool at ${offered < 0 ? 'max' : offered}/s`);
      const records = offered < 0 ? 50_000 : offered * Number(DURATION);
      kafka.set(
        offered < 0 ? 0 : offered,
        await kafkaProducerPerf({ brokers, topic: names.ingest, records, recordSize, throughput: offered }),
      );
    }
    await admin.deleteTopics({ topics: Object.values(names) }).catch(() => {});
    await admin.disconnect();

    // 2. Gateway vs bare Fastify, at each offered load and unthrottled.
    const gateway: GatewayRun[] = [];
    for (const offered of [...LOADS, 0]) {
      log(`gateway vs bare Fastify at ${offered || 'max'} req/s`);
      gateway.push(
        await runScript<GatewayRun>('services/gateway/bench/gateway.ts', {
          ...shared,
          ...(offered ? { BENCH_RATE: String(offered) } : {}),
        }),
      );
    }

    // 3. Pipeline vs naive relay, 1 and 2 workers.
    const pipeline: PipelineRun[] = [];
    for (const workers of [1, 2]) {
      log(`pipeline vs naive relay, ${workers} worker(s)`);
      pipeline.push(
        await runScript<PipelineRun>('services/worker/bench/pipeline.ts', {
          ...shared,
          BENCH_WORKERS: String(workers),
          BENCH_SECONDS: '5',
          // The durable floor runs once, next to the 1-worker pipeline.
          BENCH_FLOOR: workers === 1 ? '1' : '0',
        }),
      );
    }

    writeReport(recordSize, kafka, gateway, pipeline);
    const points: LoadPoint[] = [];
    for (const run of gateway.filter((r) => r.offered > 0)) {
      points.push({
        system: 'gateway',
        offered: run.offered,
        achieved: run.gateway.perSecond,
        p50Ms: run.gateway.p50Ms,
        p99Ms: run.gateway.p99Ms,
      });
      points.push({
        system: 'durable floor',
        offered: run.offered,
        achieved: run.floor.perSecond,
        p50Ms: run.floor.p50Ms,
        p99Ms: run.floor.p99Ms,
      });
      points.push({
        system: 'bare Fastify (baseline)',
        offered: run.offered,
        achieved: run.bare.perSecond,
        p50Ms: run.bare.p50Ms,
        p99Ms: run.bare.p99Ms,
      });
      const k = kafka.get(run.offered);
      if (k)
        points.push({
          system: 'Kafka producer tool (baseline)',
          offered: run.offered,
          achieved: k.recordsPerSec,
          p50Ms: k.p50Ms,
          p99Ms: k.p99Ms,
        });
    }
    writeFileSync(`${OUT}/chart.svg`, await renderChart(points, 'Throughput and latency vs offered load'));
    log(`wrote ${OUT}/report.md and ${OUT}/chart.svg`);
  } finally {
    if (!env.KAFKA_BROKERS)
      execFileSync('bash', [`${ROOT}infra/kafka/kafka.sh`, 'stop'], { env: { ...env, KAFKA_PORT: port }, stdio: 'inherit' });
  }
}

/** Where the CPU goes, per record, in one pipeline run (test/bench/cpu.ts). */
function cpuTable(run: PipelineRun | undefined): string[] {
  const rows = run?.results.filter((r) => r.cpuUs) ?? [];
  const groups = Object.keys(rows[0]?.cpuUs ?? {});
  if (!run || rows.length === 0) return [];
  return [
    `### CPU per record, by process (${run.workers} worker)`,
    '',
    'CPU time (user + system, from /proc) each group of processes used during a run, divided by its records. The',
    'machine has 2 cores, so 1,000 µs per record in total is at most 2,000 records/s whatever the code does.',
    '"load + naive" is the benchmark process: the producer in pipeline and floor runs, the naive relay itself in naive runs.',
    '',
    `| run | ${groups.join(' | ')} | total |`,
    `|---|${groups.map(() => '---:|').join('')}---:|`,
    ...rows.map((r) => {
      const cpu = r.cpuUs ?? {};
      const total = Object.values(cpu).reduce((a, b) => a + b, 0);
      return `| ${r.label} | ${groups.map((g) => n0(cpu[g] ?? 0)).join(' | ')} | ${n0(total)} |`;
    }),
    '',
  ];
}

function writeReport(recordSize: number, kafka: Map<number, ProducerPerfResult>, gateway: GatewayRun[], pipeline: PipelineRun[]) {
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  const lines: string[] = [
    '# s2s-relay benchmark report',
    '',
    `${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC · ${cpus().length} cores (${cpu}) · ${Math.round(totalmem() / 2 ** 30)} GiB · Node ${process.version} · Apache Kafka 4.1.1 (one broker) · PostgreSQL local`,
    '',
    'Load generator, broker, Postgres and services share the same cores. Ratios compare runs of the same',
    'command on the same machine; absolute numbers move with whatever else runs. `npm run bench` regenerates this file.',
    '',
    '## Gateway (HTTP intake → Kafka ack) vs a bare Fastify route',
    '',
    'The bare route parses the same JSON body and answers 202; the gateway authenticates, validates, claims the',
    'idempotency key in Postgres, encodes Avro and answers after Kafka acknowledged (acks=all). The floor',
    '(services/gateway/bench/floor.ts) does only what durability needs: it claims the key in Postgres (batched, as',
    "the gateway does) and answers after the same producer's ack; no auth, validation, Avro, log line or metrics.",
    'So floor / bare is the most any gateway built on Fastify, pg and kafkajs reaches on this machine.',
    `50 connections, ${DURATION} s per point after warm-up; every request a new device.`,
    '',
    '| offered req/s | gateway req/s | floor req/s | bare req/s | gateway / bare | floor / bare | gateway / floor | gateway p50 / p99 ms | floor p50 / p99 ms | bare p50 / p99 ms |',
    '|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...gateway.map(
      (r) =>
        `| ${r.offered ? n0(r.offered) : 'max'} | ${n0(r.gateway.perSecond)} | ${n0(r.floor.perSecond)} | ${n0(r.bare.perSecond)} | ${ratio(r.gateway.perSecond, r.bare.perSecond)} | ${ratio(r.floor.perSecond, r.bare.perSecond)} | ${ratio(r.gateway.perSecond, r.floor.perSecond)} | ${r.gateway.p50Ms} / ${r.gateway.p99Ms} | ${r.floor.p50Ms} / ${r.floor.p99Ms} | ${r.bare.p50Ms} / ${r.bare.p99Ms} |`,
    ),
    '',
    `## Gateway vs Kafka's own producer (the broker's baseline)`,
    '',
    `Apache Kafka's ProducerPerformance tool against the same broker: acks=all, idempotence, ${recordSize}-byte records (an encoded session).`,
    '',
    '| offered /s | gateway req/s | Kafka tool records/s | ratio | gateway p99 ms | Kafka tool p50 / p99 ms |',
    '|---:|---:|---:|---:|---:|---:|',
    ...gateway.map((r) => {
      const k = kafka.get(r.offered);
      return `| ${r.offered ? n0(r.offered) : 'max'} | ${n0(r.gateway.perSecond)} | ${k ? n0(k.recordsPerSec) : 'n/a'} | ${k ? ratio(r.gateway.perSecond, k.recordsPerSec) : 'n/a'} | ${r.gateway.p99Ms} | ${k ? `${k.p50Ms} / ${k.p99Ms}` : 'n/a'} |`;
    }),
    '',
    '## Pipeline (produce → worker → partner sandbox) vs a naive relay',
    '',
    'The naive relay is a Fastify route that calls the sandbox directly: no Kafka, no ledger, no ordering.',
    'Latency is from produce time to the sandbox receiving the Singular call. Burst: 10,000 records at once.',
    'Steady runs: each device sends a session and 9 events; "offline flushes" sends each device\'s 10 records back',
    'to back (the worst case for per-device order: they must reach the partner one after the other), "live journeys"',
    "interleaves 200 devices, so a device's next record comes 100 ms after its previous one at 2,000/s.",
    '',
    'The durable floor (services/worker/bench/floor.ts, 1-worker run only) reads the same Avro records from Kafka and',
    'does only what "nothing lost, nothing sent twice" needs: a ledger row claimed before the Singular call and',
    'completed after it (group commit), a reply, per-device order, offsets committed once a batch is done. No device',
    "graph, session-first parking, consent or erasure checks, retries, DLQ or metrics: its records/s bounds the worker's.",
    "Its latency bounds nothing: it finishes a whole fetched batch before the next, where the worker's lanes run on.",
    '',
    '| workers | run | records/s | naive records/s | ratio | floor records/s | floor / naive | pipeline / floor | p50 ms | p99 ms | floor p50 / p99 ms | naive p50 / p99 ms |',
    '|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...pipeline.flatMap((p) => {
      const [
        naiveBurst,
        pipeBurst,
        naiveSteady,
        pipeSteady,
        naiveJourneys,
        pipeJourneys,
        floorBurst,
        floorSteady,
        floorJourneys,
      ] = p.results;
      if (!naiveBurst || !pipeBurst || !naiveSteady || !pipeSteady) return [];
      type R = typeof pipeBurst;
      const row = (run: string, pipe: R, naive: R, floor: R | undefined) =>
        `| ${p.workers} | ${run} | ${n0(pipe.perSecond)} | ${n0(naive.perSecond)} | ${ratio(pipe.perSecond, naive.perSecond)} | ` +
        `${floor ? n0(floor.perSecond) : 'n/a'} | ${floor ? ratio(floor.perSecond, naive.perSecond) : 'n/a'} | ${floor ? ratio(pipe.perSecond, floor.perSecond) : 'n/a'} | ` +
        `${pipe.p50} | ${pipe.p99} | ${floor ? `${floor.p50} / ${floor.p99}` : 'n/a'} | ${naive.p50} / ${naive.p99} |`;
      return [
        row('burst', pipeBurst, naiveBurst, floorBurst),
        row(`${n0(p.rate)}/s, offline flushes`, pipeSteady, naiveSteady, floorSteady),
        ...(naiveJourneys && pipeJourneys
          ? [row(`${n0(p.rate)}/s, live journeys`, pipeJourneys, naiveJourneys, floorJourneys)]
          : []),
      ];
    }),
    '',
    (() => {
      const [one, two] = pipeline.map((p) => p.results[1]?.perSecond ?? 0);
      return `2 workers vs 1 (burst throughput): ${ratio(two ?? 0, one ?? 0)}.`;
    })(),
    '',
    ...cpuTable(pipeline[0]),
    '![throughput and latency vs offered load](chart.svg)',
    '',
  ];
  mkdirSync(OUT, { recursive: true });
  writeFileSync(`${OUT}/report.md`, lines.join('\n'));
  process.stdout.write(`\n${lines.join('\n')}\n`);
}

await main();
