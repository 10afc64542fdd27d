import type { Partner, ReplyMessage } from '@s2s/contracts';
import { describe, expect, it } from 'vitest';
import { isComplete } from './expected.js';

const reply = (partner: Partner, outcome: ReplyMessage['outcome'], expected?: Partner[]): ReplyMessage => ({
  requestId: 'r',
  appId: 'a',
  deviceKey: 'd',
  partner,
  outcome,
  atMs: 1,
  inDoubt: false,
  ...(expected ? { expected } : {}),
});

describe('when a wait is complete', () => {
  it('waits for every partner the worker says the record goes to, beyond the gateway guess', () => {
    const all: Partner[] = ['singular', 'oath', 'onside'];
    const replies = new Map<Partner, ReplyMessage>([['singular', reply('singular', 'forwarded', all)]]);
    expect(isComplete(['singular'], replies)).toBe(false);
    replies.set('oath', reply('oath', 'forwarded', all));
    replies.set('onside', reply('onside', 'parked', all));
    expect(isComplete(['singular'], replies)).toBe(false);
    replies.set('onside', reply('onside', 'dlq', all));
    expect(isComplete(['singular'], replies)).toBe(true);
  });

  it('falls back to the gateway guess for replies that carry no list', () => {
    const replies = new Map<Partner, ReplyMessage>([['singular', reply('singular', 'suppressed')]]);
    expect(isComplete(['singular'], replies)).toBe(true);
    expect(isComplete(['singular', 'oath'], replies)).toBe(false);
  });
});
