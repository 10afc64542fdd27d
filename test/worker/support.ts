/**
 * What the worker tests share: a partner sandbox on a free port, topics and a Postgres schema of the
 * test's own, an app with all three partners, a producer of s2s.ingest messages as the gateway
 * writes them, and workers built in-process (or spawned: see `spawnWorker`).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createBatchingProducer } from '@s2s/bus';
import {
  bodyHash,
  deviceKey,
  type EventRecord,
  encodeIngest,
  INGEST_SCHEMA_FINGERPRINT,
  type IngestMessage,
  newRequestId,
  SCHEMA_HEADER,
  type SessionRecord,
} from '@s2s/contracts';
import { createLogger } from '@s2s/logging';
import { createAppsRepo } from '@s2s/store';
import { buildApp } from '../../services/partner-sandbox/src/app.js';
import { loadSandboxConfig } from '../../services/partner-sandbox/src/config.js';
import type { RequestLogEntry } from '../../services/partner-sandbox/src/request-log.js';
import { loadWorkerConfig, type WorkerEnv } from '../../services/worker/src/config.js';
import { createWorker, type Worker, type WorkerOverrides } from '../../services/worker/src/worker.js';
import {
  createTestSchema,
  createTestTopics,
  type TestSchema,
  type TestTopics,
  testBrokers,
  testKafka,
  uniqueId,
} from '../support/index.js';
import { FAST_WORKER_ENV } from '../support/worker-env.js';

export const APP_ID = 'wapp';
export const SANDBOX_OATH_KEY = 'sandbox-oath-key';
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

type SandboxApp = Awaited<ReturnType<typeof buildApp>>;

export interface Sandbox {
  app: SandboxApp;
  url: string;
  requests(q?: { partner?: string; device?: string }): Promise<RequestLogEntry[]>;
  fault(rule: Record<string, unknown>): Promise<void>;
  clearFaults(): Promise<void>;
  close(): Promise<void>;
}

export async function startSandbox(): Promise<Sandbox> {
  const app = await buildApp({ config: loadSandboxConfig({ LOG_LEVEL: 'silent', SANDBOX_OATH_KEY }) });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address();
  const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  return {
    app,
    url,
    async requests(q = {}) {
      const params = new URLSearchParams(Object.entries(q).filter(([, v]) => v !== undefined) as [string, string][]);
      const r = await app.inject({ method: 'GET', url: `/_sandbox/requests?${params}` });
      return r.json() as RequestLogEntry[];
    },
    async fault(rule) {
      const r = await app.inject({ method: 'POST', url: '/_sandbox/faults', payload: rule });
      if (r.statusCode >= 300) throw new Error(`fault rejected: ${r.body}`);
    },
    async clearFaults() {
      await app.inject({ method: 'DELETE', url: '/_sandbox/faults' });
    },
    close: () => app.close(),
  };
}

export interface Harness {
  topics: TestTopics;
  db: TestSchema;
  sandbox: Sandbox;
  groupId: string;
  /** Worker environment for this harness (as process.env strings). */
  env(overrides?: Record<string, string>): Record<string, string>;
  produce(messages: IngestMessage[]): Promise<void>;
  startWorker(overrides?: Record<string, string>, deps?: WorkerOverrides): Promise<Worker>;
  cleanup(): Promise<void>;
}

export async function createHarness(): Promise<Harness> {
  const [topics, db, sandbox] = await Promise.all([createTestTopics(), createTestSchema(), startSandbox()]);
  await createAppsRepo(db.pool).upsert({
    id: APP_ID,
    singularSdkKey: 'sdk-key-worker-test',
    oathDataProviderId: 'acme',
    oathHmacKey: SANDBOX_OATH_KEY,
    onsideEnabled: true,
    ddlEnabled: true,
  });
  const groupId = uniqueId('workers');
  const kafka = testKafka();
  const producer = createBatchingProducer(kafka);
  await producer.connect();
  const workers: Worker[] = [];
  const env = (overrides: Record<string, string> = {}) => ({
    KAFKA_BROKERS: testBrokers().join(','),
    TOPIC_PREFIX: topics.prefix,
    DATABASE_URL: db.databaseUrl,
    DATABASE_SCHEMA: db.schema,
    LOG_LEVEL: process.env.TEST_WORKER_LOG ?? 'silent',
    WORKER_ID: uniqueId('w'),
    WORKER_GROUP_ID: groupId,
    OPS_PORT: '0',
    OPS_HOST: '127.0.0.1',
    SINGULAR_BASE_URL: `${sandbox.url}/singular`,
    OATH_BASE_URL: `${sandbox.url}/oath`,
    ONSIDE_BASE_URL: `${sandbox.url}/onside`,
    ...FAST_WORKER_ENV,
    // Generous against a loaded CI machine: a live owner's answer must be recorded within the lease.
    LEASE_MARGIN_MS: '3000',
    DATABASE_POOL_MAX: '8',
    ...overrides,
  });
  return {
    topics,
    db,
    sandbox,
    groupId,
    env,
    async produce(messages) {
      await Promise.all(
        messages.map((m) =>
          producer.send(topics.names.ingest, {
            key: m.deviceKey,
            value: encodeIngest(m),
            headers: { [SCHEMA_HEADER]: INGEST_SCHEMA_FINGERPRINT },
          }),
        ),
      );
    },
    async startWorker(overrides = {}, deps = {}) {
      const config: WorkerEnv = loadWorkerConfig(env(overrides));
      const logger = createLogger({ name: 'worker', level: config.LOG_LEVEL });
      const worker = createWorker(config, logger, {
        onFatal: (reason) => {
          throw new Error(`worker fatal: ${reason}`);
        },
        ...deps,
      });
      await worker.start();
      workers.push(worker);
      return worker;
    },
    async cleanup() {
      await Promise.all(workers.map((w) => w.stop(2_000).catch(() => {})));
      await producer.disconnect();
      await sandbox.close();
      await Promise.all([topics.cleanup(), db.cleanup()]);
    },
  };
}

/** An s2s.ingest message as the gateway writes it. */
export function ingest(
  record: SessionRecord | EventRecord,
  o: { idemKey?: string; requestId?: string; receivedAtMs?: number } = {},
): IngestMessage {
  const kind = 'name' in record ? 'event' : 'session';
  const requestId = o.requestId ?? newRequestId();
  const key = deviceKey(record);
  if (!key) throw new Error('record has no device key');
  return {
    requestId,
    idempotencyKey: o.idemKey ?? record.eventId ?? requestId,
    bodyHash: bodyHash(record),
    appId: record.appId,
    deviceKey: key,
    receivedAtMs: o.receivedAtMs ?? Date.now(),
    kind,
    record,
  } as IngestMessage;
}

/** Singular requests in arrival order, as `launch` or the event name. */
export function singularSequence(entries: RequestLogEntry[]): string[] {
  return entries.filter((e) => e.partner === 'singular').map((e) => (e.path.endsWith('/launch') ? 'launch' : (e.query.n ?? '?')));
}

/** Runs services/worker/src/server.ts in a child process as `npm start` does: one node process, tsx as its loader. */
export function spawnWorker(env: Record<string, string>): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    cwd: `${ROOT}services/worker`,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

export interface WorkerProcess {
  proc: ChildProcess;
  id: string;
  /** The last lines it wrote (for a failing test's message). */
  output: string[];
  exited: Promise<number | null>;
}

/** A worker process of this harness (server.ts under tsx), with its last output kept. */
export function startWorkerProcess(h: Harness, id: string, env: Record<string, string> = {}): WorkerProcess {
  const proc = spawnWorker(h.env({ WORKER_ID: id, LOG_LEVEL: 'warn', DATABASE_POOL_MAX: '6', ...env }));
  const output: string[] = [];
  const keep = (b: Buffer) => {
    output.push(...b.toString().split('\n').filter(Boolean));
    output.splice(0, Math.max(0, output.length - 30));
  };
  proc.stderr?.on('data', keep);
  proc.stdout?.on('data', keep);
  const exited = new Promise<number | null>((resolve) =>
    proc.on('exit', (code, signal) => {
      // Kept with the output, so that a test expecting a clean exit says what ended the process.
      if (signal) output.push(`(ended by ${signal})`);
      resolve(code);
    }),
  );
  return { proc, id, output, exited };
}

/** Per device, the Singular calls in arrival order (`launch` or the event name), a repeat right after its original folded. */
export function singularByDevice(entries: RequestLogEntry[]): Map<string, string[]> {
  const byDevice = new Map<string, string[]>();
  for (const e of entries.filter((c) => c.partner === 'singular')) {
    const list = byDevice.get(e.deviceKey ?? '?') ?? [];
    const name = e.path.endsWith('/launch') ? 'launch' : (e.query.n ?? '?');
    if (list.at(-1) !== name) list.push(name);
    byDevice.set(e.deviceKey ?? '?', list);
  }
  return byDevice;
}
