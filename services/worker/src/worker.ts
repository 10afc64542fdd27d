/**
 * Builds one worker from its config: Postgres repositories, the Kafka consumer and producer, the
 * partner clients, the pipeline (intake + lanes), the scheduler, the liveness watchdog and the ops
 * server. Dependencies can be passed in (tests); the defaults are the real ones.
 */
import { createBatchingProducer, createKafka, createOrderedConsumer, type OrderedConsumer, topicNames } from '@s2s/bus';
import type { Logger } from '@s2s/logging';
import {
  type App,
  type ClaimItem,
  createAppsRepo,
  createDeviceGraph,
  createGroupCommit,
  createHeldIntake,
  createLedger,
  createOutcomesRepo,
  createParking,
  createPool,
  createPrivacyRepo,
  createReadCache,
  createResendWindows,
  createWorkerBatches,
  type FinishItem,
  type IntakeInput,
  KEYED_PLANS,
  type LaneKey,
  type PlanningState,
  type Pool,
  type ResendWindow,
} from '@s2s/store';
import type { Kafka } from 'kafkajs';
import { retentionDaysOf, type WorkerEnv } from './config.js';
import type { DeviceIntake, IntakeFns, IntakeJob } from './intake.js';
import type { LaneDeps } from './lanes/lane.js';
import { startWatchdog } from './liveness.js';
import { createMetrics, type Metrics } from './metrics.js';
import { type OpsServer, startOpsServer } from './ops.js';
import { createPartnerCaller, type PartnerCaller } from './partners.js';
import { createPipeline, type Pipeline } from './pipeline.js';
import { createPublisher } from './publisher.js';
import { type Scheduler, startScheduler } from './scheduler.js';

export interface WorkerOverrides {
  /**
   * One pool for everything, the hot-path batches included (default: two pools from the config, the
   * batches' with `KEYED_PLANS`). Give it those settings if its tables grow while the worker runs.
   */
  pool?: Pool;
  kafka?: Kafka;
  partners?: PartnerCaller;
  /** Called when the worker must die (stall, consumer crash). Default: log and exit(1). */
  onFatal?: (reason: string) => void;
  /** Start the ops HTTP server (default true). */
  ops?: boolean;
}

export interface Worker {
  readonly metrics: Metrics;
  readonly consumer: OrderedConsumer;
  readonly pipeline: Pipeline;
  readonly scheduler: Scheduler;
  opsPort(): number | undefined;
  start(): Promise<void>;
  /** Graceful: stops fetching, lets running calls finish (up to drainMs), abandons queued records, commits, closes. */
  stop(drainMs?: number): Promise<void>;
}

export function createWorker(config: WorkerEnv, logger: Logger, o: WorkerOverrides = {}): Worker {
  const log = logger.child({ module: 'worker', worker: config.WORKER_ID });
  const ownsPool = !o.pool;
  const pool =
    o.pool ??
    createPool({
      databaseUrl: config.DATABASE_URL,
      schema: config.DATABASE_SCHEMA,
      max: config.DATABASE_POOL_MAX,
      applicationName: `s2s-worker-${config.WORKER_ID}`,
    });
  // The hot path's batched statements (intake, claim, finish: worker-batch.ts) run as named
  // prepared statements on connections of their own, whose planner settings keep them on index
  // look-ups (KEYED_PLANS). At most five at once: a full and a held intake, a claim, a finish, an
  // acknowledgement.
  const hotPool =
    o.pool ??
    createPool({
      databaseUrl: config.DATABASE_URL,
      schema: config.DATABASE_SCHEMA,
      max: 5,
      applicationName: `s2s-worker-${config.WORKER_ID}-batches`,
      settings: KEYED_PLANS,
    });
  const kafka = o.kafka ?? createKafka({ brokers: config.KAFKA_BROKERS, clientId: `s2s-worker-${config.WORKER_ID}`, logger });
  const topics = topicNames(config.TOPIC_PREFIX);
  const metrics = createMetrics(config.WORKER_ID, { defaults: o.ops !== false });
  const producer = createBatchingProducer(kafka, { maxBatch: 500 });
  const ledger = createLedger(pool);
  // The publisher only marks rows acked: a hot-path batch (hotPool).
  const publisher = createPublisher({ producer, topics, ledger: createLedger(hotPool), metrics, logger });
  const ownsPartners = !o.partners;
  const partners =
    o.partners ??
    createPartnerCaller({
      singularBaseUrl: config.SINGULAR_BASE_URL,
      oathBaseUrl: config.OATH_BASE_URL,
      onsideBaseUrl: config.ONSIDE_BASE_URL,
      onsideIssuer: config.ONSIDE_ISSUER,
      timeoutMs: config.PARTNER_TIMEOUT_MS,
      logger: logger.child({ module: 'partners' }),
    });

  const appsRepo = createAppsRepo(pool);
  // Concurrent look-ups of an app share one read: an entry expiring under load costs one query.
  const appCache = createReadCache<App | undefined>({ ttlMs: config.APP_CACHE_MS });
  const apps = { get: (appId: string) => appCache.get(appId, () => appsRepo.get(appId)) };
  const resendRepo = createResendWindows(pool);
  let windows: ResendWindow[] = [];
  const refreshWindows = async () => {
    windows = await resendRepo.active();
  };

  const wb = createWorkerBatches(hotPool);
  const observe = (kind: string) => (size: number, ms: number) => {
    metrics.dbBatchSize.observe({ kind }, size);
    metrics.dbBatchSeconds.observe({ kind }, ms / 1000);
  };
  const leaseMs = config.PARTNER_TIMEOUT_MS + config.LEASE_MARGIN_MS;
  const planOf = (jobs: readonly IntakeJob[]) => {
    const plans = new Map(jobs.map((j) => [j.input, j.plan]));
    return (input: IntakeInput, device: PlanningState) => (plans.get(input) as IntakeJob['plan'])(device);
  };
  const deviceOf = (d: IntakeJob[]) => `${d[0]?.input.appId}\u0000${d[0]?.input.deviceKey}`;
  type FullJob = Parameters<IntakeFns['full']>[0];
  const intakeBatch = createGroupCommit(
    async (devices: FullJob[]): Promise<DeviceIntake[]> => {
      const jobs = devices.flatMap((d) => d.jobs);
      const claimOf = new Map(devices.flatMap((d) => d.jobs.map((j) => [j.input, d.claim] as const)));
      const { results, held, claims, created } = await wb.intakeHolding(
        jobs.map((j) => j.input),
        planOf(jobs),
        { claim: (input, row) => claimOf.get(input)?.(input, row), leaseMs },
      );
      let at = 0;
      return devices.map((d) => {
        at += d.jobs.length;
        const from = at - d.jobs.length;
        return {
          held: held.get(deviceOf(d.jobs)),
          results: results.slice(from, at),
          claims: claims.slice(from, at),
          created: created.has(deviceOf(d.jobs)),
        };
      });
    },
    // One intake in flight, as for the other kinds below: with three, two paired pipeline runs at
    // 2,000 records/s saw live journeys' p99 at 1,375 and 338 ms against 223 and 117 with one (offline
    // flushes 1,214 and 936 against 512 and 386), burst throughput and CPU per record unchanged.
    {
      maxBatch: 200,
      maxConcurrent: 1,
      observe: observe('intake'),
      key: (d) => deviceOf(d.jobs),
    },
  );
  // Devices whose state this worker holds: one statement per batch (held-intake.ts), on a connection
  // of its own next to the full intake's, so that neither waits for the other.
  const heldIntake = createHeldIntake(hotPool);
  type HeldJob = Parameters<IntakeFns['held']>[0];
  const heldBatch = createGroupCommit(
    async (devices: HeldJob[]): Promise<(DeviceIntake | undefined)[]> => {
      const applied = await heldIntake.intake(
        devices.map((d) => ({ held: d.held, inputs: d.jobs.map((j) => j.input), plan: planOf(d.jobs), claim: d.claim })),
        leaseMs,
      );
      return applied.map((a) => (a.applied ? { held: a.held, results: a.results, claims: a.claims } : undefined));
    },
    { maxBatch: 200, maxConcurrent: 1, observe: observe('held_intake'), key: (d) => deviceOf(d.jobs) },
  );
  const privacy = createPrivacyRepo(pool);
  const parking = createParking(pool);
  type DeviceAt = { appId: string; deviceKey: string; receivedAtMs: number };
  const deps: LaneDeps = {
    pool,
    ledger,
    parking,
    devices: createDeviceGraph(pool),
    outcomes: createOutcomesRepo(pool),
    partners,
    publisher,
    metrics,
    log: logger.child({ module: 'lanes', worker: config.WORKER_ID }),
    workerId: config.WORKER_ID,
    apps,
    resendWindows: () => windows,
    // One statement in flight per kind: the records that arrive meanwhile leave together. Most of
    // Postgres' work per statement is fixed (planning these statements costs more than their rows),
    // so fewer, larger batches cost less: in paired pipeline benchmarks, 1 instead of 3 in flight
    // per kind cut Postgres CPU per record from about 300 to 220 µs and raised burst throughput by a
    // fifth, for at most one more round trip of waiting per step.
    batches: {
      context: createGroupCommit((items: DeviceAt[]) => privacy.sendContextAmong(items), {
        maxBatch: 500,
        maxConcurrent: 1,
        observe: observe('context'),
      }),
      lanes: createGroupCommit((keys: LaneKey[]) => parking.laneSnapshots(keys), {
        maxBatch: 500,
        maxConcurrent: 1,
        observe: observe('lanes'),
      }),
      claim: createGroupCommit((items: ClaimItem[]) => wb.claimReady(items, leaseMs), {
        maxBatch: 500,
        maxConcurrent: 1,
        observe: observe('claim'),
        key: (i) => `${i.appId}\u0000${i.partner}\u0000${i.idemKey}`,
      }),
      finish: createGroupCommit((items: FinishItem[]) => wb.finish(items, leaseMs), {
        maxBatch: 500,
        maxConcurrent: 1,
        observe: observe('finish'),
        key: (i) => `${i.reply.requestId}\u0000${i.partner}`,
      }),
    },
    sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
    now: Date.now,
    settings: {
      partnerTimeoutMs: config.PARTNER_TIMEOUT_MS,
      leaseMarginMs: config.LEASE_MARGIN_MS,
      retryAttempts: config.RETRY_ATTEMPTS,
      retryBaseMs: config.RETRY_BASE_MS,
      retryMaxMs: config.RETRY_MAX_MS,
      parkBaseMs: config.PARK_BASE_MS,
      parkMaxMs: config.PARK_MAX_MS,
      noSessionTimeoutMs: config.NO_SESSION_TIMEOUT_S * 1000,
      maxRecordAgeMs: config.MAX_RECORD_AGE_S * 1000,
      inDoubtPolicy: config.IN_DOUBT_POLICY,
    },
  };
  const pipeline = createPipeline({
    deps,
    intake: { full: (device) => intakeBatch.submit(device), held: (device) => heldBatch.submit(device) },
    rules: { sessionTimeoutMs: config.SESSION_TIMEOUT_S * 1000 },
    laneConcurrency: config.LANE_CONCURRENCY,
  });
  const consumer = createOrderedConsumer({
    kafka,
    groupId: config.WORKER_GROUP_ID,
    topic: topics.ingest,
    sessionTimeoutMs: config.KAFKA_SESSION_TIMEOUT_MS,
    maxInFlightPerPartition: config.MAX_IN_FLIGHT_PER_PARTITION,
    partitionsConsumedConcurrently: config.PARTITIONS_CONCURRENCY,
    commitIntervalMs: config.COMMIT_INTERVAL_MS,
    logger,
  });
  const scheduler = startScheduler({
    parking: deps.parking,
    pipeline,
    ownedPartitions: () => consumer.ownedPartitions(),
    intervalMs: config.SCHEDULER_INTERVAL_MS,
    noSessionTimeoutMs: deps.settings.noSessionTimeoutMs,
    metrics,
    logger,
    sweep: { ledger, publisher, olderThanMs: 60_000 },
    retention: { pool, days: retentionDaysOf(config), intervalMs: config.RETENTION_INTERVAL_S * 1000 },
  });

  let stopping = false;
  const fatal =
    o.onFatal ??
    ((reason: string) => {
      log.fatal({ reason }, `worker stopped making progress: ${reason}; exiting so that the supervisor restarts it`);
      process.exit(1);
    });
  consumer.onCrash((err) => {
    if (!stopping) fatal(`Kafka consumer crashed: ${err.message}`);
  });
  let watchdog: { stop(): void } | undefined;
  let ops: OpsServer | undefined;
  const timers: NodeJS.Timeout[] = [];

  return {
    metrics,
    consumer,
    pipeline,
    scheduler,
    opsPort: () => ops?.port,

    async start() {
      await refreshWindows();
      await producer.connect();
      if (o.ops !== false)
        ops = await startOpsServer({
          port: config.OPS_PORT,
          host: config.OPS_HOST,
          registry: metrics.registry,
          health: () => {
            const s = consumer.stats();
            return {
              ok: s.joined && !stopping,
              worker: config.WORKER_ID,
              generation: s.generation,
              partitions: consumer.ownedPartitions(),
            };
          },
        });
      await consumer.start({ handle: pipeline.handle, assigned: pipeline.assigned });
      watchdog = startWatchdog({ consumer, stallTimeoutMs: config.STALL_TIMEOUT_MS, onStall: (r) => !stopping && fatal(r) });
      timers.push(
        setInterval(() => void refreshWindows().catch((err) => log.warn({ err }, 'could not read resend windows')), 5_000),
        setInterval(() => {
          for (const p of consumer.stats().partitions)
            if (p.lag !== undefined) metrics.consumerLag.set({ partition: String(p.partition) }, p.lag);
        }, 1_000),
      );
      for (const t of timers) t.unref();
      log.info({ group: config.WORKER_GROUP_ID, topic: topics.ingest, opsPort: ops?.port }, 'worker started');
    },

    async stop(drainMs = 10_000) {
      if (stopping) return;
      stopping = true;
      watchdog?.stop();
      for (const t of timers) clearInterval(t);
      await scheduler.stop();
      // Running calls finish and record their outcome; queued records go to the next owner.
      await consumer.stop({ drain: () => pipeline.quiesce(), drainMs }).catch((err) => log.warn({ err }, 'consumer stop failed'));
      await publisher.close();
      await producer.disconnect().catch(() => {});
      if (ownsPartners) await partners.close();
      await ops?.close();
      if (ownsPool) await Promise.all([pool.end(), hotPool.end()]);
      log.info('worker stopped');
    },
  };
}
