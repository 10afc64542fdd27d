/**
 * A Kafka broker of the fault suite's own (infra/kafka/kafka.sh on free ports, data in a temp dir),
 * so that stopping and restarting it never touches the broker other test files share. Its data dir
 * survives a stop: topics, records and committed offsets are there again after the restart.
 * The script runs asynchronously: the load keeps going while the broker stops and starts.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KAFKA_SCRIPT } from '../support/environment.js';

export interface OwnBroker {
  port: number;
  brokers: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Stops the broker and deletes its data. */
  destroy(): Promise<void>;
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/** A port p with p and p+1 (the controller's) free a moment ago. */
async function freePortPair(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const p = 20_000 + Math.floor(Math.random() * 30_000);
    if ((await portFree(p)) && (await portFree(p + 1))) return p;
  }
  throw new Error('no free port pair for the fault suite broker');
}

function runScript(command: 'start' | 'stop', port: number, dataDir: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let out = '';
    const child = spawn('bash', [KAFKA_SCRIPT, command], {
      env: { ...process.env, KAFKA_PORT: String(port), KAFKA_DATA_DIR: dataDir, KAFKA_HEAP: '384m' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.on('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`kafka.sh ${command} (port ${port}) exited ${code}:\n${out}`)),
    );
  });
}

export async function startOwnBroker(): Promise<OwnBroker> {
  const port = await freePortPair();
  const dataDir = await mkdtemp(join(tmpdir(), 's2s-faults-kafka-'));
  let up = false;
  const broker: OwnBroker = {
    port,
    brokers: `127.0.0.1:${port}`,
    async start() {
      await runScript('start', port, dataDir);
      up = true;
    },
    async stop() {
      up = false;
      await runScript('stop', port, dataDir);
    },
    async destroy() {
      if (up) await broker.stop().catch(() => {});
      else await runScript('stop', port, dataDir).catch(() => {});
      await rm(dataDir, { recursive: true, force: true });
    },
  };
  await broker.start();
  return broker;
}
