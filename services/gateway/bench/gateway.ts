/**
 * Gateway throughput against a bare Fastify route, in one run (`pnpm bench:gateway`).
 *
 * The gateway runs as a separate process (src/server.ts) on the real Kafka broker and Postgres, with
 * a fresh topic prefix and schema; the baseline (bench/bare.ts) parses the same bodies and answers
 * 202. autocannon drives each for BENCH_DURATION_S seconds (10) over BENCH_CONNECTIONS (50)
 * connections, on loopback only, with realistic records from the contracts' examples: every request
 * a new device (iOS and Android sessions, events), so every gateway request is a new intake row and a
 * new Kafka record. Prints req/s, p50/p99 for both, their ratio (target ≥ 0.5), the Postgres claim
 * round trip and produce latency from the gateway's own metrics, and checks that every 2xx is in Kafka.
 *
 * Fairness: both servers are plain `node --import tsx` processes (no wrapper), each gets the same
 * BENCH_WARMUP_S (2) of unmeasured load first (JIT, pools, caches), and the CPU each server process
 * used per answered request (/proc, user + system) is printed: on a shared 2-core machine req/s moves
 * with whatever else runs, CPU per request much less. autocannon runs in this process, which does
 * nothing else while it drives the load.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { createKafka, ensureTopics, topicNames } from '@s2s/bus';
import { exampleAndroidSession, exampleEvent, exampleIosSession } from '@s2s/contracts';
import { createAppsRepo, createPool, migrate } from '@s2s/store';
import autocannon from 'autocannon';
import { cpuSeconds, infrastructure, perUnit, readGroups } from '../../../test/bench/cpu.js';

const env = process.env;
const DURATION = Number(env.BENCH_DURATION_S ?? 10);
const CONNECTIONS = Number(env.BENCH_CONNECTIONS ?? 50);
const WARMUP = Number(env.BENCH_WARMUP_S ?? 2);
/** Requests per second for the gateway run (unset: as fast as it goes). At a fixed rate the batches
 * (Postgres claims, Kafka requests) have the same sizes in every run, so CPU per request compares
 * two versions of the code directly, whatever else the machine does. */
const RATE = env.BENCH_RATE ? Number(env.BENCH_RATE) : undefined;
const BROKERS = env.KAFKA_BROKERS ?? '127.0.0.1:9092';
const DATABASE_URL = env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const TSX_LOADER = new URL('../../../node_modules/tsx/dist/loader.mjs', import.meta.url).href;
const HERE = fileURLToPath(new URL('..', import.meta.url));

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function waitReady(url: string, child: ChildProcess, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${url}: the process exited with ${child.exitCode}`);
    try {
      if ((await fetch(url)).status < 500) return;
    } catch {}
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${url} not ready within ${timeoutMs} ms`);
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  await exited;
  clearTimeout(timer);
}

/** Distinct realistic records: a new device per request (warm-up included), sessions and events of both platforms. */
function bodies(appId: string) {
  let n = 0;
  return () => {
    n++;
    const device = 100_000 + n;
    const session = n % 2 ? exampleIosSession(device, appId) : exampleAndroidSession(device, appId);
    return n % 4 < 2
      ? { path: '/v1/sessions', body: JSON.stringify(session) }
      : { path: '/v1/events', body: JSON.stringify(exampleEvent(session)) };
  };
}

const next = bodies('bench');

function drive(port: number, apiKey: string, duration: number, rate?: number): Promise<autocannon.Result> {
  return autocannon({
    url: `http://127.0.0.1:${port}`,
    connections: CONNECTIONS,
    duration,
    ...(rate ? { overallRate: rate } : {}),
    requests: [
      {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${apiKey}` },
        setupRequest: (req) => {
          const { path, body } = next();
          return { ...req, path, body };
        },
      },
    ],
  });
}

async function load(name: string, port: number, apiKey: string, server: ChildProcess, rate?: number): Promise<autocannon.Result> {
  if (WARMUP > 0) await drive(port, apiKey, WARMUP, rate);
  const cpuBefore = cpuSeconds(server.pid);
  const infraBefore = readGroups(infrastructure);
  const result = await drive(port, apiKey, DURATION, rate);
  const cpuAfter = cpuSeconds(server.pid);
  const infraAfter = readGroups(infrastructure);
  const answered = result['2xx'] + result.non2xx;
  const perReq = (seconds: number) => ((seconds / answered) * 1e6).toFixed(0);
  let cpu = '';
  if (cpuBefore && cpuAfter && answered > 0) {
    const user = cpuAfter.user - cpuBefore.user;
    const system = cpuAfter.system - cpuBefore.system;
    cpu = `   cpu ${perReq(user + system)} µs/req (user ${perReq(user)}, sys ${perReq(system)}; ${(((user + system) / DURATION) * 100).toFixed(0)} % of a core)`;
    // What the gateway's requests cost the broker and Postgres besides (both ~0 for the bare route).
    const infra = perUnit(infraBefore, infraAfter, answered);
    cpu += `   postgres ${infra.postgres} µs/req, kafka ${infra.kafka} µs/req`;
  }
  console.log(
    `${name.padEnd(8)} ${result.requests.average.toFixed(0).padStart(7)} req/s   p50 ${result.latency.p50} ms   p99 ${result.latency.p99} ms${cpu}   ` +
      `2xx ${result['2xx']}  non-2xx ${result.non2xx}  errors ${result.errors}  timeouts ${result.timeouts}`,
  );
  return result;
}

/** Mean of a Prometheus histogram from its _sum and _count lines. */
function mean(metrics: string, name: string): string {
  const sum = Number(new RegExp(`^${name}_sum (\\S+)$`, 'm').exec(metrics)?.[1]);
  const count = Number(new RegExp(`^${name}_count (\\S+)$`, 'm').exec(metrics)?.[1]);
  return count ? `${((sum / count) * 1000).toFixed(2)} ms over ${count}` : 'n/a';
}

const id = randomBytes(3).toString('hex');
const prefix = `bench.${id}.`;
const schema = `bench_${id}`;
const names = topicNames(prefix);
const kafka = createKafka({ brokers: BROKERS.split(','), clientId: 'bench' });
const admin = kafka.admin();
const children: ChildProcess[] = [];
let pool: ReturnType<typeof createPool> | undefined;

try {
  await migrate({ databaseUrl: DATABASE_URL, schema });
  pool = createPool({ databaseUrl: DATABASE_URL, schema, max: 2 });
  await admin.connect();
  await ensureTopics(admin, names, { ingestPartitions: 12, replicationFactor: 1 });
  const { apiKey } = await createAppsRepo(pool).upsert({ id: 'bench', singularSdkKey: 'bench-sdk-key' });

  const [barePort, floorPort, gatewayPort] = [await freePort(), await freePort(), await freePort()];
  const bare = spawn(process.execPath, ['--import', TSX_LOADER, 'bench/bare.ts'], {
    cwd: HERE,
    env: { ...env, PORT: String(barePort) },
    stdio: 'inherit',
  });
  children.push(bare);
  // The durable floor (bench/floor.ts) produces to a topic of its own, so the gateway's count below stays exact.
  const floorTopic = `${prefix}floor`;
  await admin.createTopics({ topics: [{ topic: floorTopic, numPartitions: 12, replicationFactor: 1 }] });
  const floor = spawn(process.execPath, ['--import', TSX_LOADER, 'bench/floor.ts'], {
    cwd: HERE,
    env: { ...env, PORT: String(floorPort), DATABASE_URL, DATABASE_SCHEMA: schema, KAFKA_BROKERS: BROKERS, TOPIC: floorTopic },
    stdio: 'inherit',
  });
  children.push(floor);
  const { ADMIN_KEY: _noOps, ...inherited } = env;
  // BENCH_PROFILE=1: a V8 CPU profile of the gateway in bench/out/ (open it in Chrome DevTools).
  const profile = env.BENCH_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${HERE}bench/out`] : [];
  const gateway = spawn(process.execPath, [...profile, '--import', TSX_LOADER, 'src/server.ts'], {
    cwd: HERE,
    env: {
      ...inherited,
      PORT: String(gatewayPort),
      HOST: '127.0.0.1',
      KAFKA_BROKERS: BROKERS,
      DATABASE_URL,
      DATABASE_SCHEMA: schema,
      TOPIC_PREFIX: prefix,
      RATE_LIMIT_PER_SECOND: '1000000',
      LOG_LEVEL: env.LOG_LEVEL ?? 'info',
    },
    // One log line per request is part of the cost measured; it goes to /dev/null.
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  children.push(gateway);
  await waitReady(`http://127.0.0.1:${barePort}/`, bare);
  await waitReady(`http://127.0.0.1:${floorPort}/`, floor);
  await waitReady(`http://127.0.0.1:${gatewayPort}/readyz`, gateway);

  console.log(
    `gateway benchmark: ${DURATION} s each after ${WARMUP} s of warm-up, ${CONNECTIONS} connections, loopback, kafka ${BROKERS}`,
  );
  // With BENCH_RATE both servers get the same offered load (the report's load sweep).
  const b = await load('bare', barePort, apiKey, bare, RATE);
  const f = await load('floor', floorPort, apiKey, floor, RATE);
  await stop(floor);
  const g = await load('gateway', gatewayPort, apiKey, gateway, RATE);
  if (RATE) console.log(`(all driven at a fixed ${RATE} req/s: compare latency and cpu µs/req)`);
  const ratio = g.requests.average / b.requests.average;
  console.log(`ratio    ${ratio.toFixed(2)} (gateway / bare; target ≥ 0.50)`);
  console.log(
    `floor    ${(f.requests.average / b.requests.average).toFixed(2)} (floor / bare: the most a gateway that claims in Postgres and waits for Kafka's ack reaches here); gateway / floor ${(g.requests.average / f.requests.average).toFixed(2)}`,
  );

  const metrics = await (await fetch(`http://127.0.0.1:${gatewayPort}/metrics`)).text();
  console.log(`postgres claim round trip (batched): mean ${mean(metrics, 'gateway_intake_claim_duration_seconds')} batches`);
  console.log(`kafka produce until ack:             mean ${mean(metrics, 'gateway_produce_duration_seconds')} records`);
  await stop(gateway);
  const offsets = await admin.fetchTopicOffsets(names.ingest);
  const inKafka = offsets.reduce((n, o) => n + Number(o.high), 0);
  console.log(`records in s2s.ingest: ${inKafka} for ${g['2xx']} 2xx answers${inKafka >= g['2xx'] ? '' : '  ← MISSING RECORDS'}`);
  if (inKafka < g['2xx'] || g.non2xx > 0) process.exitCode = 1;
  // BENCH_JSON=<file>: the figures for the benchmark report (test/bench/report.ts).
  if (env.BENCH_JSON) {
    const figures = (r: autocannon.Result) => ({
      perSecond: r.requests.average,
      p50Ms: r.latency.p50,
      p99Ms: r.latency.p99,
      ok: r['2xx'],
      failed: r.non2xx + r.errors,
    });
    writeFileSync(
      env.BENCH_JSON,
      JSON.stringify({ offered: RATE ?? 0, bare: figures(b), floor: figures(f), gateway: figures(g), inKafka }),
    );
  }
} finally {
  for (const c of children) await stop(c);
  await admin.deleteTopics({ topics: [...Object.values(names), `${prefix}floor`] }).catch(() => {});
  await admin.disconnect();
  await pool?.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await pool?.end();
}
