/**
 * Everything the sandbox remembers, in one object decorated on the app as `sandbox`: the request
 * log, fault rules, and each emulator's own store (devices, answers, installations, scenarios, keys).
 * All of it lives in memory; `reset()` forgets all but the Onside signing keys.
 */
import fp from 'fastify-plugin';
import type { SandboxConfig } from './config.js';
import { FaultStore } from './control/faults.js';
import { OathStore } from './oath/store.js';
import type { KeyRing } from './onside/keys.js';
import { OnsideStore } from './onside/store.js';
import { RequestLog } from './request-log.js';
import { SingularStore } from './singular/store.js';

export interface SandboxDeps {
  config: SandboxConfig;
  /** Current time, Unix ms. */
  clock: () => number;
  /** Uniform in [0, 1): fault rates and latency ranges. */
  random: () => number;
  /** Waits `ms` (injected latency). */
  sleep: (ms: number) => Promise<void>;
  keys: KeyRing;
}

export interface SandboxState extends Omit<SandboxDeps, 'keys'> {
  log: RequestLog;
  faults: FaultStore;
  singular: SingularStore;
  oath: OathStore;
  onside: OnsideStore;
  /** Forgets requests, scenarios, faults and partner state (not the Onside keys). */
  reset(): void;
}

export function createState(deps: SandboxDeps): SandboxState {
  const { keys, ...rest } = deps;
  const state: SandboxState = {
    ...rest,
    log: new RequestLog(deps.config.SANDBOX_LOG_LIMIT),
    faults: new FaultStore(deps.random),
    singular: new SingularStore(),
    oath: new OathStore(),
    onside: new OnsideStore(keys),
    reset() {
      state.log.clear();
      state.faults.clear();
      state.singular.reset();
      state.oath.reset();
      state.onside.reset();
    },
  };
  return state;
}

declare module 'fastify' {
  interface FastifyInstance {
    sandbox: SandboxState;
  }
}

export const statePlugin = fp<{ state: SandboxState }>(
  async (app, { state }) => {
    app.decorate('sandbox', state);
  },
  { name: 'sandbox-state', fastify: '5.x' },
);
