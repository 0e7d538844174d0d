import { describe, expect, it } from 'vitest';
import { claimedExecution } from '../../src/agent/agent.js';
import { outputText } from '../../src/agent/output-text.js';

describe("a runbook's output as text", () => {
  it.each([
    ['plain UTF-8, as printed', Buffer.from('héllo ✓ 😀\n'), 'héllo ✓ 😀\n'],
    ['a NUL', Buffer.from([0x61, 0x00, 0x62]), 'a\\x00b'],
    ['a byte that cannot start a character', Buffer.from([0x61, 0xff, 0x62]), 'a\\xffb'],
    ['a character cut by the output limit', Buffer.from([0x61, 0xe2, 0x9c]), 'a\\xe2\\x9c'],
    ['an overlong form', Buffer.from([0xc0, 0xaf]), '\\xc0\\xaf'],
    ['a UTF-16 surrogate written as UTF-8', Buffer.from([0xed, 0xa0, 0x80]), '\\xed\\xa0\\x80'],
    ['nothing', Buffer.alloc(0), ''],
  ])('%s', (_what, bytes, text) => {
    expect(outputText(bytes)).toBe(text);
    expect(text.includes('\u0000')).toBe(false);
  });
});

describe('an execution handed out by the Tenant Plane', () => {
  it('is taken only with a UUID for an id, since the id names a file', () => {
    const id = '0b7a4c52-8d1e-4c3a-9f0e-2d6b1a7c9e44';
    expect(claimedExecution({ execution: { id, runbook: 'disk-usage' } })).toEqual({ id, runbook: 'disk-usage' });
    for (const bad of ['../../../../tmp/x', `${id}/../x`, '', 42, null]) expect(claimedExecution({ execution: { id: bad, runbook: 'x' } })).toBeUndefined();
    expect(claimedExecution({ execution: { id, runbook: 7 } })).toBeUndefined();
    expect(claimedExecution({})).toBeUndefined();
  });
});
