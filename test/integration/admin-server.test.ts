// Integration: the admin listener on a real socket (port 0, loopback): /healthz, /readyz answering 200 or 503
// with the named checks, /metrics in Prometheus text with the cache gauges read from a real SQLite index, and
// nothing else (404, 405).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startAdminServer, type AdminServer, type Readiness } from '../../src/admin/admin-server.js';
import { GatewayMetrics, cacheTotalsFromDb } from '../../src/admin/metrics.js';
import { openDatabase, type Db } from '../../src/store/database.js';

let dir: string;
let db: Db;
let admin: AdminServer;
let metrics: GatewayMetrics;
let readiness: Readiness = { ready: true, checks: { listeners: true, cacheIndex: true } };

function get(path: string, method = 'GET'): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: admin.port, path, method, timeout: 5000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('timeout', () => req.destroy(new Error('admin request timed out')));
    req.on('error', reject);
    req.end();
  });
}

function insertObject(key: string, size: number, sha256 = key.padEnd(64, '0').slice(0, 64)): void {
  db.prepare(
    `INSERT INTO objects (key, kind, module, version, status, sha256, size, content_type, stored_at, expires_at, last_access)
     VALUES (?, 'zip', 'example.com/m', 'v1.0.0', 200, ?, ?, 'application/zip', 0, NULL, 0)`,
  ).run(key, sha256, size);
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gmg-admin-'));
  db = openDatabase(join(dir, 'gomodgate.db'));
  insertObject('mod:example.com/m@v1.0.0.zip', 1000);
  insertObject('mod:example.com/m@v1.1.0.zip', 2500);
  // a go.mod that two versions share: two objects, one blob
  insertObject('mod:example.com/m@v1.2.0.mod', 40, 'f'.repeat(64));
  insertObject('mod:example.com/m@v1.3.0.mod', 40, 'f'.repeat(64));
  metrics = new GatewayMetrics({
    cacheTotals: cacheTotalsFromDb(db),
    singleFlight: () => ({ inflight: 2, joinedTotal: 9 }),
  });
  admin = await startAdminServer({ host: '127.0.0.1', port: 0, metrics, readiness: () => readiness });
});

after(async () => {
  await admin?.close();
  db?.close();
  rmSync(dir, { recursive: true, force: true });
});

test('/healthz answers ok while the process serves', async () => {
  const r = await get('/healthz');
  assert.equal(r.status, 200);
  assert.equal(r.body, 'ok\n');
  assert.equal(r.headers['cache-control'], 'no-store');
});

test('/readyz: 200 with the checks when ready, 503 with the failing check when not', async () => {
  readiness = { ready: true, checks: { listeners: true, cacheIndex: true } };
  const ready = await get('/readyz');
  assert.equal(ready.status, 200);
  assert.match(String(ready.headers['content-type']), /^application\/json/);
  assert.deepEqual(JSON.parse(ready.body), { ready: true, checks: { listeners: true, cacheIndex: true } });

  readiness = { ready: false, checks: { listeners: true, cacheIndex: 'the cache index is closed (shutting down)' } };
  const notReady = await get('/readyz');
  assert.equal(notReady.status, 503);
  assert.deepEqual(JSON.parse(notReady.body), readiness);
  readiness = { ready: true, checks: { listeners: true, cacheIndex: true } };
});

test('/metrics: Prometheus text with the observed series and the cache totals from the index', async () => {
  metrics.observeRequest('zip', 'hit', 3500);
  metrics.observeConnection('intercepted');
  const r = await get('/metrics');
  assert.equal(r.status, 200);
  assert.equal(r.headers['content-type'], metrics.contentType);
  const values = new Map<string, number>();
  for (const line of r.body.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const cut = line.lastIndexOf(' ');
    const raw = line.slice(cut + 1);
    const v = Number(raw);
    // NaN and ±Inf are valid sample values (Prometheus parses them case-insensitively; prom-client writes "Nan")
    assert.ok(!Number.isNaN(v) || /^(nan|[+-]inf)$/i.test(raw), `a sample line ends in a number: ${line}`);
    values.set(line.slice(0, cut), v);
  }
  assert.equal(values.get('gomodgate_requests_total{kind="zip",outcome="hit"}'), 1);
  assert.equal(values.get('gomodgate_response_bytes_total{outcome="hit"}'), 3500);
  assert.equal(values.get('gomodgate_connections_total{decision="intercepted"}'), 1);
  assert.equal(values.get('gomodgate_cache_objects'), 4);
  assert.equal(values.get('gomodgate_cache_bytes'), 3580);
  assert.equal(values.get('gomodgate_cache_blob_bytes'), 3540, 'the shared go.mod counts once');
  assert.equal(values.get('gomodgate_singleflight_inflight'), 2);
  assert.equal(values.get('gomodgate_singleflight_joined_total'), 9);
  assert.match(r.body, /^# HELP gomodgate_requests_total /m);
  assert.match(r.body, /^# TYPE gomodgate_upstream_request_duration_seconds histogram$/m);
});

test('HEAD answers the headers without a body; other methods 405, other paths 404', async () => {
  const head = await get('/healthz', 'HEAD');
  assert.equal(head.status, 200);
  assert.equal(head.body, '');
  assert.equal(head.headers['content-length'], '3');
  const post = await get('/metrics', 'POST');
  assert.equal(post.status, 405);
  assert.equal(post.headers.allow, 'GET, HEAD');
  const other = await get('/debug/pprof');
  assert.equal(other.status, 404);
  const query = await get('/healthz?verbose=1');
  assert.equal(query.status, 200);
});

test('HEAD /metrics collects nothing: the longest stall since the last GET is still there for the next GET', async () => {
  await get('/metrics'); // a scrape: the stall window starts here
  const until = Date.now() + 300;
  while (Date.now() < until) {
    // a 300 ms stall of this process's event loop, which the gauge samples
  }
  await new Promise((r) => setTimeout(r, 20)); // the sampler's next tick records it
  const head = await get('/metrics', 'HEAD');
  assert.equal(head.status, 200);
  assert.equal(head.body, '');
  assert.match(String(head.headers['content-type']), /^text\/plain/);
  const r = await get('/metrics');
  const stall = Number(/^gomodgate_event_loop_delay_max_seconds ([0-9.e+-]+)$/m.exec(r.body)?.[1]);
  assert.ok(stall >= 0.25, `the 300 ms stall survived the HEAD (gauge ${stall} s)`);
});

test('a port in use is a CONFIG_INVALID error naming the port', async () => {
  await assert.rejects(
    startAdminServer({ host: '127.0.0.1', port: admin.port, metrics, readiness: () => readiness }),
    (err: Error & { code?: string }) => err.code === 'CONFIG_INVALID' && err.message.includes(`127.0.0.1:${admin.port}`),
  );
});

test('close stops the listener', async () => {
  const extra = await startAdminServer({ host: '127.0.0.1', port: 0, metrics, readiness: () => readiness });
  const port = extra.port;
  await extra.close();
  await assert.rejects(
    new Promise((resolve, reject) => {
      const req = http.get({ host: '127.0.0.1', port, path: '/healthz', timeout: 2000 }, resolve);
      req.on('error', reject);
    }),
    (err: NodeJS.ErrnoException) => err.code === 'ECONNREFUSED',
  );
});
