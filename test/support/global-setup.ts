/**
 * vitest global setup: resolves Kafka and Postgres once for the whole run and hands them to
 * every test file through `inject('kafkaBrokers')` / `inject('databaseUrl')`.
 */
import type { TestProject } from 'vitest/node';
import { resolveEnvironment } from './environment.js';
import './provided.js';

export default async function setup(project: TestProject) {
  const env = await resolveEnvironment();
  console.log(`test environment: kafka ${env.kafkaBrokers} (${env.source.kafka}), postgres ${env.source.postgres}`);
  project.provide('kafkaBrokers', env.kafkaBrokers);
  project.provide('databaseUrl', env.databaseUrl);
  project.provide('localBrokerPort', env.localBrokerPort ?? 0);
  return async () => {
    await env.stop();
  };
}
