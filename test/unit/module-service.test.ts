// Unit: ModuleService below the gateway, with no sockets and no sleeps. The upstream is an in-memory fake whose
// bodies are streams the test writes, ends or breaks; the clock is a number the test advances; the store is
// real (a temp-dir BlobStore and a SQLite CacheIndex). Covers hit/miss/stale, remembered 404s, single-flight,
// a client leaving mid-body, an upstream failing mid-body, answer checks and the fetch deadline (the one real
// timer, ~100 ms, never asserted as a duration). Zips are real module zips: the service checks them whole
// before answering (src/verify/dirhash.ts), so every answer here arrives only once its object is stored.
import { test, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { PassThrough, Readable } from 'node:stream';
import { openDatabase, type Db } from '../../src/store/database.js';
import { BlobStore } from '../../src/store/blob-store.js';
import { CacheIndex, type CachedObject } from '../../src/store/cache-index.js';
import { ModuleService, cacheKeyFor, type ModuleReply, type ModuleServiceOptions } from '../../src/service/module-service.js';
import { parseProxyPath, type ModuleRequest } from '../../src/goproxy/request-path.js';
import { singleHop } from '../../src/upstream/upstream-chain.js';
import type { Upstream, UpstreamResponse, UpstreamTarget } from '../../src/upstream/upstream.js';
import { GateError, httpStatusFor } from '../../src/errors.js';
import { buildZipSync, moduleZipEntries } from '../helpers/module-zip.js';
import { settle } from '../helpers/settle.js';

const BASE = 'https://proxy.test';
const CHAIN = singleHop({ base: new URL(BASE) });
const MUTABLE_TTL_S = 60;
const NEGATIVE_TTL_S = 30;

type Answer = Omit<UpstreamResponse, 'url'> | Error;

/** An upstream in memory: one handler per path, every request counted. Unknown paths answer 404. */
class FakeUpstream implements Upstream {
  readonly routes = new Map<string, () => Answer>();
  readonly hits = new Map<string, number>();

  async request(target: UpstreamTarget, path: string): Promise<UpstreamResponse> {
    this.hits.set(path, (this.hits.get(path) ?? 0) + 1);
    const handler = this.routes.get(path);
    const answer = handler ? handler() : { status: 404, headers: {}, body: Readable.from([Buffer.from('not found: ' + path)]) };
    if (answer instanceof Error) throw answer;
    return { ...answer, url: target.base.origin + path };
  }

  /** A 200 with a fixed body (a fresh stream per request). */
  serve(path: string, body: string | Buffer, headers: Record<string, string> = {}): void {
    this.routes.set(path, () => ({ status: 200, headers, body: Readable.from([Buffer.from(body)]) }));
  }

  /** A 200 whose body is a stream the test controls; the same stream for every request (there should be one). */
  serveStream(path: string): PassThrough {
    const body = new PassThrough();
    this.routes.set(path, () => ({ status: 200, headers: {}, body }));
    return body;
  }

  count(path: string): number {
    return this.hits.get(path) ?? 0;
  }
}

let dir: string;
let db: Db;
let index: CacheIndex;
let blobs: BlobStore;
let upstream: FakeUpstream;
let clock: number;
let stored: CachedObject[];
let backgroundErrors: unknown[];

function service(extra: Partial<ModuleServiceOptions> = {}): ModuleService {
  return new ModuleService({
    index,
    blobs,
    upstream,
    now: () => clock,
    mutableTtlSeconds: MUTABLE_TTL_S,
    negativeTtlSeconds: NEGATIVE_TTL_S,
    onStored: (o) => stored.push(o),
    onBackgroundError: (err) => backgroundErrors.push(err),
    ...extra,
  });
}

function request(path: string): ModuleRequest {
  const parsed = parseProxyPath(path);
  assert.equal(parsed.ok, true, `${path} parses`);
  return (parsed as { ok: true; request: ModuleRequest }).request;
}

function ask(svc: ModuleService, path: string, method: 'GET' | 'HEAD' = 'GET'): Promise<ModuleReply> {
  return svc.answer({ request: request(path), upstream: CHAIN, method });
}

async function bodyOf(reply: ModuleReply): Promise<Buffer> {
  if (reply.body === null) return Buffer.alloc(0);
  if (Buffer.isBuffer(reply.body)) return reply.body;
  const parts: Buffer[] = [];
  for await (const chunk of reply.body as AsyncIterable<Buffer>) parts.push(chunk);
  return Buffer.concat(parts);
}

function sha256(b: Buffer | string): string {
  return createHash('sha256').update(b).digest('hex');
}

/** A module zip the go command would accept, with `bytes` of incompressible content. */
function moduleZip(module: string, version: string, bytes: number): Buffer {
  return buildZipSync(moduleZipEntries(module, version, { 'data.bin': randomBytes(bytes) }, `module ${module}\n`)).zip;
}

function isGate(code: string): (e: unknown) => boolean {
  return (e) => e instanceof GateError && e.code === code;
}

function keyOf(path: string): string {
  return cacheKeyFor(request(path), CHAIN);
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'module-service-'));
  db = openDatabase(join(dir, 'gomodgate.db'));
  index = new CacheIndex(db);
  blobs = new BlobStore(dir);
  upstream = new FakeUpstream();
  clock = Date.UTC(2026, 0, 1);
  stored = [];
  backgroundErrors = [];
});

afterEach(() => {
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

test('miss, then hit without upstream; after the TTL a refresh; with upstream down, the stale copy', async () => {
  const svc = service();
  const list = '/example.com/m/@v/list';
  upstream.serve(list, 'v1.0.0\nv1.1.0\n');

  const first = await ask(svc, list);
  assert.equal(first.outcome, 'miss');
  assert.equal((await bodyOf(first)).toString(), 'v1.0.0\nv1.1.0\n');
  assert.equal(upstream.count(list), 1);

  clock += (MUTABLE_TTL_S - 1) * 1000;
  const second = await ask(svc, list);
  assert.equal(second.outcome, 'hit');
  assert.equal(second.headers['x-gomodgate-cache'], 'hit');
  assert.equal((await bodyOf(second)).toString(), 'v1.0.0\nv1.1.0\n');
  assert.equal(upstream.count(list), 1, 'a fresh hit asks nobody');

  clock += 2000; // past the TTL
  upstream.serve(list, 'v1.0.0\nv1.1.0\nv1.2.0\n');
  const refreshed = await ask(svc, list);
  assert.equal(refreshed.outcome, 'miss');
  assert.equal((await bodyOf(refreshed)).toString(), 'v1.0.0\nv1.1.0\nv1.2.0\n');
  assert.equal(upstream.count(list), 2);
  assert.equal(index.get(keyOf(list))!.expiresAt, clock + MUTABLE_TTL_S * 1000, 'expiry follows the injected clock');

  clock += (MUTABLE_TTL_S + 1) * 1000;
  upstream.routes.set(list, () => new GateError('UPSTREAM_UNAVAILABLE', 'upstream proxy.test refused the connection'));
  const stale = await ask(svc, list);
  assert.equal(stale.outcome, 'stale');
  assert.equal(stale.headers['x-gomodgate-cache'], 'stale');
  assert.match(stale.headers['warning'] ?? '', /stale/);
  assert.equal(stale.warning, 'served the cached copy: upstream proxy.test refused the connection', 'the audit row says why');
  assert.equal((await bodyOf(stale)).toString(), 'v1.0.0\nv1.1.0\nv1.2.0\n');
  assert.equal(upstream.count(list), 3);
});

test('a refreshed list, @latest or a 200 that became a 404 leaves no blob file that no row names', async () => {
  const svc = service();
  const list = '/example.com/r/@v/list';
  const latest = '/example.com/r/@latest';
  const files = () => blobs.listBlobFiles().map((f) => f.sha256).sort();
  const named = () => [...new Set((db.prepare('SELECT sha256 FROM objects WHERE sha256 IS NOT NULL').pluck().all() as string[]))].sort();
  for (let i = 0; i < 4; i++) {
    upstream.serve(list, `v1.0.${i}\n`);
    upstream.serve(latest, JSON.stringify({ Version: `v1.0.${i}`, Time: '2019-01-01T00:00:00Z' }));
    assert.equal((await bodyOf(await ask(svc, list))).toString(), `v1.0.${i}\n`);
    await bodyOf(await ask(svc, latest));
    clock += (MUTABLE_TTL_S + 1) * 1000; // both expire: the next round stores new content under the same keys
  }
  assert.deepEqual(files(), named(), 'every blob file is named by a row');
  assert.equal(files().length, 2, 'the list and @latest, each once');
  // the same content again shares its blob: nothing is removed that a row still names
  upstream.serve(list, 'v1.0.3\n');
  await bodyOf(await ask(svc, list));
  assert.equal((await bodyOf(await ask(svc, list))).toString(), 'v1.0.3\n');
  // a 200 replaced by a remembered 404: its blob goes too
  clock += (MUTABLE_TTL_S + 1) * 1000;
  upstream.routes.delete(list);
  assert.equal((await ask(svc, list)).status, 404);
  assert.deepEqual(files(), named());
  assert.equal(files().length, 1, '@latest alone');
});

test('immutable objects stay hits however far the clock moves; HEAD sends no body', async () => {
  const svc = service();
  const zip = '/example.com/m/@v/v1.0.0.zip';
  const content = moduleZip('example.com/m', 'v1.0.0', 100);
  upstream.serve(zip, content);
  assert.equal(sha256(await bodyOf(await ask(svc, zip))), sha256(content));
  await settle('the zip is stored', () => stored.length === 1);
  clock += 10 * 365 * 86_400_000;
  const later = await ask(svc, zip, 'HEAD');
  assert.equal(later.outcome, 'hit');
  assert.equal(later.body, null);
  assert.equal(later.headers['content-length'], String(content.length));
  assert.equal(upstream.count(zip), 1);
});

test('a cached zip up to 256 KiB is answered as one buffer, kept in memory; a larger one streams from its file', async () => {
  const svc = service();
  const small = '/example.com/mid/@v/v1.0.0.zip';
  const large = '/example.com/big/@v/v1.0.0.zip';
  const smallZip = moduleZip('example.com/mid', 'v1.0.0', 200 * 1024);
  const largeZip = moduleZip('example.com/big', 'v1.0.0', 300 * 1024);
  assert.ok(smallZip.length > 64 * 1024 && smallZip.length <= 256 * 1024 && largeZip.length > 256 * 1024);
  upstream.serve(small, smallZip);
  upstream.serve(large, largeZip);
  await bodyOf(await ask(svc, small));
  await bodyOf(await ask(svc, large));
  await settle('both zips are stored', () => stored.length === 2);

  const hit = await ask(svc, small);
  assert.equal(hit.outcome, 'hit');
  assert.ok(Buffer.isBuffer(hit.body), 'one buffer, no stream');
  assert.equal(sha256(hit.body as Buffer), sha256(smallZip));
  // a blob is named by its hash, so the copy kept in memory answers even once the file is gone: no file I/O
  rmSync(blobs.pathOf(stored.find((o) => o.key === keyOf(small))!.sha256!));
  const again = await ask(svc, small);
  assert.equal(again.outcome, 'hit');
  assert.equal(sha256(await bodyOf(again)), sha256(smallZip));

  const streamed = await ask(svc, large);
  assert.equal(streamed.outcome, 'hit');
  assert.ok(streamed.body !== null && !Buffer.isBuffer(streamed.body), 'a stream from the file');
  assert.equal(sha256(await bodyOf(streamed)), sha256(largeZip));
  assert.equal(upstream.count(small) + upstream.count(large), 2, 'hits ask nobody');
});

test('a large blob cut short is fetched again, never sent under its full length; a blob that cannot be read keeps its row', async () => {
  const svc = service();
  const path = '/example.com/cut/@v/v1.0.0.zip';
  const zip = moduleZip('example.com/cut', 'v1.0.0', 300 * 1024);
  upstream.serve(path, zip);
  await bodyOf(await ask(svc, path));
  await settle('the zip is stored', () => stored.length === 1);
  const file = blobs.pathOf(stored[0]!.sha256!);
  truncateSync(file, 100_000);

  const healed = await ask(svc, path);
  assert.equal(healed.outcome, 'miss', 'the cut file is not answered as a hit');
  assert.equal(sha256(await bodyOf(healed)), sha256(zip));
  assert.equal(upstream.count(path), 2);
  await settle('the zip is stored again', () => stored.length === 2);
  assert.equal(statSync(file).size, zip.length);
  assert.equal((await ask(svc, path)).outcome, 'hit');

  // the gateway's own trouble opening the file (here ELOOP, a link to itself in its place, as EMFILE or EACCES
  // would be; root ignores modes) says nothing about the blob: the row stays
  rmSync(file);
  symlinkSync(file, file);
  await ask(svc, path).then(bodyOf, () => Buffer.alloc(0));
  assert.ok(index.get(keyOf(path)), 'the index row is kept');
  rmSync(file);
  writeFileSync(file, zip);
  const back = await ask(svc, path);
  assert.equal(back.outcome, 'hit');
  assert.equal(sha256(await bodyOf(back)), sha256(zip));
});

/** What another process's eviction does to an object this one just stored: its row and its file go, not this process's memory. */
function evictElsewhere(o: CachedObject): void {
  index.delete(o.key);
  rmSync(blobs.pathOf(o.sha256!));
}

test('a small object evicted by another process right after it was stored is answered from the copy in hand', async () => {
  const svc = service({
    onStored: (o) => {
      stored.push(o);
      evictElsewhere(o);
    },
  });
  const path = '/example.com/small/@v/v1.0.0.mod';
  upstream.serve(path, 'module example.com/small\n');
  const reply = await ask(svc, path);
  assert.equal(reply.outcome, 'miss');
  assert.equal((await bodyOf(reply)).toString(), 'module example.com/small\n');
  assert.equal(upstream.count(path), 1, 'not fetched again');
  assert.equal(index.get(keyOf(path)), null, 'the eviction stands');
});

test('a large object evicted right after it was stored is fetched once more, then a clear error', async () => {
  let evictions = 0;
  const svc = service({
    onStored: (o) => {
      stored.push(o);
      if (evictions++ === 0) evictElsewhere(o);
    },
  });
  // over the size a reply holds in memory (SMALL_BLOB_BYTES): read from the file, which is gone
  const big = (m: string) => `module ${m}\n\n// ${'x'.repeat(300_000)}\n`;
  const path = '/example.com/big/@v/v1.0.0.mod';
  upstream.serve(path, big('example.com/big'));
  const reply = await ask(svc, path);
  assert.equal(reply.outcome, 'miss');
  assert.equal(sha256(await bodyOf(reply)), sha256(big('example.com/big')));
  assert.equal(upstream.count(path), 2);
  // evicted every time: a clear error, not a loop
  const always = service({ onStored: evictElsewhere });
  const other = '/example.com/huge/@v/v1.0.0.mod';
  upstream.serve(other, big('example.com/huge'));
  await assert.rejects(ask(always, other), (e: unknown) => e instanceof GateError && e.code === 'STORE_IO' && /evicted .* twice/.test(e.message));
  assert.equal(upstream.count(other), 2);
});

test('an upstream 404 is remembered for the negative TTL, then asked again', async () => {
  const svc = service();
  const info = '/example.com/gone/@v/v1.0.0.info';
  const a = await ask(svc, info);
  assert.equal(a.status, 404);
  assert.equal(a.outcome, 'not-found');
  assert.match((await bodyOf(a)).toString(), /not found/);
  assert.equal(upstream.count(info), 1);

  clock += (NEGATIVE_TTL_S - 1) * 1000;
  const b = await ask(svc, info);
  assert.equal(b.status, 404);
  assert.equal(upstream.count(info), 1, 'within the negative TTL nobody is asked');

  clock += 2000;
  upstream.serve(info, JSON.stringify({ Version: 'v1.0.0', Time: '2026-01-01T00:00:00Z' }));
  const c = await ask(svc, info);
  assert.equal(c.status, 200);
  assert.equal(c.outcome, 'miss');
  assert.equal(upstream.count(info), 2);
});

test("an upstream 404 that echoes the gateway's credentials for it reaches neither the client nor the cache; an uncached one is text", async () => {
  const withCreds = singleHop({ base: new URL('https://gw-user:s3cret-pass@proxy.test') });
  const basic = Buffer.from('gw-user:s3cret-pass').toString('base64');
  const echo = () => ({ status: 404, headers: { 'content-type': 'text/plain; charset=utf-8' }, body: Readable.from([Buffer.from(`not found\nauthorization: Basic ${basic}\nurl: https://gw-user:s3cret-pass@proxy.test/x\n`)]) });
  const info = '/example.com/echo/@v/v1.0.0.info';
  upstream.routes.set(info, echo);
  const svc = service();
  const cached = await svc.answer({ request: request(info), upstream: withCreds, method: 'GET' });
  assert.equal(cached.status, 404);
  const text = (await bodyOf(cached)).toString();
  assert.ok(!text.includes(basic) && !text.includes('s3cret-pass'), text);
  assert.match(text, /^not found\nauthorization: Basic redacted\n/);
  const stored = JSON.stringify(db.prepare('SELECT body_inline FROM objects').all().map((r) => String((r as { body_inline: Buffer | null }).body_inline)));
  assert.ok(stored.includes('Basic redacted') && !stored.includes(basic) && !stored.includes('s3cret-pass'), `the remembered 404 is the masked text: ${stored}`);

  // another database's tile: relayed uncached, and its 404 is text too
  const tile = '/sumdb/sum.other.test/tile/8/0/000';
  upstream.routes.set(tile, echo);
  const relayed = await svc.answer({ request: request(tile), upstream: withCreds, method: 'GET' });
  assert.equal(relayed.status, 404);
  assert.equal(relayed.headers['content-type'], 'text/plain; charset=utf-8');
  assert.ok(!(await bodyOf(relayed)).toString().includes(basic));
});

test("an upstream 404 with an HTML page is one line saying so, not markup for the go command to print", async () => {
  const svc = service();
  const list = '/example.com/html/@v/list';
  const page = '<!DOCTYPE html>\n<html><head><title>404</title></head>\n<body><h1>Not Found</h1><script>x()</script></body></html>\n';
  upstream.routes.set(list, () => ({ status: 404, headers: { 'content-type': 'text/html; charset=utf-8' }, body: Readable.from([Buffer.from(page)]) }));
  const r = await ask(svc, list);
  assert.equal(r.status, 404);
  assert.equal(r.headers['content-type'], 'text/plain; charset=utf-8');
  assert.equal((await bodyOf(r)).toString(), 'not found: upstream proxy.test answered 404 with a text/html page (not shown)\n');
  // a text/plain answer is the upstream's own words, as before
  const other = '/example.com/plain/@v/list';
  upstream.routes.set(other, () => ({ status: 410, headers: { 'content-type': 'text/plain' }, body: Readable.from([Buffer.from('not found: example.com/plain: no such module\n')]) }));
  assert.equal((await bodyOf(await ask(svc, other))).toString(), 'not found: example.com/plain: no such module\n');
});

test("an upstream's own refusal: a 4xx keeps its status, a 5xx is a 502, and either carries the first line of its text", async () => {
  const svc = service();
  const refuse = (path: string, status: number, type: string, body: string) =>
    upstream.routes.set(path, () => ({ status, headers: { 'content-type': type }, body: Readable.from([Buffer.from(body)]) }));
  const failure = async (path: string) => {
    try {
      await ask(svc, path);
    } catch (err) {
      assert.ok(err instanceof GateError);
      return { status: httpStatusFor(err), message: err.message };
    }
    assert.fail(`${path} was answered`);
  };
  refuse('/example.com/f/@v/list', 403, 'text/plain; charset=utf-8', '\nforbidden: shim policy says no\nsecond line\n');
  assert.deepEqual(await failure('/example.com/f/@v/list'), { status: 403, message: 'upstream proxy.test answered 403 for /example.com/f/@v/list: forbidden: shim policy says no' });
  refuse('/example.com/f/@v/v1.0.0.mod', 500, 'text/plain', 'missing records\n');
  assert.deepEqual(await failure('/example.com/f/@v/v1.0.0.mod'), { status: 502, message: 'upstream proxy.test answered 500 for /example.com/f/@v/v1.0.0.mod: missing records' });
  refuse('/example.com/f/@v/v1.0.0.info', 503, 'text/html', '<html><body>busy</body></html>');
  assert.deepEqual(await failure('/example.com/f/@v/v1.0.0.info'), { status: 502, message: 'upstream proxy.test answered 503 for /example.com/f/@v/v1.0.0.info' });
});

test('remembered 404s are bounded in number', async () => {
  const svc = service({ maxNegativeEntries: 3 });
  for (let i = 0; i < 8; i++) {
    clock += 1000;
    assert.equal((await ask(svc, `/example.com/gone${i}/@v/list`)).status, 404);
  }
  const n = (db.prepare('SELECT COUNT(*) AS n FROM objects WHERE status <> 200').get() as { n: number }).n;
  // the fourth, sixth and eighth each passed the bound of 3 and pruned down to a fiftieth below it: 2
  assert.equal(n, 2);
  assert.ok(index.get(keyOf('/example.com/gone7/@v/list')), 'the newest stays');
  assert.equal(index.get(keyOf('/example.com/gone0/@v/list')), null, 'the oldest goes');
});

test('10 concurrent answers for one object share 1 upstream request and all get the whole body', async () => {
  const svc = service();
  const zip = '/example.com/m/@v/v1.0.0.zip';
  const body = upstream.serveStream(zip);
  const asking = Promise.all(Array.from({ length: 10 }, () => ask(svc, zip)));
  const content = moduleZip('example.com/m', 'v1.0.0', 256 * 1024);
  body.write(content.subarray(0, 100_000));
  body.end(content.subarray(100_000));
  const replies = await asking;
  assert.equal(upstream.count(zip), 1);
  assert.ok(replies.every((r) => r.outcome === 'miss'));
  const bodies = await Promise.all(replies.map(bodyOf));
  for (const b of bodies) assert.equal(sha256(b), sha256(content));
  await settle('stored once', () => stored.length === 1 && svc.inflightFetches === 0);
  const row = index.get(keyOf(zip))!;
  assert.equal(row.sha256, sha256(content));
  assert.equal(row.size, content.length);
  assert.equal(readFileSync(blobs.pathOf(row.sha256!)).equals(content), true);
  assert.equal((await ask(svc, zip)).outcome, 'hit');
  assert.equal(upstream.count(zip), 1);
});

test('a client abandoning its answer stops neither the download nor the other clients', async () => {
  const svc = service();
  const zip = '/example.com/m/@v/v2.0.0.zip';
  const body = upstream.serveStream(zip);
  const content = moduleZip('example.com/m', 'v2.0.0', 512 * 1024);
  const leaving = ask(svc, zip); // this client will go away
  const staying = ask(svc, zip);
  body.write(content.subarray(0, 200_000));
  await settle('the first bytes are written', () => blobs.listTempFiles().some((f) => f.size > 0));
  body.end(content.subarray(200_000));

  const left = await leaving;
  const reader = left.body as Readable;
  await new Promise<Buffer>((resolve) => reader.once('data', resolve));
  reader.destroy(); // gone after the first chunk
  assert.equal(sha256(await bodyOf(await staying)), sha256(content));

  await settle('stored once', () => stored.length === 1 && svc.inflightFetches === 0);
  const row = index.get(keyOf(zip))!;
  assert.equal(row.sha256, sha256(content));
  assert.equal(sha256(readFileSync(blobs.pathOf(row.sha256!))), sha256(content));
  assert.deepEqual(blobs.listTempFiles(), []);
  await settle('no reader holds the blob', () => !blobs.inUse(row.sha256!));
  const again = await ask(svc, zip);
  assert.equal(again.outcome, 'hit');
  assert.equal(sha256(await bodyOf(again)), sha256(content));
  assert.equal(upstream.count(zip), 1);
});

test('an upstream body failing mid-way: the clients get UPSTREAM_UNAVAILABLE, no index row, no temp file, no blob', async () => {
  const svc = service();
  const zip = '/example.com/m/@v/v3.0.0.zip';
  const body = upstream.serveStream(zip);
  const asking = ask(svc, zip);
  body.write(moduleZip('example.com/m', 'v3.0.0', 100_000).subarray(0, 50_000));
  await settle('the first bytes are written', () => blobs.listTempFiles().some((f) => f.size > 0));
  body.destroy(new Error('connection reset by peer'));
  await assert.rejects(asking, isGate('UPSTREAM_UNAVAILABLE'));
  await settle('the fetch is over', () => svc.inflightFetches === 0);
  assert.equal(index.get(keyOf(zip)), null);
  assert.deepEqual(blobs.listTempFiles(), []);
  assert.deepEqual(blobs.listBlobFiles(), []);
  assert.equal(stored.length, 0);
  assert.ok(backgroundErrors.length >= 1, 'the admin hears of it');

  // the next request tries again
  const whole = moduleZip('example.com/m', 'v3.0.0', 100);
  upstream.serve(zip, whole);
  assert.equal(sha256(await bodyOf(await ask(svc, zip))), sha256(whole));
  assert.equal(upstream.count(zip), 2);
});

test('a body shorter than its Content-Length is refused and not stored', async () => {
  const svc = service();
  const zip = '/example.com/m/@v/v4.0.0.zip';
  const content = moduleZip('example.com/m', 'v4.0.0', 100);
  upstream.serve(zip, content.subarray(0, content.length - 10), { 'content-length': String(content.length) });
  await assert.rejects(ask(svc, zip), isGate('UPSTREAM_UNAVAILABLE'));
  await settle('the fetch is over', () => svc.inflightFetches === 0);
  assert.equal(index.get(keyOf(zip)), null);
  assert.deepEqual(blobs.listTempFiles(), []);
  assert.deepEqual(blobs.listBlobFiles(), []);
});

test('answer checks: an HTML .info is a 502 and nothing is stored', async () => {
  const svc = service();
  const info = '/example.com/m/@v/v1.0.0.info';
  upstream.serve(info, '<html><body>Sign in to continue</body></html>');
  const err = await ask(svc, info).then(
    () => assert.fail('an HTML .info must not be answered'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof GateError);
  assert.equal(err.code, 'UPSTREAM_UNAVAILABLE');
  assert.equal(httpStatusFor(err), 502);
  assert.match(err.message, /invalid answer/);
  assert.equal(index.get(keyOf(info)), null);
  assert.deepEqual(blobs.listTempFiles(), []);
  assert.deepEqual(blobs.listBlobFiles(), []);
  assert.equal(stored.length, 0);

  // another module's version is refused the same way
  upstream.serve(info, JSON.stringify({ Version: 'v9.9.9' }));
  await assert.rejects(ask(svc, info), (e: unknown) => e instanceof GateError && e.code === 'UPSTREAM_UNAVAILABLE' && /v9\.9\.9/.test(e.message));
  assert.equal(index.get(keyOf(info)), null);
});

test('the fetch deadline cuts a body that never ends: UPSTREAM_TIMEOUT, nothing stored', { timeout: 30_000 }, async () => {
  // The one real timer of this file; it is kept alive by the interval below, and its duration is never asserted.
  const keepAlive = setInterval(() => undefined, 1000);
  try {
    const svc = service({ fetchDeadlineMs: 100 });
    const info = '/example.com/slow/@v/v1.0.0.info';
    const infoBody = upstream.serveStream(info);
    infoBody.write('{"Version":');
    await assert.rejects(ask(svc, info), (e: unknown) => e instanceof GateError && e.code === 'UPSTREAM_TIMEOUT' && httpStatusFor(e) === 504);

    const zip = '/example.com/slow/@v/v1.0.0.zip';
    const zipBody = upstream.serveStream(zip);
    const asking = ask(svc, zip);
    zipBody.write(moduleZip('example.com/slow', 'v1.0.0', 10_000).subarray(0, 1000));
    await assert.rejects(asking, (e: unknown) => e instanceof GateError && e.code === 'UPSTREAM_TIMEOUT' && httpStatusFor(e) === 504);
    await settle('the fetches are over', () => svc.inflightFetches === 0);
    assert.equal(index.get(keyOf(info)), null);
    assert.equal(index.get(keyOf(zip)), null);
    assert.deepEqual(blobs.listTempFiles(), []);
    assert.deepEqual(blobs.listBlobFiles(), []);
  } finally {
    clearInterval(keepAlive);
  }
});
