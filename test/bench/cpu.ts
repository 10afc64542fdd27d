/**
 * CPU time per process from /proc (Linux): what each part of a benchmark costs, in CPU seconds
 * rather than wall time. On a shared 2-core machine throughput moves with whatever else runs; CPU
 * per request or per record moves much less, and it shows where the time goes (service, Postgres,
 * broker, partner sandbox, load generator). Off Linux every reading is undefined.
 */
import { readdirSync, readFileSync } from 'node:fs';

/** CPU seconds (user, system; every thread) a process has used so far; undefined when it is gone or off Linux. */
export function cpuSeconds(pid: number | undefined): { user: number; system: number } | undefined {
  if (pid === undefined) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { user: Number(fields[11]) / 100, system: Number(fields[12]) / 100 }; // clock ticks (USER_HZ = 100)
  } catch {
    return undefined;
  }
}

/** Processes whose command line matches: the broker (`kafka.Kafka`), Postgres' server and backends. */
export function findProcesses(match: (command: string, name: string) => boolean): number[] {
  const out: number[] = [];
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return out;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const command = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replace(/\0/g, ' ');
      const name = readFileSync(`/proc/${entry}/comm`, 'utf8').trim();
      if (match(command, name)) out.push(Number(entry));
    } catch {}
  }
  return out;
}

export type CpuGroups = Record<string, () => number[]>;

/** The machine's usual groups besides the benchmark's own processes: the Kafka broker and Postgres. */
export const infrastructure: CpuGroups = {
  postgres: () => findProcesses((_, name) => name === 'postgres'),
  kafka: () => findProcesses((command) => command.includes('kafka.Kafka')),
};

/** Total CPU seconds of each group now (processes are looked up at each reading: backends come and go). */
export function readGroups(groups: CpuGroups): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [group, pids] of Object.entries(groups)) {
    out[group] = pids().reduce((sum, pid) => {
      const c = cpuSeconds(pid);
      return sum + (c ? c.user + c.system : 0);
    }, 0);
  }
  return out;
}

/** Microseconds of CPU per unit of work (record, request) for each group between two readings. */
export function perUnit(before: Record<string, number>, after: Record<string, number>, units: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const group of Object.keys(after)) out[group] = Math.round((((after[group] ?? 0) - (before[group] ?? 0)) / units) * 1e6);
  return out;
}
