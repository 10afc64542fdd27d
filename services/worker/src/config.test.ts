import { describe, expect, it } from 'vitest';
import { loadWorkerConfig, retentionDaysOf } from './config.js';

const base = { DATABASE_URL: 'postgres://x@127.0.0.1/x', KAFKA_BROKERS: '127.0.0.1:9092' };

describe('worker config: retention', () => {
  it('defaults to the store defaults, once a day', () => {
    const c = loadWorkerConfig(base);
    expect(c.RETENTION_INTERVAL_S).toBe(86_400);
    expect(retentionDaysOf(c)).toEqual({ replies: 30, intake: 30, ledgerPayloads: 30, dlq: 30, ledgerKeys: 90, postbacks: 30 });
  });

  it('refuses settings the purge would refuse (RETENTION_INVALID), naming the variable', () => {
    expect(() => loadWorkerConfig({ ...base, RETENTION_LEDGER_KEYS_DAYS: '3' })).toThrow(
      /RETENTION_LEDGER_KEYS_DAYS: RETENTION_INVALID/,
    );
    expect(() => loadWorkerConfig({ ...base, RETENTION_DLQ_DAYS: '120' })).toThrow(/RETENTION_INVALID: ledgerKeys must be/);
    expect(() => loadWorkerConfig({ ...base, RETENTION_REPLIES_DAYS: '0' })).toThrow(/RETENTION_REPLIES_DAYS/);
  });
});
