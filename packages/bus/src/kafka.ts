/**
 * kafkajs stays behind this module: services get a client built here, with logs routed to pino.
 * kafkajs 2.2.4 speaks protocol versions that Kafka 4.x still serves (classic consumer groups).
 */

import type { Logger } from '@s2s/logging';
import { Kafka, type KafkaConfig, type LogEntry, logLevel } from 'kafkajs';

export interface CreateKafkaOptions {
  brokers: string[];
  clientId: string;
  logger?: Logger;
  /** How long to keep retrying the initial connection. */
  connectionTimeoutMs?: number;
  retry?: KafkaConfig['retry'];
}

export function createKafka({ brokers, clientId, logger, connectionTimeoutMs = 3000, retry }: CreateKafkaOptions): Kafka {
  const log = logger?.child({ module: 'kafkajs' });
  return new Kafka({
    brokers,
    clientId,
    connectionTimeout: connectionTimeoutMs,
    requestTimeout: 30_000,
    retry: retry ?? { initialRetryTime: 100, retries: 8 },
    logLevel: logLevel.WARN,
    logCreator: () => (entry: LogEntry) => {
      if (!log) return;
      const { message, ...extra } = entry.log;
      const fields = { kafka: { namespace: entry.namespace, ...extra } };
      if (entry.level <= logLevel.ERROR) log.error(fields, message);
      else if (entry.level === logLevel.WARN) log.warn(fields, message);
      else log.debug(fields, message);
    },
  });
}
