/**
 * The local supervisor behind `npm start`: starts the Kafka broker (infra/kafka), then every service
 * that exists, each as a child process with its own environment; prints where things listen;
 * restarts a service that exits on its own (a worker's liveness check exits it on purpose); and on
 * Ctrl-C (SIGINT) or SIGTERM stops every child and then the broker it started, leaving no process.
 *
 * Environment: KAFKA_PORT (9092; ignored when KAFKA_BROKERS is set), DATABASE_URL, DATABASE_SCHEMA,
 * PORT (gateway, 8080), SANDBOX_PORT (4010), WORKERS (2), WORKER_OPS_PORT (9464, then +1 per worker),
 * DEMO_API_KEY, ADMIN_KEY.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const tsx = `${root}node_modules/.bin/tsx`;
const env = process.env;
const kafkaPort = Number(env.KAFKA_PORT ?? 9092);
const ownBroker = !env.KAFKA_BROKERS;
const brokers = env.KAFKA_BROKERS ?? `127.0.0.1:${kafkaPort}`;
const sandboxPort = Number(env.SANDBOX_PORT ?? 4010);
const gatewayPort = Number(env.PORT ?? 8080);
const workers = Number(env.WORKERS ?? 2);
const opsPortBase = Number(env.WORKER_OPS_PORT ?? 9464);
const sandboxUrl = `http://127.0.0.1:${sandboxPort}`;

const shared: NodeJS.ProcessEnv = {
  ...env,
  KAFKA_BROKERS: brokers,
  SINGULAR_BASE_URL: env.SINGULAR_BASE_URL ?? `${sandboxUrl}/singular`,
  OATH_BASE_URL: env.OATH_BASE_URL ?? `${sandboxUrl}/oath`,
  ONSIDE_BASE_URL: env.ONSIDE_BASE_URL ?? `${sandboxUrl}/onside`,
};

interface Service {
  name: string;
  dir: string;
  entry: string;
  /** Node's own flags, before the loader. */
  nodeArgs: string[];
  env: NodeJS.ProcessEnv;
  url?: string;
  child?: ChildProcess;
  restarts: number;
}

const services: Service[] = [];
const add = (name: string, dir: string, extra: NodeJS.ProcessEnv, url?: string, nodeArgs: string[] = []) => {
  const entry = `${root}${dir}/src/server.ts`;
  if (!existsSync(entry)) return;
  const s: Service = { name, dir, entry, nodeArgs, env: { ...shared, ...extra }, restarts: 0 };
  if (url) s.url = url;
  services.push(s);
};
add('sandbox', 'services/partner-sandbox', { SANDBOX_PORT: String(sandboxPort) }, sandboxUrl);
add(
  'gateway',
  'services/gateway',
  { PORT: String(gatewayPort), SANDBOX_URL: sandboxUrl, WORKER_OPS_URL: `http://127.0.0.1:${opsPortBase}` },
  `http://127.0.0.1:${gatewayPort}`,
);
for (let i = 1; i <= workers; i++) {
  add(
    `worker-${i}`,
    'services/worker',
    { WORKER_ID: `worker-${i}`, OPS_PORT: String(opsPortBase + i - 1) },
    `http://127.0.0.1:${opsPortBase + i - 1}/metrics`,
    // A larger young generation: the worker's garbage collection costs less (services/worker/README.md).
    ['--max-semi-space-size=64'],
  );
}

let stopping = false;
const say = (line: string) => process.stdout.write(`[s2s-relay] ${line}\n`);

function prefixLines(name: string, stream: NodeJS.ReadableStream | null, out: NodeJS.WriteStream) {
  let buffered = '';
  stream?.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    const lines = buffered.split('\n');
    buffered = lines.pop() ?? '';
    for (const line of lines) out.write(`${name.padEnd(9)}| ${line}\n`);
  });
}

function launch(s: Service) {
  // One node process per service, with tsx as its loader: a signal reaches the service's own handler
  // at once (the tsx CLI would relay it to a second process, and SIGKILL that process when it is slow
  // to acknowledge). detached: each service leads its own process group.
  const child = spawn(process.execPath, [...s.nodeArgs, '--import', 'tsx', s.entry], {
    cwd: `${root}${s.dir}`,
    env: s.env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  s.child = child;
  prefixLines(s.name, child.stdout, process.stdout);
  prefixLines(s.name, child.stderr, process.stderr);
  child.on('exit', (code, signal) => {
    if (stopping) return;
    s.restarts++;
    const delay = Math.min(30_000, 500 * 2 ** Math.min(s.restarts, 6));
    say(`${s.name} exited (${signal ?? `code ${code}`}); restarting in ${delay} ms`);
    setTimeout(() => !stopping && launch(s), delay).unref();
  });
}

function signalGroup(child: ChildProcess | undefined, signal: NodeJS.Signals) {
  if (!child?.pid || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
}

async function stopAll(code: number) {
  if (stopping) return;
  stopping = true;
  say('stopping...');
  for (const s of [...services].reverse()) signalGroup(s.child, 'SIGTERM');
  const deadline = Date.now() + 15_000;
  while (services.some((s) => s.child && s.child.exitCode === null && s.child.signalCode === null) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
  }
  for (const s of services) signalGroup(s.child, 'SIGKILL');
  if (ownBroker)
    spawnSync('bash', [`${root}infra/kafka/kafka.sh`, 'stop'], {
      env: { ...env, KAFKA_PORT: String(kafkaPort) },
      stdio: 'inherit',
    });
  say('stopped');
  process.exit(code);
}

process.on('SIGINT', () => void stopAll(0));
process.on('SIGTERM', () => void stopAll(0));

if (ownBroker) {
  const r = spawnSync('bash', [`${root}infra/kafka/kafka.sh`, 'start'], {
    env: { ...env, KAFKA_PORT: String(kafkaPort) },
    stdio: 'inherit',
  });
  if (r.status !== 0) {
    say('the Kafka broker did not start');
    process.exit(1);
  }
}

// Topics, migrations and the demo app are set up once, before the services start.
const setup = `${root}services/cli/src/main.ts`;
if (existsSync(setup)) {
  const r = spawnSync(tsx, [setup, 'setup', '--demo'], {
    cwd: root,
    env: { ...shared, SANDBOX_URL: sandboxUrl },
    stdio: 'inherit',
  });
  if (r.status !== 0) {
    say('setup failed (see above)');
    await stopAll(1);
  }
}

for (const s of services) launch(s);
say(`Kafka       ${brokers}${ownBroker ? ' (started here)' : ''}`);
for (const s of services) if (s.url) say(`${s.name.padEnd(11)} ${s.url}`);
say('Ctrl-C stops everything.');
