/**
 * Where the test suite finds Kafka and Postgres, decided once per run (see README "Tests"):
 *   1. KAFKA_BROKERS / DATABASE_URL when set: use them as they are;
 *   2. otherwise, when a Docker engine answers: start containers with testcontainers;
 *   3. otherwise: start the project's own broker from infra/kafka (and use the local Postgres).
 * Whatever this module starts, `stop()` stops; nothing started elsewhere is touched.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export interface TestEnvironment {
  kafkaBrokers: string;
  databaseUrl: string;
  /** How each was obtained, for the run's first log line. */
  source: {
    kafka: 'env' | 'testcontainers' | 'local-broker';
    postgres: 'env' | 'testcontainers' | 'local';
  };
  /** Port of the broker started from infra/kafka, when that is where Kafka came from. */
  localBrokerPort?: number;
  stop(): Promise<void>;
}

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const KAFKA_SCRIPT = `${ROOT}infra/kafka/kafka.sh`;
const LOCAL_POSTGRES = 'postgres://postgres@127.0.0.1:5432/test';

/** True when a Docker engine (not just the client) answers. */
export async function dockerAvailable(): Promise<boolean> {
  try {
    const { getContainerRuntimeClient } = await import('testcontainers');
    await getContainerRuntimeClient();
    return true;
  } catch {
    return false;
  }
}

export function runKafkaScript(command: 'start' | 'stop' | 'status', port: number): void {
  const r = spawnSync('bash', [KAFKA_SCRIPT, command], {
    env: { ...process.env, KAFKA_PORT: String(port) },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  if (r.status !== 0) throw new Error(`infra/kafka/kafka.sh ${command} failed (exit ${r.status})`);
}

export async function resolveEnvironment(env: NodeJS.ProcessEnv = process.env): Promise<TestEnvironment> {
  const stops: Array<() => Promise<void>> = [];
  let kafkaBrokers = env.KAFKA_BROKERS;
  let databaseUrl = env.DATABASE_URL;
  const source: TestEnvironment['source'] = { kafka: 'env', postgres: 'env' };
  let localBrokerPort: number | undefined;

  const docker = (!kafkaBrokers || !databaseUrl) && env.S2S_TEST_NO_DOCKER !== 'true' ? await dockerAvailable() : false;

  if (!kafkaBrokers) {
    if (docker) {
      const { KafkaContainer } = await import('@testcontainers/kafka');
      // Confluent's image 8.1 is Apache Kafka 4.1 (the version infra/kafka runs); the module starts it in KRaft mode.
      const kafka = await new KafkaContainer('confluentinc/cp-kafka:8.1.0').start();
      kafkaBrokers = `${kafka.getHost()}:${kafka.getMappedPort(9093)}`;
      stops.push(async () => void (await kafka.stop()));
      source.kafka = 'testcontainers';
    } else {
      // A port of its own, so that a broker left by `npm start` (9092) is never reused or stopped.
      localBrokerPort = Number(env.TEST_KAFKA_PORT ?? 19092);
      runKafkaScript('start', localBrokerPort);
      kafkaBrokers = `127.0.0.1:${localBrokerPort}`;
      const port = localBrokerPort;
      if (env.S2S_TEST_KEEP_BROKER !== 'true') stops.push(async () => runKafkaScript('stop', port));
      source.kafka = 'local-broker';
    }
  }
  if (!databaseUrl) {
    if (docker) {
      const { PostgreSqlContainer } = await import('@testcontainers/postgresql');
      const pg = await new PostgreSqlContainer('postgres:16-alpine').start();
      databaseUrl = pg.getConnectionUri();
      stops.push(async () => void (await pg.stop()));
      source.postgres = 'testcontainers';
    } else {
      databaseUrl = LOCAL_POSTGRES;
      source.postgres = 'local';
    }
  }
  const result: TestEnvironment = {
    kafkaBrokers,
    databaseUrl,
    source,
    async stop() {
      for (const stop of stops.reverse()) await stop();
    },
  };
  if (localBrokerPort !== undefined) result.localBrokerPort = localBrokerPort;
  return result;
}
