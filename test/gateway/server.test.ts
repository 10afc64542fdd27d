import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createAppsRepo } from '@s2s/store';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeIngest, exampleIosSession } from '../../services/gateway/test/harness.js';
import {
  createTestSchema,
  createTestTopics,
  type TestSchema,
  type TestTopics,
  testBrokers,
  testKafka,
  waitFor,
} from '../support/index.js';
import { freePort } from '../support/processes.js';
import { readTopic } from './kafka-helpers.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

describe('gateway process (src/server.ts)', () => {
  let topics: TestTopics;
  let schema: TestSchema;
  let child: ChildProcess | undefined;
  beforeAll(async () => {
    topics = await createTestTopics(testKafka(), 3);
    schema = await createTestSchema();
  });
  afterAll(async () => {
    if (child && child.exitCode === null) child.kill('SIGKILL');
    await topics?.cleanup();
    await schema?.cleanup();
  });

  it('starts, serves, and on SIGTERM finishes in-flight requests, drains the producer and exits 0', async () => {
    const { apiKey } = await createAppsRepo(schema.pool).upsert({ id: 'proc', singularSdkKey: 'k' });
    const port = await freePort();
    let stderr = '';
    // As `npm start` and docker-compose run it: one node process, so the SIGTERM below is what a
    // supervisor sends straight to the service's pid.
    child = spawn(process.execPath, ['--import', 'tsx', 'services/gateway/src/server.ts'], {
      cwd: ROOT,
      env: {
        ...process.env,
        PORT: String(port),
        KAFKA_BROKERS: testBrokers().join(','),
        TOPIC_PREFIX: topics.prefix,
        DATABASE_URL: schema.databaseUrl,
        DATABASE_SCHEMA: schema.schema,
        LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    child.stderr?.on('data', (d) => {
      stderr += String(d);
    });
    const exited = new Promise<number | null>((resolve) => child?.once('exit', (code) => resolve(code)));
    const base = `http://127.0.0.1:${port}`;
    await waitFor(async () => (await fetch(`${base}/readyz`)).status === 200, { timeoutMs: 30_000, what: 'readyz' });

    const send = (n: number) =>
      fetch(`${base}/v1/sessions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${apiKey}` },
        body: JSON.stringify(exampleIosSession(700 + n, 'proc')),
      }).then(
        async (r) => ({
          status: r.status,
          requestId: r.status === 202 ? ((await r.json()) as { requestId: string }).requestId : undefined,
        }),
        () => ({ status: 0, requestId: undefined }),
      );
    const first = await send(0);
    expect(first.status).toBe(202);
    const inFlight = Array.from({ length: 20 }, (_, i) => send(i + 1));
    child.kill('SIGTERM');
    const answers = [first, ...(await Promise.all(inFlight))];
    const code = await exited;
    expect(code, stderr).toBe(0);

    const accepted = answers.flatMap((a) => (a.requestId ? [a.requestId] : []));
    expect(accepted.length).toBeGreaterThanOrEqual(1);
    // Whatever was answered 202 is in Kafka (answers after the close began were refused, never lost).
    for (const a of answers) expect([202, 503, 0]).toContain(a.status);
    const read = await readTopic(testKafka(), topics.names.ingest, accepted.length);
    const inKafka = new Set(read.map((m) => decodeIngest(m.value).requestId));
    for (const id of accepted) expect(inKafka.has(id), id).toBe(true);
  });
});
