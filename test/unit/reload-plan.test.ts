// Unit: the reload plan is driven by the option table. Every schema option says whether SIGHUP applies it, and
// the planner puts every changed option in exactly one list, so a new option cannot be silently ignored.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OPTIONS } from '../../src/config/schema.js';
import { loadConfig, type GatewayConfig } from '../../src/config/load.js';
import { planReload, liveOptionKeys } from '../../src/config/reload-plan.js';

const base = loadConfig({ env: {} });

/** A valid value different from the default, per option. */
function changedValue(key: string): unknown {
  const spec = OPTIONS.find((o) => o.key === key)!;
  switch (spec.type) {
    case 'port':
    case 'count':
    case 'duration':
      return (base[key as keyof GatewayConfig] as number) + 1;
    case 'parallelism':
      return 2;
    case 'boolean':
      return !base[key as keyof GatewayConfig];
    case 'enum':
      return spec.choices!.find((c) => c !== spec.default);
    case 'list':
      return key === 'allowClients' ? ['10.9.0.0/16'] : key === 'interceptHosts' ? ['mods.example'] : ['example.com/private'];
    case 'string':
      return ({ listen: '127.0.0.1', adminListen: '::1', upstream: 'https://goproxy.example', egressProxy: 'http://proxy.example:3128', sumdb: 'off' } as Record<string, string>)[key] ?? `/tmp/${key}`;
  }
}

test('every schema option says whether SIGHUP applies it live or needs a restart', () => {
  for (const o of OPTIONS) assert.ok(o.reload === 'live' || o.reload === 'restart', `${o.key} has no reload mode`);
  assert.ok(liveOptionKeys().includes('cache.maxBytes'), 'cache.maxBytes is live');
});

test('the planner reports each changed option, alone, in the list its schema entry names', () => {
  for (const o of OPTIONS) {
    const next = { ...base, [o.key]: changedValue(o.key) } as GatewayConfig;
    assert.notDeepEqual(next[o.key as keyof GatewayConfig], base[o.key as keyof GatewayConfig], `test value for ${o.key} differs`);
    const plan = planReload(base, next);
    assert.deepEqual(plan, o.reload === 'live' ? { live: [o.key], restart: [] } : { live: [], restart: [o.key] }, o.key);
  }
});

test('no change, no plan; every option changed at once covers all keys exactly once', () => {
  assert.deepEqual(planReload(base, { ...base }), { live: [], restart: [] });
  const all = { ...base } as Record<string, unknown>;
  for (const o of OPTIONS) all[o.key] = changedValue(o.key);
  const plan = planReload(base, all as unknown as GatewayConfig);
  assert.deepEqual([...plan.live, ...plan.restart].sort(), OPTIONS.map((o) => o.key).sort());
  assert.equal(new Set([...plan.live, ...plan.restart]).size, OPTIONS.length);
});

test('lists compare by value: the same hosts in a new array are no change', () => {
  assert.deepEqual(planReload(base, { ...base, interceptHosts: [...base.interceptHosts] }), { live: [], restart: [] });
});
