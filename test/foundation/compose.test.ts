import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

// No compose tool can parse the file without a Docker engine here; this reads it as compose would
// (YAML with anchors and merge keys) and checks what would break `docker compose up`.
const root = fileURLToPath(new URL('../..', import.meta.url));
const compose = parse(readFileSync(`${root}docker-compose.yml`, 'utf8'), { merge: true }) as {
  services: Record<
    string,
    {
      image?: string;
      build?: { dockerfile: string };
      command?: string[];
      depends_on?: Record<string, unknown>;
      environment?: Record<string, unknown>;
    }
  >;
};

describe('docker-compose.yml', () => {
  it('runs Kafka from the official image in KRaft mode with single-broker replication settings', () => {
    const kafka = compose.services.kafka;
    expect(kafka?.image).toMatch(/^apache\/kafka:4\./);
    expect(kafka?.environment?.KAFKA_PROCESS_ROLES).toBe('broker,controller');
    expect(kafka?.environment?.KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR).toBe(1);
    expect(compose.services.postgres?.image).toMatch(/^postgres:/);
  });

  it('starts every service from an entry point that exists, after the services it depends on', () => {
    for (const [name, svc] of Object.entries(compose.services)) {
      if (svc.build) expect(existsSync(`${root}${svc.build.dockerfile}`), `${name}: Dockerfile`).toBe(true);
      const entry = svc.command?.find((c) => c.endsWith('.ts'));
      if (entry) expect(existsSync(`${root}${entry}`), `${name}: ${entry}`).toBe(true);
      for (const dep of Object.keys(svc.depends_on ?? {}))
        expect(compose.services[dep], `${name} depends on ${dep}`).toBeDefined();
    }
  });

  it('runs each long-lived service as one node process, so the SIGTERM of `docker stop` reaches its drain', () => {
    // The tsx CLI would be PID 1 and relay the signal to a second process, which it SIGKILLs when that
    // process does not acknowledge within 30 ms: a busy gateway would then drop its in-flight requests.
    const servers = Object.entries(compose.services).filter(([, s]) => s.command?.at(-1)?.endsWith('src/server.ts'));
    expect(servers.map(([name]) => name).sort()).toEqual(['gateway', 'sandbox', 'worker-1', 'worker-2']);
    for (const [name, svc] of servers) {
      expect(svc.command?.[0], name).toBe('node');
      expect(svc.command?.slice(-3, -1), name).toEqual(['--import', 'tsx']);
    }
  });
});
