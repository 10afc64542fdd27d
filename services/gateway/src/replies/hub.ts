/**
 * Clients waiting for partner replies (`Prefer: wait`), resolved by request id from the reply feed.
 * A watch is opened before the record is produced, so a reply can never slip in between the
 * Kafka acknowledgement and the start of waiting.
 */
import type { Partner, ReplyMessage } from '@s2s/contracts';
import { supersedes } from './expected.js';

export interface Watch {
  readonly requestId: string;
  /** Latest reply per partner so far. */
  readonly replies: ReadonlyMap<Partner, ReplyMessage>;
  /** Adds replies found elsewhere (Postgres). */
  add(replies: readonly ReplyMessage[]): void;
  /** Resolves true as soon as `done` holds, false after `timeoutMs`. */
  until(done: (replies: ReadonlyMap<Partner, ReplyMessage>) => boolean, timeoutMs: number): Promise<boolean>;
  close(): void;
}

export interface ReplyHub {
  watch(requestId: string): Watch;
  deliver(reply: ReplyMessage): void;
  /** Open watches. */
  size(): number;
}

export function createReplyHub(): ReplyHub {
  const watches = new Map<string, Set<WatchImpl>>();

  class WatchImpl implements Watch {
    readonly replies = new Map<Partner, ReplyMessage>();
    private check: (() => void) | undefined;
    constructor(readonly requestId: string) {}
    add(replies: readonly ReplyMessage[]) {
      for (const r of replies) if (supersedes(r, this.replies.get(r.partner))) this.replies.set(r.partner, r);
      this.check?.();
    }
    until(done: (replies: ReadonlyMap<Partner, ReplyMessage>) => boolean, timeoutMs: number): Promise<boolean> {
      if (done(this.replies)) return Promise.resolve(true);
      if (timeoutMs <= 0) return Promise.resolve(false);
      return new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => {
          this.check = undefined;
          resolve(false);
        }, timeoutMs);
        this.check = () => {
          if (!done(this.replies)) return;
          clearTimeout(timer);
          this.check = undefined;
          resolve(true);
        };
      });
    }
    close() {
      const set = watches.get(this.requestId);
      set?.delete(this);
      if (set?.size === 0) watches.delete(this.requestId);
    }
  }

  return {
    watch(requestId) {
      const w = new WatchImpl(requestId);
      const set = watches.get(requestId) ?? new Set<WatchImpl>();
      set.add(w);
      watches.set(requestId, set);
      return w;
    },
    deliver(reply) {
      const set = watches.get(reply.requestId);
      if (set) for (const w of set) w.add([reply]);
    },
    size: () => watches.size,
  };
}
