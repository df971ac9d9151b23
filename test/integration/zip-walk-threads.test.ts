// Integration: a real gomodgate on loopback whose downloading zips are walked and hashed on worker threads,
// with the test's thread script (test/helpers/stopping-zip-walk-worker.ts): the real walk, except that a zip
// carrying STOP_THREAD_MARK kills its thread mid-download. What is asserted: that download answers 502 with a
// one-line reason, nothing is stored (no index row, no temp file), the gateway keeps serving, and the next zip
// is walked on a new thread and served whole (bytes and hash), stored with its row. Real upstream over HTTP.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestGateway, fetchVia, type TestGateway } from '../helpers/gateway.js';
import { startModuleUpstream, type ModuleUpstream } from '../helpers/module-upstream.js';
import { storedRows, tempFiles } from '../helpers/store-check.js';
import { ZipWalkThreads } from '../../src/verify/zip-walk-pool.js';
import { STOP_THREAD_MARK } from '../helpers/stopping-zip-walk-worker.js';

const STOPPING_WORKER = new URL('../helpers/stopping-zip-walk-worker.js', import.meta.url);
const M = 'example.com/walk/threads';

let upstream: ModuleUpstream;
let gw: TestGateway;

before(async () => {
  upstream = await startModuleUpstream({ tls: false });
  gw = await startTestGateway({ upstream: upstream.url }, { parts: { zipWalks: new ZipWalkThreads({ threads: 1, workerUrl: STOPPING_WORKER }) } });
});

after(async () => {
  await gw?.close();
  await upstream?.close();
});

test('a zip hashing thread that dies fails that download with 502 and stores nothing; the next zip gets a new thread', async () => {
  upstream.addModule({ path: M, version: 'v1.0.0', files: { [`${STOP_THREAD_MARK}.go`]: 'package threads\n' } });
  const good = upstream.addModule({ path: M, version: 'v1.0.1', files: { 'a.go': 'package threads\n'.repeat(10_000) } });
  const doomedPath = `/${M}/@v/v1.0.0.zip`;
  const goodPath = `/${M}/@v/v1.0.1.zip`;

  const doomed = await fetchVia(`${gw.baseUrl}${doomedPath}`);
  assert.equal(doomed.status, 502);
  assert.match(String(doomed.headers['content-type']), /^text\/plain/);
  const reason = doomed.body.toString('utf8');
  assert.match(reason, /zip hashing thread stopped .*nothing was cached, try again/);
  assert.equal(reason.trim().split('\n').length, 1, `one line: ${reason}`);
  assert.equal(upstream.hits(doomedPath), 1);
  assert.deepEqual(storedRows(gw.dataDir).filter((r) => r.key.includes('v1.0.0')), [], 'no index row');
  assert.deepEqual(tempFiles(gw.dataDir), [], 'no partial download left');

  const served = await fetchVia(`${gw.baseUrl}${goodPath}`);
  assert.equal(served.status, 200);
  assert.equal(served.sha256, good.zipSha256);
  assert.equal(served.bytes, good.zipSize);
  assert.equal(storedRows(gw.dataDir).filter((r) => r.key.includes('v1.0.1') && r.kind === 'zip').length, 1, 'stored once');

  // the failure was not remembered as an answer: asked again, upstream is asked again (and the thread dies again)
  const again = await fetchVia(`${gw.baseUrl}${doomedPath}`);
  assert.equal(again.status, 502);
  assert.equal(upstream.hits(doomedPath), 2);
});
