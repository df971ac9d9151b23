// Unit: the malloc arena cap (src/malloc-arenas.ts, native/malloc-arenas.c): taken on this glibc, left to the
// administrator when MALLOC_ARENA_MAX is set, and the addon refuses what is not a count. What the cap is for
// (a 100 MB download's resident growth) is asserted through the real CLI in integration/gateway-cache.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { capMallocArenas, GATEWAY_MALLOC_ARENAS } from '../../src/malloc-arenas.js';

test('the cap is taken by glibc, at the gateway arena count', () => {
  assert.deepEqual(capMallocArenas({}), { capped: true, arenas: GATEWAY_MALLOC_ARENAS });
  assert.deepEqual(capMallocArenas({}, 4), { capped: true, arenas: 4 });
});

test("an administrator's MALLOC_ARENA_MAX wins: nothing is changed, and the answer says why", () => {
  const cap = capMallocArenas({ MALLOC_ARENA_MAX: '8' });
  assert.equal(cap.capped, false);
  assert.match((cap as { why: string }).why, /^MALLOC_ARENA_MAX=8 is set/);
});

test('the addon refuses what is not a count of 1 or more', () => {
  const addonPath = new URL('../../../native/build/Release/malloc_arenas.node', import.meta.url);
  const { capArenas } = createRequire(import.meta.url)(addonPath.pathname) as { capArenas(n: unknown): boolean };
  for (const bad of [0, -1, '2', undefined, Number.NaN]) assert.throws(() => capArenas(bad), TypeError, String(bad));
  assert.equal(capArenas(GATEWAY_MALLOC_ARENAS), true);
});
