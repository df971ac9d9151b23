// Unit: the `workers` option: what loadConfig accepts (a count 1-256 or auto, from flags, environment or file) and
// how auto resolves (the cores this process may use).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '../../src/config/load.js';
import { resolveWorkerCount } from '../../src/cluster/worker-count.js';
import { GateError } from '../../src/errors.js';

test('workers: a count or auto, 1 by default; anything else is CONFIG_INVALID naming the option', () => {
  assert.equal(loadConfig({ env: {} }).workers, 1);
  assert.equal(loadConfig({ env: {}, flags: { workers: '4' } }).workers, 4);
  assert.equal(loadConfig({ env: {}, flags: { workers: 2 } }).workers, 2);
  assert.equal(loadConfig({ env: { GOMODGATE_WORKERS: 'auto' } }).workers, 'auto');
  assert.equal(loadConfig({ env: {}, flags: { workers: 'AUTO' } }).workers, 'auto');
  for (const bad of ['0', '-1', '1.5', 'many', '257']) {
    assert.throws(
      () => loadConfig({ env: {}, flags: { workers: bad } }),
      (e: unknown) => e instanceof GateError && e.code === 'CONFIG_INVALID' && /--workers must be a number of processes 1-256, or auto/.test(e.message),
      bad,
    );
  }
});

test('auto resolves to the cores available, at least 1; a count stays as given', () => {
  assert.equal(resolveWorkerCount('auto', () => 8), 8);
  assert.equal(resolveWorkerCount('auto', () => 0), 1);
  assert.equal(resolveWorkerCount(3, () => 8), 3);
});
