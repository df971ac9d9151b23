// Unit: the reload plan is driven by the option table. Every schema option says whether SIGHUP applies it, and
// the planner puts every changed option in exactly one list, so a new option cannot be silently ignored.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OPTIONS } from '../../src/config/schema.js';
import { loadConfig, type GatewayConfig } from '../../src/config/load.js';
import { inForceAfterReload, planReload, liveOptionKeys } from '../../src/config/reload-plan.js';

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

test('what is in force after a reload keeps the running value of each option not applied', () => {
  const next = { ...base, tlsPort: 9443, logLevel: 'debug', negativeTtl: 99 } as GatewayConfig;
  const plan = planReload(base, next);
  assert.deepEqual(plan, { live: ['logLevel'], restart: ['tlsPort', 'negativeTtl'].sort((a, b) => OPTIONS.findIndex((o) => o.key === a) - OPTIONS.findIndex((o) => o.key === b)) });
  const inForce = inForceAfterReload(base, next, plan.restart);
  assert.equal(inForce.logLevel, 'debug');
  assert.equal(inForce.tlsPort, base.tlsPort);
  assert.equal(inForce.negativeTtl, base.negativeTtl);
  assert.ok(Object.isFrozen(inForce));
  assert.deepEqual(planReload(inForce, next), { live: [], restart: plan.restart }, 'the same file again: still to restart');
  assert.deepEqual(planReload(inForce, { ...next, tlsPort: base.tlsPort, negativeTtl: base.negativeTtl }), { live: [], restart: [] });
});
