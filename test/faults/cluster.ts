/**
 * The whole relay as processes, for the fault suite: the partner sandbox, one gateway on a fixed
 * port (so a restarted gateway is found where clients look), worker processes in one consumer group,
 * on a Kafka broker and topics of the suite's own and a Postgres schema of its own. Workers run under
 * a supervisor, as in production: one that exits by itself is started again (and counted).
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { createKafka, ensureTopics, type TopicNames, topicNames } from '@s2s/bus';
import { createAppsRepo } from '@s2s/store';
import type { Admin, Kafka } from 'kafkajs';
import { createTestSchema, type TestSchema, uniqueId, waitFor } from '../support/index.js';
import { freePort, type Sandbox, type ServiceProcess, startSandbox, startService } from '../support/processes.js';
import { FAST_WORKER_ENV } from '../support/worker-env.js';
import { type OwnBroker, startOwnBroker } from './broker.js';

const run = promisify(execFile);

export interface Secrets {
  apiKey: string;
  singularSdkKey: string;
  oathHmacKey: string;
}

export interface Cluster {
  broker: OwnBroker;
  kafka: Kafka;
  admin: Admin;
  topics: TopicNames;
  groupId: string;
  db: TestSchema;
  sandbox: Sandbox;
  appId: string;
  secrets: Secrets;
  gatewayUrl: string;
  gateway(): ServiceProcess;
  workers(): ServiceProcess[];
  /** Unexpected exits the supervisor answered with a restart. */
  restarts: { worker: number; gateway: number };
  startWorker(): Promise<ServiceProcess>;
  /** SIGKILL of the oldest worker, once it holds leases of calls in flight (or after 10 s). */
  killWorker(): Promise<string>;
  /** SIGTERM of the oldest worker (it leaves the group gracefully). */
  retireWorker(): Promise<void>;
  killGateway(): Promise<void>;
  startGateway(): Promise<void>;
  /** pg_terminate_backend on every connection of this cluster's services; returns how many. */
  cutPostgres(): Promise<number>;
  /** Output of every process this cluster ever started (for the secrets check). */
  outputs(): { name: string; text: string }[];
  stop(): Promise<void>;
}

export const WORKER_ENV = {
  ...FAST_WORKER_ENV,
  LEASE_MARGIN_MS: '500',
  DATABASE_POOL_MAX: '6',
  LANE_CONCURRENCY: '32',
  IN_DOUBT_POLICY: 'hold',
};

export async function startCluster(): Promise<Cluster> {
  const broker = await startOwnBroker();
  const kafka = createKafka({
    brokers: [broker.brokers],
    clientId: uniqueId('faults'),
    retry: { initialRetryTime: 200, retries: 8 },
  });
  const admin = kafka.admin();
  await admin.connect();
  const prefix = `${uniqueId('f')}.`;
  const topics = topicNames(prefix);
  await ensureTopics(admin, topics, { ingestPartitions: 12, replicationFactor: 1 });
  const db = await createTestSchema();
  const tag = randomBytes(6).toString('hex');
  const oathHmacKey = `hmac-faults-${tag}`;
  const singularSdkKey = `sdk-faults-${tag}`;
  const sandbox = await startSandbox({ SANDBOX_OATH_KEY: oathHmacKey });
  const appId = `faults-${tag}`;
  const { apiKey } = await createAppsRepo(db.pool).upsert({
    id: appId,
    singularSdkKey,
    oathDataProviderId: 'faults-dp',
    oathHmacKey,
    onsideEnabled: true,
    ddlEnabled: true,
  });
  const groupId = uniqueId('faults_workers');
  const base = {
    KAFKA_BROKERS: broker.brokers,
    TOPIC_PREFIX: prefix,
    DATABASE_URL: db.databaseUrl,
    DATABASE_SCHEMA: db.schema,
    LOG_LEVEL: 'info',
  };
  const gatewayPort = await freePort();
  const gatewayUrl = `http://127.0.0.1:${gatewayPort}`;
  const all: ServiceProcess[] = [sandbox.process];
  const workers = new Set<ServiceProcess>();
  const intentional = new WeakSet<ServiceProcess>();
  const restarts = { worker: 0, gateway: 0 };
  let closing = false;
  let gateway: ServiceProcess | undefined;
  const workerPrefix = uniqueId('fw');
  let workerSeq = 0;

  const startWorker = async (): Promise<ServiceProcess> => {
    const id = `${workerPrefix}-${++workerSeq}`;
    const opsPort = await freePort();
    const proc = await startService({
      name: `worker ${id}`,
      entry: 'services/worker/src/server.ts',
      env: {
        ...base,
        ...WORKER_ENV,
        WORKER_ID: id,
        WORKER_GROUP_ID: groupId,
        OPS_PORT: String(opsPort),
        OPS_HOST: '127.0.0.1',
        SINGULAR_BASE_URL: `${sandbox.url}/singular`,
        OATH_BASE_URL: `${sandbox.url}/oath`,
        ONSIDE_BASE_URL: `${sandbox.url}/onside`,
      },
    });
    all.push(proc);
    workers.add(proc);
    void proc.exited.then(() => {
      workers.delete(proc);
      if (closing || intentional.has(proc)) return;
      restarts.worker++;
      console.warn(`faults: ${proc.name} exited by itself; restarting it. Last output:\n${proc.output().slice(-2000)}`);
      void startWorker().catch((err) => console.error('faults: worker restart failed', err));
    });
    return proc;
  };

  const startGateway = async (): Promise<void> => {
    // A gateway restarted while Kafka or Postgres is away fails its start: try again until it serves.
    await waitFor(
      async () => {
        const proc = await startService({
          name: 'gateway',
          entry: 'services/gateway/src/server.ts',
          env: {
            ...base,
            PORT: String(gatewayPort),
            HOST: '127.0.0.1',
            PRODUCE_TIMEOUT_MS: '3000',
            RETRY_AFTER_SECONDS: '1',
            RATE_LIMIT_PER_SECOND: '1000000',
            SANDBOX_URL: 'off',
            WORKER_OPS_URL: 'off',
          },
          readyUrl: `${gatewayUrl}/healthz`,
          readyTimeoutMs: 40_000,
        }).catch((err: Error) => {
          console.warn(`faults: gateway start failed, retrying: ${err.message.slice(0, 300)}`);
          return undefined;
        });
        if (proc) {
          all.push(proc);
          gateway = proc;
          void proc.exited.then(() => {
            if (closing || intentional.has(proc)) return;
            restarts.gateway++;
            console.warn(`faults: gateway exited by itself; restarting. Last output:\n${proc.output().slice(-2000)}`);
            void startGateway();
          });
        }
        return proc !== undefined;
      },
      { timeoutMs: 120_000, intervalMs: 500, what: 'the gateway to start' },
    );
  };

  await Promise.all([startGateway(), startWorker(), startWorker()]);

  /** Pids of every process in the process groups of our live services (each service and any child it runs). */
  const ourPids = async (): Promise<Set<number>> => {
    const groups = new Set([...workers, gateway].flatMap((p) => (p?.child.pid ? [p.child.pid] : [])));
    const { stdout } = await run('ps', ['-eo', 'pid=,pgid=']);
    const pids = new Set<number>();
    for (const line of stdout.split('\n')) {
      const [pid, pgid] = line.trim().split(/\s+/).map(Number);
      if (pid && pgid && groups.has(pgid)) pids.add(pid);
    }
    return pids;
  };

  return {
    broker,
    kafka,
    admin,
    topics,
    groupId,
    db,
    sandbox,
    appId,
    secrets: { apiKey, singularSdkKey, oathHmacKey },
    gatewayUrl,
    gateway: () => gateway as ServiceProcess,
    workers: () => [...workers],
    restarts,
    startWorker,
    async killWorker() {
      const victim = [...workers][0];
      if (!victim) throw new Error('no worker to kill');
      const id = victim.name.replace('worker ', '');
      await waitFor(
        async () =>
          (await db.pool.query("SELECT 1 FROM ledger WHERE state = 'pending' AND lease_owner LIKE $1 LIMIT 1", [`${id}:%`]))
            .rowCount,
        { what: `${id} to hold a lease`, intervalMs: 5, timeoutMs: 10_000 },
      ).catch(() => {});
      intentional.add(victim);
      await victim.kill();
      return victim.name;
    },
    async retireWorker() {
      const leaving = [...workers][0];
      if (!leaving) return;
      intentional.add(leaving);
      await leaving.stop();
    },
    async killGateway() {
      if (!gateway) return;
      intentional.add(gateway);
      await gateway.kill();
    },
    startGateway,
    async cutPostgres() {
      // Only this cluster's connections: other test files share the database and run alongside.
      const pgPort = new URL(db.databaseUrl).port || '5432';
      const pids = await ourPids();
      const { stdout } = await run('ss', ['-tnpH', 'state', 'established', `( dport = :${pgPort} )`]);
      const ports: number[] = [];
      for (const line of stdout.split('\n')) {
        const pid = Number(/pid=(\d+)/.exec(line)?.[1]);
        const local = line.trim().split(/\s+/)[2] ?? '';
        if (pids.has(pid)) ports.push(Number(local.slice(local.lastIndexOf(':') + 1)));
      }
      const { rows } = await db.pool.query(
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE datname = current_database() AND application_name LIKE 's2s%' AND pid <> pg_backend_pid()
           AND client_port = ANY($1::int[])`,
        [ports],
      );
      return rows.length;
    },
    outputs: () => all.map((p) => ({ name: p.name, text: p.output() })),
    async stop() {
      closing = true;
      await Promise.all([...workers, gateway, sandbox.process].map((p) => p?.stop()));
      await admin.deleteTopics({ topics: Object.values(topics) }).catch(() => {});
      await admin.disconnect().catch(() => {});
      await db.cleanup().catch(() => {});
      await broker.destroy();
    },
  };
}
