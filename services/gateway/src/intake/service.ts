/**
 * Durable intake: a record is claimed in Postgres (one round trip, batched with concurrent requests),
 * then produced to s2s.ingest keyed by device, and only then answered. States of a claim:
 *   new       the key was free: produce with the new request id;
 *   retry     the key holds the same body but Kafka never confirmed it (a crash or an outage between
 *             insert and ack): produce again with the SAME request id (the workers' ledger dedupes);
 *   replayed  same key, same body, already in Kafka: answer with the earlier request id, produce nothing;
 *   conflict  same key, another body: 409.
 * The `produced` flag is set after the answer, in batched UPDATEs, off the critical path.
 */
import type { BatchingProducer } from '@s2s/bus';
import {
  deviceKey as deviceKeyOf,
  type EventRecord,
  encodeIngest,
  INGEST_SCHEMA_FINGERPRINT,
  type IngestMessage,
  type RecordKind,
  RelayError,
  SCHEMA_HEADER,
  type SessionRecord,
} from '@s2s/contracts';
import { createGroupCommit, type GroupCommit, type IntakeRepo } from '@s2s/store';
import { GatewayError } from '../errors.js';

export interface Clock {
  now(): number;
}

export interface IntakeItem {
  kind: RecordKind;
  record: SessionRecord | EventRecord;
  idempotencyKey: string;
  bodyHash: string;
  /** The request id the record gets when its key is new. */
  requestId: string;
}

export type ClaimState = 'new' | 'retry' | 'replayed' | 'conflict';

export interface Claimed {
  item: IntakeItem;
  state: ClaimState;
  /** The request id holding the key (the item's own when new). */
  requestId: string;
  deviceKey: string;
  acceptedAtMs: number;
}

export type ProduceResult = { ok: true } | { ok: false; error: GatewayError };

export interface IntakeMetrics {
  claimSeconds(seconds: number): void;
  produceSeconds(seconds: number): void;
  produced(kind: RecordKind): void;
}

/** The one log call the service makes (a pino or Fastify logger). */
export interface WarnLogger {
  warn(fields: object, message: string): void;
}

export interface IntakeServiceOptions {
  repo: IntakeRepo;
  producer: BatchingProducer;
  topic: string;
  clock: Clock;
  retryAfterSeconds: number;
  logger: WarnLogger;
  metrics?: IntakeMetrics;
}

export interface IntakeService {
  /** Claims every item's idempotency key for `appId`; throws DATABASE_UNAVAILABLE when Postgres fails. */
  claim(appId: string, items: readonly IntakeItem[]): Promise<Claimed[]>;
  /** Produces the claims that need it, in the given order; resolves per item once Kafka has acknowledged it. */
  produce(appId: string, claimed: readonly Claimed[]): Promise<ProduceResult[]>;
  /** Waits for pending `produced` updates (on close). */
  drain(): Promise<void>;
}

export function createIntakeService({
  repo,
  producer,
  topic,
  clock,
  retryAfterSeconds,
  logger,
  metrics,
}: IntakeServiceOptions): IntakeService {
  const claims = createGroupCommit(
    async (batch: Parameters<IntakeRepo['claim']>[0]) => {
      const started = performance.now();
      const out = await repo.claim(batch);
      metrics?.claimSeconds((performance.now() - started) / 1000);
      return out;
    },
    { maxBatch: 1000, maxConcurrent: 4 },
  );
  const marks: GroupCommit<string, void> = createGroupCommit(
    async (ids: string[]) => {
      await repo.markProduced(ids);
      return ids.map(() => undefined);
    },
    { maxBatch: 5000, maxConcurrent: 1 },
  );
  /** Produces in flight in this process, by request id: a concurrent retry joins the same send. */
  const inFlight = new Map<string, Promise<void>>();
  /**
   * Acknowledged by Kafka, `produced` not yet visible to every claim: a retry meanwhile is a replay,
   * not a resend. An id is forgotten once its mark is committed AND every claim that started before
   * that commit has finished (such a claim may have read the row before the update).
   */
  const acked = new Set<string>();
  let claimSeq = 0;
  const activeClaims = new Set<number>(); // insertion order = increasing seq
  const forget: { seq: number; id: string }[] = [];
  const sweep = () => {
    const oldest = activeClaims.values().next().value ?? Number.POSITIVE_INFINITY;
    while (forget.length > 0 && (forget[0] as { seq: number }).seq < oldest) acked.delete((forget.shift() as { id: string }).id);
  };

  const unavailable = (cause: unknown) =>
    cause instanceof RelayError && cause.code === 'KAFKA_UNAVAILABLE'
      ? new GatewayError('KAFKA_UNAVAILABLE', 'Kafka did not acknowledge the record; nothing was accepted', {
          cause,
          retryAfter: retryAfterSeconds,
        })
      : new GatewayError('INTERNAL', 'the record could not be produced', { cause });

  function send(appId: string, c: Claimed): Promise<void> {
    const existing = inFlight.get(c.requestId);
    if (existing) return existing;
    const message = {
      requestId: c.requestId,
      idempotencyKey: c.item.idempotencyKey,
      bodyHash: c.item.bodyHash,
      appId,
      deviceKey: c.deviceKey,
      receivedAtMs: c.acceptedAtMs,
      kind: c.item.kind,
      record: c.item.record,
    } as IngestMessage;
    const started = performance.now();
    const p = (async () => {
      await producer.send(topic, {
        key: c.deviceKey,
        value: encodeIngest(message),
        headers: { [SCHEMA_HEADER]: INGEST_SCHEMA_FINGERPRINT },
      });
      metrics?.produceSeconds((performance.now() - started) / 1000);
      metrics?.produced(c.item.kind);
      acked.add(c.requestId);
      marks
        .submit(c.requestId)
        .catch((err: unknown) => {
          // Harmless: the row stays produced=false and a client retry produces again (deduped downstream).
          logger.warn({ module: 'intake', err, requestId: c.requestId }, 'could not mark a record as produced');
        })
        .finally(() => {
          forget.push({ seq: claimSeq, id: c.requestId });
          sweep();
        });
    })().finally(() => inFlight.delete(c.requestId));
    inFlight.set(c.requestId, p);
    return p;
  }

  return {
    async claim(appId, items) {
      const acceptedAtMs = clock.now();
      const withKeys = items.map((item) => {
        const key = deviceKeyOf(item.record);
        if (!key) throw new GatewayError('INTERNAL', 'a validated record has no device key');
        return { item, deviceKey: key };
      });
      let results: Awaited<ReturnType<IntakeRepo['claim']>>;
      const seq = ++claimSeq;
      activeClaims.add(seq);
      try {
        results = await claims.submitAll(
          withKeys.map(({ item, deviceKey }) => ({
            appId,
            idempotencyKey: item.idempotencyKey,
            requestId: item.requestId,
            bodyHash: item.bodyHash,
            deviceKey,
            kind: item.kind,
            acceptedAtMs,
          })),
        );
      } catch (cause) {
        throw new GatewayError('DATABASE_UNAVAILABLE', 'the intake log could not be written; nothing was accepted', {
          cause,
          retryAfter: retryAfterSeconds,
        });
      } finally {
        activeClaims.delete(seq);
      }
      const states = withKeys.map(({ item, deviceKey }, i) => {
        const r = results[i] as (typeof results)[number];
        const state: ClaimState = r.inserted
          ? 'new'
          : r.bodyHash !== item.bodyHash
            ? 'conflict'
            : r.produced || acked.has(r.requestId)
              ? 'replayed'
              : 'retry';
        return { item, state, requestId: r.requestId, deviceKey, acceptedAtMs: r.acceptedAtMs };
      });
      sweep();
      return states;
    },

    async produce(appId, claimed) {
      // Sends are queued synchronously in the given order, so records of one device keep it.
      const sends = claimed.map((c) => (c.state === 'new' || c.state === 'retry' ? send(appId, c) : undefined));
      return Promise.all(
        sends.map(async (s, i): Promise<ProduceResult> => {
          const c = claimed[i] as Claimed;
          if (c.state === 'conflict')
            return {
              ok: false,
              error: new GatewayError(
                'IDEMPOTENCY_CONFLICT',
                `the idempotency key already holds request ${c.requestId}, with another body`,
                {
                  extra: { existingRequestId: c.requestId },
                },
              ),
            };
          if (!s) return { ok: true };
          try {
            await s;
            return { ok: true };
          } catch (err) {
            return { ok: false, error: unavailable(err) };
          }
        }),
      );
    },

    async drain() {
      await Promise.allSettled([...inFlight.values()]);
      await marks.drain();
    },
  };
}
