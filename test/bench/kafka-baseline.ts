/**
 * The machine's own Kafka baseline: Apache Kafka's producer performance tool (from the same jars the
 * broker runs) against the same broker, with the relay's settings (acks=all, idempotence) and a
 * record the size of an Avro-encoded session. What the gateway achieves is reported against this.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { ROOT } from '../support/processes.js';

const run = promisify(execFile);

export interface ProducerPerfResult {
  records: number;
  recordsPerSec: number;
  avgMs: number;
  p50Ms: number;
  p99Ms: number;
}

export interface ProducerPerfOptions {
  brokers: string;
  topic: string;
  records: number;
  recordSize: number;
  /** Records per second to offer; -1 = unthrottled. */
  throughput: number;
}

const SUMMARY =
  /(\d+) records sent, ([\d.]+) records\/sec .*?, ([\d.]+) ms avg latency, [\d.]+ ms max latency, (\d+) ms 50th, \d+ ms 95th, (\d+) ms 99th/;

export async function kafkaProducerPerf({
  brokers,
  topic,
  records,
  recordSize,
  throughput,
}: ProducerPerfOptions): Promise<ProducerPerfResult> {
  const { stdout } = await run(
    'java',
    [
      '-Xmx512m',
      '-cp',
      `${ROOT}infra/kafka/.cache/lib/*`,
      `-Dlog4j2.configurationFile=${ROOT}infra/kafka/log4j2.yaml`,
      'org.apache.kafka.tools.ProducerPerformance',
      '--topic',
      topic,
      '--num-records',
      String(records),
      '--record-size',
      String(recordSize),
      '--throughput',
      String(throughput),
      '--producer-props',
      `bootstrap.servers=${brokers}`,
      'acks=all',
      'enable.idempotence=true',
      'linger.ms=1',
    ],
    { maxBuffer: 16 * 1024 * 1024, timeout: 300_000 },
  );
  const line = stdout.split('\n').find((l) => SUMMARY.test(l));
  const m = line ? SUMMARY.exec(line) : null;
  if (!m) throw new Error(`unexpected ProducerPerformance output:\n${stdout.slice(-2000)}`);
  return { records: Number(m[1]), recordsPerSec: Number(m[2]), avgMs: Number(m[3]), p50Ms: Number(m[4]), p99Ms: Number(m[5]) };
}
