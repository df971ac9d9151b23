// Unit: the prefetch option as the config loader reads it: every step by default, any subset, or off alone;
// anything else is refused with a message naming the flag and what was typed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '../../src/config/load.js';

test('prefetch: every step by default; a subset or off as given', () => {
  assert.deepEqual(loadConfig({ env: {} }).prefetch, ['info-mod', 'mod-zip', 'mod-info', 'sumdb-head']);
  assert.deepEqual(loadConfig({ env: {}, flags: { prefetch: 'mod-zip' } }).prefetch, ['mod-zip']);
  assert.deepEqual(loadConfig({ env: {}, flags: { prefetch: 'off' } }).prefetch, ['off']);
  assert.deepEqual(loadConfig({ env: { GOMODGATE_PREFETCH: 'info-mod' } }).prefetch, ['info-mod']);
});

test('prefetch: an unknown step, or off with a step, is refused with the flag and the value', () => {
  assert.throws(() => loadConfig({ env: {}, flags: { prefetch: 'info-zip' } }), /--prefetch entries must be info-mod, mod-zip, mod-info or sumdb-head, or the single word off \(got "info-zip"\)/);
  assert.throws(() => loadConfig({ env: {}, flags: { prefetch: 'off,mod-zip' } }), /--prefetch is either off or a list of steps, not both \(got "off,mod-zip"\)/);
});
