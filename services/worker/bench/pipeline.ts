/**
 * Benchmark (not a test): the relay pipeline (produce to s2s.ingest → worker → Singular sandbox)
 * against a naive relay (a Fastify route calling the sandbox directly, no Kafka, no ledger), in the
 * same run, on the same machine. With BENCH_FLOOR=1 (the default) it also runs the durable floor
 * (bench/floor.ts: only Kafka, the ledger writes around the partner call, the reply and the commit),
 * the most any relay on this stack reaches here.
 *
 * Latency is from produce time (the record's `receivedAtMs`, which the Singular client sends as
 * `umilisec`) to the sandbox's receipt time; both clocks are this machine's. Each relay runs a burst
 * (as fast as it goes: records/s), then a steady 2,000 records/s (p50/p99) twice: devices flushing
 * their offline queues (each device's records back to back), then live journeys (devices interleaved).
 *
 *   KAFKA_BROKERS=127.0.0.1:9092 DATABASE_URL=postgres://postgres@127.0.0.1:5432/test \
 *     bash infra/bin/pnpm.sh --filter @s2s/worker bench:pipeline
 * Knobs: BENCH_RECORDS (burst size, 10000), BENCH_RATE (2000), BENCH_SECONDS (5), BENCH_WORKERS (1),
 * BENCH_JOURNEY_WINDOW (devices interleaved in the journeys shape, 200), BENCH_WARMUP_RECORDS (through
 * each relay at BENCH_RATE before measuring, 6000), BENCH_FLOOR (1; 0 leaves the floor out; `contract`
 * runs the contract floor instead: the durable floor plus the rows the worker's contract writes per
 * record, see bench/floor.ts), BENCH_ROUNDS (1: the bursts run once; N up to 20 runs N − 1 more
 * rounds of the naive, pipeline and floor bursts at the end, in alternating order, and prints each
 * round's ratios and their medians: single bursts swing a lot on a shared host).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createBatchingProducer, createKafka, ensureTopics, topicNames } from '@s2s/bus';
import {
  bodyHash,
  deviceKey,
  type EventRecord,
  encodeIngest,
  exampleAndroidSession,
  exampleEvent,
  INGEST_SCHEMA_FINGERPRINT,
  type IngestMessage,
  newRequestId,
  SCHEMA_HEADER,
  type SessionRecord,
} from '@s2s/contracts';
import { createSingularClient } from '@s2s/partners';
import { createAppsRepo, createPool, migrate } from '@s2s/store';
import Fastify from 'fastify';
import { Pool as HttpPool, request } from 'undici';
import { type CpuGroups, infrastructure, perUnit, readGroups } from '../../../test/bench/cpu.js';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const env = process.env;
const BROKERS = (env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');
const DATABASE_URL = env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const RECORDS = Number(env.BENCH_RECORDS ?? 10_000);
const RATE = Number(env.BENCH_RATE ?? 2_000);
const SECONDS = Number(env.BENCH_SECONDS ?? 5);
const WORKERS = Number(env.BENCH_WORKERS ?? 1);
const SANDBOX_PORT = Number(env.BENCH_SANDBOX_PORT ?? 4390);
const SANDBOX = `http://127.0.0.1:${SANDBOX_PORT}`;
const RUN = `bench_${Date.now().toString(36)}`;
const APP_ID = 'bench';
const SDK_KEY = 'bench-sdk-key';
const EVENTS_PER_DEVICE = 9;
const JOURNEY_WINDOW = Number(env.BENCH_JOURNEY_WINDOW ?? 200);
const WARMUP = Number(env.BENCH_WARMUP_RECORDS ?? 6_000);
const FLOOR_MODE = env.BENCH_FLOOR ?? '1';
if (!['0', '1', 'contract'].includes(FLOOR_MODE)) throw new Error(`BENCH_FLOOR must be 0, 1 or contract, not ${FLOOR_MODE}`);
const FLOOR = FLOOR_MODE !== '0';
const ROUNDS = Number(env.BENCH_ROUNDS ?? 1);
if (!Number.isInteger(ROUNDS) || ROUNDS < 1 || ROUNDS > 20)
  throw new Error(`BENCH_ROUNDS must be a whole number from 1 to 20, not ${env.BENCH_ROUNDS}`);
const FLOOR_NAME = FLOOR_MODE === 'contract' ? 'contract floor' : 'durable floor';

// The worker's node flags as `npm start` gives them (services/worker/package.json); the floor gets the
// same. BENCH_WORKER_NODE_ARGS adds to them, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof" to profile.
const WORKER_NODE_ARGS = ['--max-semi-space-size=64', ...(env.BENCH_WORKER_NODE_ARGS ?? '').split(' ').filter(Boolean)];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function spawnNode(cwd: string, script: string, extra: Record<string, string>, nodeArgs: string[] = []): ChildProcess {
  const child = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', script], {
    cwd: `${ROOT}${cwd}`,
    env: { ...env, ...extra },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  return child;
}

async function json<T>(method: string, path: string): Promise<T> {
  const r = await request(`${SANDBOX}${path}`, { method });
  const text = await r.body.text();
  return (text ? JSON.parse(text) : undefined) as T;
}

async function waitUntil(check: () => Promise<boolean>, what: string, timeoutMs = 300_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

const singularCount = async () =>
  (await json<{ partners: { singular: { requests: number } } }>('GET', '/_sandbox/stats')).partners.singular.requests;

/**
 * Device n's records in app order: a session, then events. Two shapes:
 * - `flush`: each device's records back to back (an app flushing its offline queue: the worst case
 *   for ordered lanes, whose records must go to the partner one after the other);
 * - `journeys`: devices interleaved in windows of JOURNEY_WINDOW, so a device's next record comes
 *   JOURNEY_WINDOW records after its previous one (at 2,000/s: 100 ms), as live devices send.
 */
function records(fromDevice: number, count: number, shape: 'flush' | 'journeys' = 'flush'): (SessionRecord | EventRecord)[] {
  const out: (SessionRecord | EventRecord)[] = [];
  const perDevice = EVENTS_PER_DEVICE + 1;
  const journey = (d: number) => {
    const s = exampleAndroidSession(d, APP_ID);
    return [s, ...Array.from({ length: EVENTS_PER_DEVICE }, (_, i) => exampleEvent(s, `ev_${i + 1}`))];
  };
  const window = shape === 'flush' ? 1 : JOURNEY_WINDOW;
  for (let d = fromDevice; out.length < count; d += window) {
    const group = Array.from({ length: window }, (_, k) => journey(d + k));
    for (let i = 0; i < perDevice; i++)
      for (const j of group) if (out.length < count) out.push(j[i] as SessionRecord | EventRecord);
  }
  return out;
}

/** Sends `list` at `rate` records/s (open loop, 10 ms ticks), or all at once when rate is 0. */
async function offer<T>(list: T[], rate: number, send: (item: T) => Promise<void>): Promise<number> {
  const started = Date.now();
  const inflight: Promise<void>[] = [];
  if (rate <= 0) {
    await Promise.all(list.map(send));
    return started;
  }
  const perTick = rate / 100;
  let sent = 0;
  for (let tick = 1; sent < list.length; tick++) {
    const until = Math.min(list.length, Math.round(tick * perTick));
    for (; sent < until; sent++) inflight.push(send(list[sent] as T));
    const next = started + tick * 10;
    if (next > Date.now()) await sleep(next - Date.now());
  }
  await Promise.all(inflight);
  return started;
}

interface Result {
  label: string;
  records: number;
  perSecond: number;
  p50: number;
  p99: number;
  /** CPU µs per record by process group (test/bench/cpu.ts), over the run. */
  cpuUs?: Record<string, number>;
}

/** Waits for `n` more Singular requests at the sandbox; reads their latencies from the request log. */
async function measure(label: string, n: number, startedAt: number, before: number): Promise<Result> {
  await waitUntil(async () => (await singularCount()) >= before + n, `${label}: ${n} requests at the sandbox`);
  const entries = await json<{ receivedAt: string; query: Record<string, string> }[]>(
    'GET',
    '/_sandbox/requests?partner=singular',
  );
  const mine = entries.slice(before);
  const lat = mine.map((e) => Date.parse(e.receivedAt) - Number(e.query.umilisec)).sort((a, b) => a - b);
  const last = Math.max(...mine.map((e) => Date.parse(e.receivedAt)));
  const q = (p: number) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] ?? Number.NaN;
  return { label, records: n, perSecond: Math.round((n * 1000) / Math.max(1, last - startedAt)), p50: q(0.5), p99: q(0.99) };
}

async function main(): Promise<void> {
  const children: ChildProcess[] = [];
  const stopAll = () => {
    for (const c of children) c.kill('SIGTERM');
  };
  process.once('SIGINT', () => {
    stopAll();
    process.exit(130);
  });
  try {
    children.push(
      spawnNode('services/partner-sandbox', 'src/server.ts', { SANDBOX_PORT: String(SANDBOX_PORT), LOG_LEVEL: 'warn' }),
    );
    await waitUntil(
      async () => (await request(`${SANDBOX}/healthz`).catch(() => undefined))?.statusCode === 200,
      'sandbox',
      30_000,
    );

    // Postgres schema and topics of this run only.
    await migrate({ databaseUrl: DATABASE_URL, schema: RUN });
    const pool = createPool({ databaseUrl: DATABASE_URL, schema: RUN, max: 2 });
    await createAppsRepo(pool).upsert({ id: APP_ID, singularSdkKey: SDK_KEY });
    const kafka = createKafka({ brokers: BROKERS, clientId: RUN });
    const admin = kafka.admin();
    await admin.connect();
    const topics = topicNames(`${RUN}.`);
    await ensureTopics(admin, topics, { ingestPartitions: 12, replicationFactor: 1 });

    // --- naive relay: HTTP in, Singular out, nothing else ---
    const singular = createSingularClient({ baseUrl: `${SANDBOX}/singular`, timeoutMs: 10_000 });
    const naive = Fastify({ logger: false });
    naive.post('/relay', async (req) => {
      const { record, receivedAtMs } = req.body as { record: SessionRecord | EventRecord; receivedAtMs: number };
      const app = { sdkKey: SDK_KEY, ddlEnabled: false };
      if ('name' in record) await singular.event(record, app, { receivedAtMs });
      else await singular.session(record, app, { install: true, receivedAtMs });
      return { ok: true };
    });
    await naive.listen({ port: 0, host: '127.0.0.1' });
    const address = naive.server.address();
    const naiveUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
    const client = new HttpPool(naiveUrl, { connections: 128 });
    const viaNaive = (r: SessionRecord | EventRecord) =>
      client
        .request({
          method: 'POST',
          path: '/relay',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ record: r, receivedAtMs: Date.now() }),
        })
        .then((res) => res.body.dump());

    // --- the pipeline: produce as the gateway does; workers consume ---
    const producer = createBatchingProducer(kafka);
    await producer.connect();
    const produceTo = (topic: string) => (r: SessionRecord | EventRecord) => {
      const requestId = newRequestId();
      const m = {
        requestId,
        idempotencyKey: requestId,
        bodyHash: bodyHash(r),
        appId: APP_ID,
        deviceKey: deviceKey(r) as string,
        receivedAtMs: Date.now(),
        kind: 'name' in r ? 'event' : 'session',
        record: r,
      } as IngestMessage;
      return producer.send(topic, {
        key: m.deviceKey,
        value: encodeIngest(m),
        headers: { [SCHEMA_HEADER]: INGEST_SCHEMA_FINGERPRINT },
      });
    };
    const viaKafka = produceTo(topics.ingest);
    // --- the durable floor: the same records on a topic of its own, read by bench/floor.ts ---
    const floorTopics = { ingest: `${RUN}.floor`, replies: `${RUN}.floor-replies` };
    const viaFloor = produceTo(floorTopics.ingest);
    for (let i = 1; i <= WORKERS; i++)
      children.push(
        spawnNode(
          'services/worker',
          'src/server.ts',
          {
            KAFKA_BROKERS: BROKERS.join(','),
            DATABASE_URL,
            DATABASE_SCHEMA: RUN,
            TOPIC_PREFIX: `${RUN}.`,
            WORKER_ID: `${RUN}-w${i}`,
            WORKER_GROUP_ID: `${RUN}-workers`,
            OPS_PORT: String(9490 + i),
            OPS_HOST: '127.0.0.1',
            LOG_LEVEL: 'warn',
            SINGULAR_BASE_URL: `${SANDBOX}/singular`,
          },
          WORKER_NODE_ARGS,
        ),
      );
    if (FLOOR) {
      await admin.createTopics({
        topics: Object.values(floorTopics).map((topic) => ({ topic, numPartitions: 12, replicationFactor: 1 })),
      });
      children.push(
        spawnNode(
          'services/worker',
          'bench/floor.ts',
          {
            KAFKA_BROKERS: BROKERS.join(','),
            DATABASE_URL,
            DATABASE_SCHEMA: RUN,
            TOPIC: floorTopics.ingest,
            REPLY_TOPIC: floorTopics.replies,
            GROUP_ID: `${RUN}-floor`,
            SINGULAR_BASE_URL: `${SANDBOX}/singular`,
            SDK_KEY,
            FLOOR_ROWS: FLOOR_MODE === 'contract' ? 'contract' : 'durable',
          },
          WORKER_NODE_ARGS,
        ),
      );
    }
    // Warm-up: the group forms and every path is compiled before measuring. A few hundred records
    // are not enough: V8 keeps optimising the worker's code for thousands more (in a profile of the
    // burst after a 200-record warm-up, a quarter of the worker's CPU went to its optimising compiler).
    let device = 1;
    const warm = records(device, WARMUP);
    device += Math.ceil(WARMUP / (EVENTS_PER_DEVICE + 1)) + 1;
    let before = await singularCount();
    await offer(warm, RATE, viaKafka);
    await offer(
      warm.map((r) => ({ ...r, appId: APP_ID })),
      RATE,
      viaNaive,
    );
    if (FLOOR) await offer(warm, RATE, viaFloor);
    await waitUntil(async () => (await singularCount()) >= before + (FLOOR ? 3 : 2) * WARMUP, 'warm-up');

    // Where the CPU goes, per record: each group's CPU time over a run (/proc), divided by its records.
    // "load + naive" is this process: the producer of the pipeline runs, and the naive relay itself.
    // "worker / floor": the worker processes and the floor's (each idles while the other runs).
    const cpuGroups: CpuGroups = {
      'worker / floor': () => children.slice(1).flatMap((c) => (c.pid === undefined ? [] : [c.pid])),
      ...infrastructure,
      sandbox: () => (children[0]?.pid === undefined ? [] : [children[0].pid]),
      'load + naive': () => [process.pid],
    };
    const results: Result[] = [];
    const run = async (
      label: string,
      n: number,
      rate: number,
      send: (r: SessionRecord | EventRecord) => Promise<void>,
      shape: 'flush' | 'journeys' = 'flush',
    ) => {
      const list = records(device, n, shape);
      device += Math.ceil(n / (EVENTS_PER_DEVICE + 1)) + JOURNEY_WINDOW + 1;
      await json('POST', '/_sandbox/reset');
      before = await singularCount();
      const cpuBefore = readGroups(cpuGroups);
      const started = await offer(list, rate, send);
      const result = await measure(label, n, started, before);
      const measured = { ...result, cpuUs: perUnit(cpuBefore, readGroups(cpuGroups), n) };
      results.push(measured);
      return measured;
    };
    await run('naive relay, burst', RECORDS, 0, viaNaive);
    await run('pipeline, burst', RECORDS, 0, viaKafka);
    await run(`naive relay, ${RATE}/s, offline flushes`, RATE * SECONDS, RATE, viaNaive);
    await run(`pipeline, ${RATE}/s, offline flushes`, RATE * SECONDS, RATE, viaKafka);
    await run(`naive relay, ${RATE}/s, live journeys`, RATE * SECONDS, RATE, viaNaive, 'journeys');
    await run(`pipeline, ${RATE}/s, live journeys`, RATE * SECONDS, RATE, viaKafka, 'journeys');
    if (FLOOR) {
      await run(`${FLOOR_NAME}, burst`, RECORDS, 0, viaFloor);
      await run(`${FLOOR_NAME}, ${RATE}/s, offline flushes`, RATE * SECONDS, RATE, viaFloor);
      await run(`${FLOOR_NAME}, ${RATE}/s, live journeys`, RATE * SECONDS, RATE, viaFloor, 'journeys');
    }

    // More rounds of the bursts, in alternating order (the host's speed drifts within a run). The
    // report (BENCH_JSON) keeps the main sequence only; the tables below print every run.
    const mainResults = [...results];
    const [nb, pb, , ps, , pj, fb, fs, fj] = mainResults;
    type Round = { naive: Result; pipeline: Result; floor: Result | undefined };
    const rounds: Round[] = nb && pb ? [{ naive: nb, pipeline: pb, floor: fb }] : [];
    for (let round = 2; round <= ROUNDS; round++) {
      const order: ['naive' | 'pipeline' | 'floor', string, (r: SessionRecord | EventRecord) => Promise<void>][] = [
        ['naive', 'naive relay', viaNaive],
        ['pipeline', 'pipeline', viaKafka],
        ...(FLOOR ? [['floor', FLOOR_NAME, viaFloor] as ['floor', string, typeof viaNaive]] : []),
      ];
      if (round % 2 === 0) order.reverse();
      const got: Partial<Round> = {};
      for (const [role, name, send] of order) {
        got[role] = await run(`${name}, burst, round ${round}`, RECORDS, 0, send);
      }
      if (got.naive && got.pipeline) rounds.push({ naive: got.naive, pipeline: got.pipeline, floor: got.floor });
      console.error(`bench:pipeline: burst round ${round} of ${ROUNDS} done`);
    }

    console.log(`\nrecords  records/s   p50 ms   p99 ms   run (${WORKERS} worker process(es), 12 partitions)`);
    for (const r of results)
      console.log(
        `${String(r.records).padStart(7)}  ${String(r.perSecond).padStart(9)}  ${String(r.p50).padStart(7)}  ${String(r.p99).padStart(7)}   ${r.label}`,
      );
    console.log(
      `\nCPU µs per record (user + system, from /proc)\n${['run'.padEnd(40), ...Object.keys(cpuGroups).map((g) => g.padStart(14)), 'total'.padStart(8)].join('')}`,
    );
    for (const r of results) {
      const cpu = r.cpuUs ?? {};
      const total = Object.values(cpu).reduce((a, b) => a + b, 0);
      console.log(
        [
          r.label.padEnd(40),
          ...Object.keys(cpuGroups).map((g) => String(cpu[g] ?? '').padStart(14)),
          String(total).padStart(8),
        ].join(''),
      );
    }
    if (nb && pb && ps && pj)
      console.log(
        `\nthroughput ratio pipeline/naive (burst): ${(pb.perSecond / nb.perSecond).toFixed(2)} (target ≥ 0.8); ` +
          `pipeline p99 at ${RATE}/s: ${pj.p99} ms with live journeys, ${ps.p99} ms with offline-queue flushes (target < 50 ms)`,
      );
    if (nb && pb && fb && fs && fj)
      console.log(
        `${FLOOR_NAME}/naive (burst): ${(fb.perSecond / nb.perSecond).toFixed(2)}, pipeline/floor ${(pb.perSecond / fb.perSecond).toFixed(2)}; ` +
          `floor p99 at ${RATE}/s: ${fj.p99} ms with live journeys, ${fs.p99} ms with offline-queue flushes`,
      );

    if (rounds.length > 1) {
      const median = (xs: number[]) => {
        const sorted = [...xs].sort((a, b) => a - b);
        const mid = Math.floor(sorted.length / 2);
        return sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
      };
      const summary = (label: string, xs: number[]) =>
        `${label} median ${median(xs).toFixed(2)} (${Math.min(...xs).toFixed(2)} to ${Math.max(...xs).toFixed(2)})`;
      const pipelineRatios = rounds.map((r) => r.pipeline.perSecond / r.naive.perSecond);
      const floorRatios = rounds.flatMap((r) => (r.floor ? [r.floor.perSecond / r.naive.perSecond] : []));
      const perFloor = rounds.flatMap((r) => (r.floor ? [r.pipeline.perSecond / r.floor.perSecond] : []));
      console.log(`\nburst rounds: ${rounds.length}`);
      rounds.forEach((r, i) => {
        const floor = r.floor ? `, ${FLOOR_NAME}/naive ${(r.floor.perSecond / r.naive.perSecond).toFixed(2)}` : '';
        console.log(`  round ${i + 1}: pipeline/naive ${(r.pipeline.perSecond / r.naive.perSecond).toFixed(2)}${floor}`);
      });
      console.log(
        [
          summary('pipeline/naive (burst)', pipelineRatios),
          ...(floorRatios.length > 0
            ? [summary(`${FLOOR_NAME}/naive`, floorRatios), summary(`pipeline/${FLOOR_NAME}`, perFloor)]
            : []),
        ].join('; '),
      );
    }

    // BENCH_JSON=<file>: the figures for the benchmark report (test/bench/report.ts).
    if (env.BENCH_JSON) writeFileSync(env.BENCH_JSON, JSON.stringify({ workers: WORKERS, rate: RATE, results: mainResults }));

    // Where the worker spent its Postgres time (group-commit batches).
    const metricsText = await (await request('http://127.0.0.1:9491/metrics')).body.text();
    for (const line of metricsText.split('\n'))
      if (/^s2s_worker_db_batch_(size|seconds)_(sum|count)/.test(line)) console.log(line.replace(/,?worker="[^"]*"/, ''));

    await producer.disconnect();
    await client.close();
    await naive.close();
    await singular.close();
    await admin
      .deleteTopics({ topics: [...Object.values(topics), ...(FLOOR ? Object.values(floorTopics) : [])] })
      .catch(() => {});
    await admin.disconnect();
    await pool.query(`DROP SCHEMA IF EXISTS "${RUN}" CASCADE`);
    await pool.end();
  } finally {
    stopAll();
  }
}

await main();
