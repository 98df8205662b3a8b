import { describe, expect, it } from 'vitest';
import type { Grant } from '../src/index.ts';
import { GrantCache } from '../src/grant-cache.ts';

// The decision cache on its own: a grant set is served only to a check that read exactly the epoch it was
// loaded at, only before it expires, and the cache never holds more than its capacity.

const grants = (bindingId: string): Grant[] => [{ bindingId, capability: 'tickets.read', effect: 'allow', resourceType: null, resourceId: null }];
const NOW = 1_000;
const FOREVER = Number.POSITIVE_INFINITY;

describe('GrantCache', () => {
  it('serves a set only to a check that read the epoch it was loaded at', () => {
    const cache = new GrantCache(10);
    cache.set('org_a', 3, 'bob', null, grants('b1'), FOREVER);
    expect(cache.get('org_a', 3, 'bob', null, NOW)).toEqual(grants('b1'));
    expect(cache.get('org_a', 4, 'bob', null, NOW)).toBeUndefined();
    expect(cache.get('org_a', 2, 'bob', null, NOW)).toBeUndefined();
  });

  it('a newer epoch drops the org’s older sets; a load of an older epoch after it is not kept', () => {
    const cache = new GrantCache(10);
    cache.set('org_a', 3, 'bob', null, grants('b1'), FOREVER);
    cache.set('org_a', 3, 'carol', null, grants('c1'), FOREVER);
    cache.set('org_b', 1, 'bob', null, grants('x1'), FOREVER);
    cache.set('org_a', 4, 'bob', null, grants('b2'), FOREVER);
    expect(cache.size).toBe(2);
    expect(cache.get('org_a', 3, 'carol', null, NOW)).toBeUndefined();
    expect(cache.get('org_a', 4, 'carol', null, NOW)).toBeUndefined();
    expect(cache.get('org_a', 4, 'bob', null, NOW)).toEqual(grants('b2'));
    expect(cache.get('org_b', 1, 'bob', null, NOW)).toEqual(grants('x1')); // other orgs are untouched
    // A check that read epoch 3 before the change finishes its load late: not cached, nothing replaced.
    cache.set('org_a', 3, 'bob', null, grants('b1'), FOREVER);
    expect(cache.get('org_a', 3, 'bob', null, NOW)).toBeUndefined();
    expect(cache.get('org_a', 4, 'bob', null, NOW)).toEqual(grants('b2'));
    expect(cache.size).toBe(2);
  });

  it('does not serve a set at or after its validUntil', () => {
    const cache = new GrantCache(10);
    cache.set('org_a', 1, 'bob', null, grants('b1'), 2_000);
    expect(cache.get('org_a', 1, 'bob', null, 1_999)).toEqual(grants('b1'));
    expect(cache.get('org_a', 1, 'bob', null, 2_000)).toBeUndefined();
    expect(cache.get('org_a', 1, 'bob', null, 9_999)).toBeUndefined();
    cache.set('org_a', 1, 'bob', null, grants('b2'), FOREVER); // the reload replaces it
    expect(cache.get('org_a', 1, 'bob', null, 9_999)).toEqual(grants('b2'));
    expect(cache.size).toBe(1);
  });

  it('keys on subject and workspace: no set is served to another subject or another workspace', () => {
    const cache = new GrantCache(10);
    cache.set('org_a', 1, 'bob', 'w1', grants('w1'), FOREVER);
    cache.set('org_a', 1, 'bob', null, grants('org'), FOREVER);
    expect(cache.get('org_a', 1, 'bob', 'w1', NOW)).toEqual(grants('w1'));
    expect(cache.get('org_a', 1, 'bob', null, NOW)).toEqual(grants('org'));
    expect(cache.get('org_a', 1, 'bob', 'w2', NOW)).toBeUndefined();
    expect(cache.get('org_a', 1, 'carol', 'w1', NOW)).toBeUndefined();
    expect(cache.get('org_b', 1, 'bob', 'w1', NOW)).toBeUndefined();
  });

  it('holds at most its capacity, evicting the least recently used', () => {
    const cache = new GrantCache(2);
    cache.set('org_a', 1, 's1', null, grants('1'), FOREVER);
    cache.set('org_a', 1, 's2', null, grants('2'), FOREVER);
    expect(cache.get('org_a', 1, 's1', null, NOW)).toEqual(grants('1')); // s1 is now the most recent
    cache.set('org_b', 1, 's3', null, grants('3'), FOREVER); // evicts s2
    expect(cache.size).toBe(2);
    expect(cache.get('org_a', 1, 's2', null, NOW)).toBeUndefined();
    expect(cache.get('org_a', 1, 's1', null, NOW)).toEqual(grants('1'));
    expect(cache.get('org_b', 1, 's3', null, NOW)).toEqual(grants('3'));
    // 50 more: only the last two stay (s48 in org_6 without a workspace, s49 in org_0 in workspace w).
    for (let i = 0; i < 50; i += 1) cache.set(`org_${i % 7}`, 1, `s${i}`, i % 2 === 0 ? null : 'w', grants(String(i)), FOREVER);
    expect(cache.size).toBe(2);
    expect(cache.get('org_6', 1, 's48', null, NOW)).toEqual(grants('48'));
    expect(cache.get('org_0', 1, 's49', 'w', NOW)).toEqual(grants('49'));
    expect(cache.get('org_a', 1, 's1', null, NOW)).toBeUndefined();
    expect(cache.get('org_5', 1, 's47', 'w', NOW)).toBeUndefined();
  });

  it('with capacity 0 it holds nothing', () => {
    const cache = new GrantCache(0);
    cache.set('org_a', 1, 'bob', null, grants('b1'), FOREVER);
    expect(cache.size).toBe(0);
    expect(cache.get('org_a', 1, 'bob', null, NOW)).toBeUndefined();
  });
});
