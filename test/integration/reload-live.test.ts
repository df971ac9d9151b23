// Integration: every option the schema marks `reload: 'live'` is changed on a running gateway through
// reload() (what SIGHUP calls) and its effect is observed through the real listeners: a new upstream answers,
// offline stops upstream traffic, the client ACL closes the proxy port, the log level silences lines, a hit's
// line moves to debug (logHits), a new
// intercepted host gets a gateway certificate, and a lower cache.maxBytes evicts down to the new limit at once.
// A live option added to the schema without an observation here fails the last test.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import tls from 'node:tls';
import { Writable } from 'node:stream';
import { loadConfig, type GatewayConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/logger.js';
import { startGateway, type Gateway } from '../../src/app.js';
import { liveOptionKeys } from '../../src/config/reload-plan.js';
import { caPaths } from '../../src/intercept/ca-store.js';
import { openDatabase } from '../../src/store/database.js';
import { indexedBlobBytes } from '../../src/store/eviction.js';
import { startModuleUpstream, type ModuleUpstream, type AddedModule } from '../helpers/module-upstream.js';
import { fetchVia, waitFor } from '../helpers/gateway.js';

const dir = mkdtempSync(join(tmpdir(), 'gmg-reload-'));
const observed = new Set<string>();
let upA: ModuleUpstream;
let upB: ModuleUpstream;
let gateway: Gateway;
let logged = '';
let overrides: Record<string, unknown> = {};
const zips: Record<'a' | 'b' | 'c', AddedModule> = {} as never;

function config(): GatewayConfig {
  return loadConfig({
    env: {},
    flags: {
      dataDir: join(dir, 'data'), caDir: join(dir, 'certs'), listen: '127.0.0.1', tlsPort: 0, httpPort: 0, proxyPort: 0, adminPort: 0,
      // prefetch: the steps whose effect the tests below count (mod-info would fetch a .info the offline test counts)
      sumdb: 'off', logLevel: 'info', upstream: upA.url, vulndbUrl: upA.url, prefetch: ['info-mod', 'mod-zip'], ...overrides,
    },
  });
}

/** Changes options as a SIGHUP with an edited file would, and returns what the gateway reported. */
function reloadWith(change: Record<string, unknown>): { applied: string[]; needsRestart: string[] } {
  overrides = { ...overrides, ...change };
  return gateway.reload(config());
}

const proxyUrl = (path: string) => `http://127.0.0.1:${gateway.ports.proxy}${path}`;

/** Resolves once the wall clock has moved past its current millisecond (so last_access orders the fetches). */
function nextMillisecond(): Promise<boolean> {
  const t = Date.now();
  return waitFor('the clock to tick', () => Date.now() > t);
}

before(async () => {
  upA = await startModuleUpstream({ tls: false });
  upB = await startModuleUpstream({ tls: false });
  zips.a = upA.addModule({ path: 'example.com/a', version: 'v1.0.0', files: { 'data.bin': randomBytes(20_000) } });
  zips.b = upA.addModule({ path: 'example.com/b', version: 'v1.0.0', files: { 'data.bin': randomBytes(30_000) } });
  zips.c = upA.addModule({ path: 'example.com/c', version: 'v1.0.0', files: { 'data.bin': randomBytes(40_000) } });
  upB.addModule({ path: 'example.com/onlyb', version: 'v1.0.0', files: { 'x.go': 'package onlyb\n' } });
  const capture = new Writable({ write(c, _e, cb) { logged += c; cb(); } });
  const cfg = config();
  gateway = await startGateway(cfg, createLogger(cfg.logLevel, capture));
});

after(async () => {
  await gateway?.close(2000);
  await upA?.close();
  await upB?.close();
  rmSync(dir, { recursive: true, force: true });
});

test('cache.maxBytes: a lower limit evicts least recently used blobs down to it at once', async () => {
  for (const name of ['a', 'b', 'c'] as const) {
    const r = await fetchVia(proxyUrl(`/example.com/${name}/@v/v1.0.0.zip`));
    assert.equal(r.status, 200);
    await nextMillisecond();
  }
  const db = openDatabase(join(dir, 'data', 'gomodgate.db'), { readonly: true });
  try {
    assert.equal(indexedBlobBytes(db), zips.a.zipSize + zips.b.zipSize + zips.c.zipSize, 'all three cached');
    const limit = zips.c.zipSize + 1000;
    const r = reloadWith({ 'cache.maxBytes': limit });
    assert.deepEqual(r, { applied: ['cache.maxBytes'], needsRestart: [] });
    assert.ok(indexedBlobBytes(db) <= limit, `the cache holds at most the new limit (${indexedBlobBytes(db)} > ${limit})`);
    const keys = (db.prepare("SELECT key FROM objects WHERE key LIKE '%.zip'").all() as { key: string }[]).map((o) => o.key);
    assert.deepEqual(keys, ['mod:example.com/c@v1.0.0.zip'], 'the most recently used zip stays');
  } finally {
    db.close();
  }
  observed.add('cache.maxBytes');
});

test('upstream: requests go to the new upstream list', async () => {
  assert.notEqual((await fetchVia(proxyUrl('/example.com/onlyb/@v/list'))).status, 200, 'the first upstream does not have it');
  assert.deepEqual(reloadWith({ upstream: upB.url }), { applied: ['upstream'], needsRestart: [] });
  const r = await fetchVia(proxyUrl('/example.com/onlyb/@v/v1.0.0.mod'));
  assert.equal(r.status, 200);
  assert.equal(upB.hits('/example.com/onlyb/@v/v1.0.0.mod'), 1);
  observed.add('upstream');
});

test('offline: an uncached object is not fetched upstream', async () => {
  assert.deepEqual(reloadWith({ offline: true }), { applied: ['offline'], needsRestart: [] });
  const r = await fetchVia(proxyUrl('/example.com/onlyb/@v/v1.0.0.info'));
  assert.notEqual(r.status, 200);
  assert.equal(upB.hits('/example.com/onlyb/@v/v1.0.0.info'), 0);
  assert.deepEqual(reloadWith({ offline: false }), { applied: ['offline'], needsRestart: [] });
  assert.equal((await fetchVia(proxyUrl('/example.com/onlyb/@v/v1.0.0.info'))).status, 200, 'online again');
  observed.add('offline');
});

test('private: a path made private by a reload is refused at once and never asked upstream', async () => {
  const secret = '/example.com/onlyb/@v/v1.0.0.zip';
  assert.deepEqual(reloadWith({ private: ['example.com/only*'] }), { applied: ['private'], needsRestart: [] });
  const before = upB.hits(secret);
  const r = await fetchVia(proxyUrl(secret));
  assert.equal(r.status, 404);
  assert.match(r.body.toString(), /private here \(example\.com\/only\*\)/);
  assert.equal(upB.hits(secret), before, 'the private path never reached the upstream');
  // --nosumdb goes with it (one replacement of both); its effect on verification is module-policy's unit test
  assert.deepEqual(reloadWith({ private: [], nosumdb: ['example.com/onlyb'] }), { applied: ['nosumdb', 'private'], needsRestart: [] });
  assert.equal((await fetchVia(proxyUrl(secret))).status, 200, 'public again');
  observed.add('private');
  observed.add('nosumdb');
});

test('auditRetention: a shorter retention deletes the rows past it at once', async () => {
  // a row of long ago, written as another connection (a worker, an older gomodgate) would have
  const other = openDatabase(join(dir, 'data', 'gomodgate.db'));
  try {
    other.prepare("INSERT INTO audit (ts, client, host, method, path, outcome, status) VALUES (?, '10.0.0.9', 'proxy.golang.org', 'GET', '/old/@v/list', 'hit', 200)").run(Date.now() - 40 * 86_400_000);
    const old = () => other.prepare("SELECT count(*) FROM audit WHERE client = '10.0.0.9'").pluck().get() as number;
    const recent = () => other.prepare("SELECT count(*) FROM audit WHERE client <> '10.0.0.9'").pluck().get() as number;
    assert.equal(old(), 1, 'kept under the default 90 days');
    await waitFor("the earlier tests' rows written (their batch)", () => recent() > 0); // else "recent rows stay" proves nothing
    assert.deepEqual(reloadWith({ auditRetention: '30d' }), { applied: ['auditRetention'], needsRestart: [] });
    await waitFor('the old row deleted', () => old() === 0);
    assert.ok(recent() > 0, 'recent rows stay');
  } finally {
    other.close();
  }
  observed.add('auditRetention');
});

test('prefetch: off stops fetching ahead at once, and on again resumes it', async () => {
  for (const version of ['v1.0.0', 'v1.1.0']) upB.addModule({ path: 'example.com/ahead', version, files: { 'ahead.go': 'package ahead\n' } });
  assert.deepEqual(reloadWith({ prefetch: ['off'] }), { applied: ['prefetch'], needsRestart: [] });
  const joined = gateway.joinedFetches;
  const off = '/example.com/ahead/@v/v1.0.0';
  assert.equal((await fetchVia(proxyUrl(`${off}.info`))).status, 200);
  assert.equal((await fetchVia(proxyUrl(`${off}.mod`))).headers['x-gomodgate-cache'], 'miss');
  assert.equal((await fetchVia(proxyUrl(`${off}.zip`))).headers['x-gomodgate-cache'], 'miss');
  assert.equal(gateway.joinedFetches, joined, 'no client request joined a prefetch in progress');
  assert.equal(upB.hits(`${off}.zip`), 1);
  assert.deepEqual(reloadWith({ prefetch: ['info-mod', 'mod-zip'] }), { applied: ['prefetch'], needsRestart: [] });
  const on = '/example.com/ahead/@v/v1.1.0';
  assert.equal((await fetchVia(proxyUrl(`${on}.info`))).status, 200);
  await waitFor('the .zip fetched ahead', () => upB.hits(`${on}.zip`) === 1);
  assert.equal((await fetchVia(proxyUrl(`${on}.zip`))).status, 200);
  assert.equal(upB.hits(`${on}.mod`), 1);
  assert.equal(upB.hits(`${on}.zip`), 1);
  observed.add('prefetch');
});

/** A raw keep-alive connection to the proxy port; `ask` sends one GET and resolves with its status line, or the socket's end. */
function keepAliveConnection(): Promise<{ ask: (path: string) => Promise<string>; closed: Promise<void>; socket: net.Socket }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port: gateway.ports.proxy }, () => {
      socket.removeListener('error', reject);
      socket.on('error', () => undefined); // a write after the gateway closed it: 'close' follows
      resolve({ ask, closed, socket });
    });
    socket.once('error', reject);
    let received = '';
    let waiter: ((line: string) => void) | null = null;
    const closed = new Promise<void>((done) => socket.once('close', () => {
      waiter?.('closed');
      done();
    }));
    socket.on('data', (c) => {
      received += c.toString('latin1');
      const line = /^HTTP\/1\.1 \d{3}[^\r]*/.exec(received);
      if (line && waiter) {
        received = '';
        waiter(line[0]);
      }
    });
    const ask = (path: string) =>
      new Promise<string>((answered) => {
        waiter = answered;
        if (socket.destroyed) return answered('closed');
        socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
      });
  });
}

test('allowClients: the proxy port closes on a client no longer allowed, and opens again', async () => {
  const open = await keepAliveConnection();
  assert.match(await open.ask('/example.com/onlyb/@v/v1.0.0.mod'), /^HTTP\/1\.1 200/);
  assert.deepEqual(reloadWith({ allowClients: ['10.0.0.0/8'] }), { applied: ['allowClients'], needsRestart: [] });
  // the connection opened while it was allowed is closed by the reload: its next request gets no answer
  assert.equal(await open.ask('/example.com/onlyb/@v/v1.0.0.mod'), 'closed');
  await open.closed;
  await assert.rejects(fetchVia(proxyUrl('/example.com/onlyb/@v/v1.0.0.mod')));
  assert.match(logged, /client no longer in allowClients; open connection closed/);
  reloadWith({ allowClients: ['127.0.0.0/8'] });
  assert.equal((await fetchVia(proxyUrl('/example.com/onlyb/@v/v1.0.0.mod'))).status, 200);
  observed.add('allowClients');
});

/** A direct connection to the transparent TLS port is refused with one warn line; resolves when it is closed. */
function refusedConnection(): Promise<void> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port: gateway.ports.tls });
    s.on('error', () => resolve());
    s.on('close', () => resolve());
  });
}

test('logLevel: lines below the new level stop', async () => {
  const count = () => logged.split('\n').filter((l) => l.includes('"connection refused"')).length;
  await refusedConnection();
  const before = count();
  assert.ok(before >= 1, 'a warn line at level info');
  assert.deepEqual(reloadWith({ logLevel: 'error' }), { applied: ['logLevel'], needsRestart: [] });
  await refusedConnection();
  assert.equal(count(), before, 'no warn line at level error');
  reloadWith({ logLevel: 'warn' });
  await refusedConnection();
  assert.equal(count(), before + 1, 'warn lines again');
  observed.add('logLevel');
});

/** CONNECT host:443 through the proxy port, then TLS trusting only the gateway CA; resolves to the leaf's CN or an error. */
function interceptedCommonName(host: string): Promise<string | Error> {
  const ca = readFileSync(caPaths(join(dir, 'certs')).certFile, 'utf8');
  return new Promise((resolve) => {
    const req = http.request({ host: '127.0.0.1', port: gateway.ports.proxy, method: 'CONNECT', path: `${host}:443`, agent: false });
    req.setTimeout(10_000, () => req.destroy(new Error('CONNECT timed out')));
    req.on('error', resolve);
    req.on('connect', (res, socket) => {
      if (res.statusCode !== 200) return resolve(new Error(`CONNECT answered ${res.statusCode}`));
      const t = tls.connect({ socket, servername: host, ca, timeout: 10_000 }, () => {
        const cn = String(t.getPeerCertificate().subject?.CN ?? '');
        t.destroy();
        resolve(cn);
      });
      t.on('error', resolve);
      t.on('timeout', () => t.destroy(new Error('TLS timed out')));
    });
    req.end();
  });
}

test('interceptHosts: a newly listed host is intercepted with a gateway certificate', async () => {
  assert.ok((await interceptedCommonName('mods.example')) instanceof Error, 'not intercepted before the reload');
  assert.deepEqual(reloadWith({ interceptHosts: ['proxy.golang.org', 'mods.example'] }), { applied: ['interceptHosts'], needsRestart: [] });
  assert.equal(await interceptedCommonName('mods.example'), 'mods.example');
  observed.add('interceptHosts');
});

test('vulndbSync: turning it on syncs the vulnerability database at once (here: a server without one)', async () => {
  const failures = () => logged.split('\n').filter((l) => l.includes('vulnerability database sync failed')).length;
  assert.equal(failures(), 0, 'no sync while vulndbSync is 0');
  assert.deepEqual(reloadWith({ vulndbSync: '6h' }), { applied: ['vulndbSync'], needsRestart: [] });
  await waitFor('the sync attempt to be logged', () => failures() === 1);
  assert.match(logged, /index\/db\.json: missing from http:\/\/127\.0\.0\.1:\d+/);
  assert.deepEqual(reloadWith({ vulndbSync: 'off' }), { applied: ['vulndbSync'], needsRestart: [] });
  observed.add('vulndbSync');
});

test('options that need a restart are reported and not applied, at every reload until the file is back to what runs', () => {
  assert.deepEqual(reloadWith({ tlsPort: 1, mutableTtl: 5 }), { applied: [], needsRestart: ['tlsPort', 'mutableTtl'] });
  // it compared against the file's previous contents, so a second SIGHUP said all was in force
  assert.deepEqual(reloadWith({}), { applied: [], needsRestart: ['tlsPort', 'mutableTtl'] }, 'the same file again');
  delete overrides.tlsPort;
  delete overrides.mutableTtl;
  assert.deepEqual(gateway.reload(config()), { applied: [], needsRestart: [] }, 'the file back to the running values');
});

test('logHits: at debug a cache hit leaves no info line (its audit row stays); misses still log at info', async () => {
  const path = '/example.com/onlyb/@v/v1.0.0.info';
  const lines = (p: string, level = 'info') => logged.split('\n').filter((l) => l.includes('"msg":"go request"') && l.includes(`"path":"${p}"`) && l.includes(`"level":"${level}"`)).length;
  reloadWith({ logLevel: 'info', offline: false, upstream: upB.url });
  assert.equal((await fetchVia(proxyUrl(path))).status, 200);
  const first = lines(path);
  assert.equal((await fetchVia(proxyUrl(path))).headers['x-gomodgate-cache'], 'hit');
  assert.equal(lines(path), first, 'by default a hit has no info line');
  assert.deepEqual(reloadWith({ logHits: 'info' }), { applied: ['logHits'], needsRestart: [] });
  const before = lines(path);
  const hit = await fetchVia(proxyUrl(path));
  assert.equal(hit.headers['x-gomodgate-cache'], 'hit');
  assert.equal(lines(path), before + 1, 'at logHits info a hit logs at info');
  assert.deepEqual(reloadWith({ logHits: 'debug' }), { applied: ['logHits'], needsRestart: [] });
  const quiet = await fetchVia(proxyUrl(path));
  assert.equal(quiet.headers['x-gomodgate-cache'], 'hit');
  assert.equal(quiet.body.toString(), hit.body.toString());
  assert.equal(lines(path), before + 1, 'no info line for a hit at logHits debug');
  // a miss is still an info line
  const list = '/example.com/onlyb/@v/list';
  const listBefore = lines(list);
  assert.equal((await fetchVia(proxyUrl(list))).headers['x-gomodgate-cache'], 'miss');
  assert.equal(lines(list), listBefore + 1);
  // at logLevel debug the hit's line is there, at debug
  reloadWith({ logLevel: 'debug' });
  assert.equal((await fetchVia(proxyUrl(path))).headers['x-gomodgate-cache'], 'hit');
  assert.equal(lines(path, 'debug'), 1);
  reloadWith({ logLevel: 'info', logHits: 'debug' });
  // the four hits above have their audit rows (written at close at the latest), whatever their log level
  await gateway.close(2000);
  const db = openDatabase(join(dir, 'data', 'gomodgate.db'), { readonly: true });
  try {
    const rows = db.prepare("SELECT outcome, count(*) AS n FROM audit WHERE path = ? GROUP BY outcome ORDER BY outcome").all(path) as { outcome: string; n: number }[];
    assert.ok((rows.find((r) => r.outcome === 'hit')?.n ?? 0) >= 4, JSON.stringify(rows));
  } finally {
    db.close();
  }
  observed.add('logHits');
});

test('every live option of the schema was changed and observed above', () => {
  assert.deepEqual(liveOptionKeys().filter((k) => !observed.has(k)), []);
});
