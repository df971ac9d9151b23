// Crash safety: a gomodgate child process is killed with SIGKILL while many module zips stream through it
// (the upstream is slowed by a throttling relay so downloads are in flight), three times at different moments
// (early, half-way, just as the first zips are sealed), and restarted on the same data directory each time.
// After every kill, before and after the restart: every index row with status 200 names a blob file that exists,
// has the row's size and hashes to its name; every client that received a whole body finds it in the index; the
// temp files of the interrupted downloads are there after the kill and gone once the gateway has started again.
// Finally everything is fetched again and compared with the upstream's own hashes.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, statSync, truncateSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { openDatabase } from '../../src/store/database.js';
import { startThrottledRelay, type ThrottledRelay } from '../helpers/crash-throttled-relay.js';
import { fetchVia, spawnGatewayProcess, waitFor, type GatewayProcess } from '../helpers/gateway.js';
import { startModuleUpstream, type AddedModule, type ModuleUpstream } from '../helpers/module-upstream.js';
import { createTestPki, type TestPki } from '../helpers/test-pki.js';
import { sha256File } from '../helpers/store-check.js';
import { BlobStore } from '../../src/store/blob-store.js';

const ZIPS = 8;
const ZIP_BYTES = 20 << 20;
const RATE = 4 << 20; // per upstream connection: a 20 MB zip takes about 5 s
const MiB = 1 << 20;

let dir: string;
let dataDir: string;
let pki: TestPki;
let upstream: ModuleUpstream;
let relay: ThrottledRelay;
let gw: GatewayProcess | null = null;
const modules: Array<{ path: string; version: string; added: AddedModule }> = [];

function gatewayArgs(): string[] {
  return [
    '--data-dir', dataDir, '--ca-dir', join(dir, 'certs'), '--listen', '127.0.0.1',
    '--tls-port', '0', '--http-port', '0', '--proxy-port', '0', '--admin-port', '0',
    '--upstream', `https://127.0.0.1:${relay.port}`, '--upstream-ca', pki.caFile, '--sumdb', 'off', '--log-level', 'info',
    '--upstream-timeout', '60s',
  ];
}

interface Download {
  url: string;
  received: number;
  /** Resolves when the response ended (complete) or broke off (the gateway was killed). */
  done: Promise<{ status: number; complete: boolean; bytes: number; sha256: string }>;
}

/** Streams url, counting bytes; complete only when 'end' came with as many bytes as Content-Length announced. */
function startDownload(url: string): Download {
  const d: Download = { url, received: 0, done: Promise.resolve({ status: 0, complete: false, bytes: 0, sha256: '' }) };
  d.done = new Promise((resolve) => {
    const hash = createHash('sha256');
    let status = 0;
    let expected = -1;
    let settled = false;
    const settle = (complete: boolean): void => {
      if (settled) return;
      settled = true;
      resolve({ status, complete: complete && (expected < 0 || d.received === expected), bytes: d.received, sha256: complete ? hash.digest('hex') : '' });
    };
    const req = http.get(url, { agent: false, timeout: 120_000 }, (res) => {
      status = res.statusCode ?? 0;
      expected = Number(res.headers['content-length'] ?? -1);
      res.on('data', (c: Buffer) => {
        d.received += c.length;
        hash.update(c);
      });
      res.on('end', () => settle(!res.aborted));
      res.on('aborted', () => settle(false));
      res.on('error', () => settle(false));
      res.on('close', () => settle(false));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => settle(false));
  });
  return d;
}

function tempFiles(): string[] {
  return new BlobStore(dataDir, { create: false }).listTempFiles().map((f) => f.path);
}

/** Bytes downloaded so far into partial (temp) files. */
function tempBytes(): number {
  return new BlobStore(dataDir, { create: false }).listTempFiles().reduce((n, f) => n + f.size, 0);
}

interface ObjectRow {
  key: string;
  status: number;
  sha256: string | null;
  size: number;
}

function objectRows(): ObjectRow[] {
  const db = openDatabase(join(dataDir, 'gomodgate.db'), { readonly: true });
  try {
    assert.equal(db.pragma('integrity_check', { simple: true }), 'ok');
    return db.prepare('SELECT key, status, sha256, size FROM objects').all() as ObjectRow[];
  } finally {
    db.close();
  }
}

/** Every row with status 200 names a complete blob: it exists, has the row's size, and hashes to its name. */
async function assertIndexPointsAtCompleteBlobs(when: string): Promise<ObjectRow[]> {
  const rows = objectRows().filter((r) => r.status === 200);
  for (const row of rows) {
    assert.ok(row.sha256 && /^[0-9a-f]{64}$/.test(row.sha256), `${when}: ${row.key} has a blob name`);
    const file = new BlobStore(dataDir, { create: false }).pathOf(row.sha256);
    assert.ok(existsSync(file), `${when}: blob of ${row.key} exists`);
    assert.equal(statSync(file).size, row.size, `${when}: blob of ${row.key} has the indexed size`);
    assert.equal(await sha256File(file), row.sha256, `${when}: blob of ${row.key} hashes to its name`);
    const zip = modules.find((m) => row.key === `mod:${m.path}@${m.version}.zip`);
    if (zip) assert.equal(row.sha256, zip.added.zipSha256, `${when}: ${row.key} is the upstream's zip`);
  }
  return rows;
}

function zipUrl(base: string, i: number): string {
  return `${base}/${modules[i]!.path}/@v/${modules[i]!.version}.zip`;
}

async function start(): Promise<GatewayProcess> {
  gw = await spawnGatewayProcess(gatewayArgs(), 30_000);
  return gw;
}

async function kill(p: GatewayProcess): Promise<void> {
  p.child.kill('SIGKILL');
  await waitFor('gomodgate killed', () => p.child.signalCode === 'SIGKILL', 10_000);
  gw = null;
}

/**
 * One cycle: start on the data dir, start the downloads (zip i after i * staggerMs), wait for `moment`, SIGKILL,
 * then check the store as the crash left it and again after a restart that cleans the temp files.
 */
async function crashCycle(
  name: string,
  staggerMs: number,
  moment: (downloads: Download[], settled: Set<Download>) => boolean,
  report: (line: string) => void,
): Promise<{ zipsIndexedAtKill: number }> {
  const p = await start();
  const downloads: Download[] = [];
  const settled = new Set<Download>();
  const results = new Map<Download, Awaited<Download['done']>>();
  const track = (d: Download): void => {
    downloads.push(d);
    void d.done.then((r) => {
      settled.add(d);
      results.set(d, r);
    });
  };
  for (let i = 0; i < ZIPS; i++) {
    track(startDownload(`${p.baseUrl}/${modules[i]!.path}/@v/${modules[i]!.version}.mod`));
    track(startDownload(`${p.baseUrl}/${modules[i]!.path}/@v/${modules[i]!.version}.info`));
  }
  const starter = (async () => {
    for (let i = 0; i < ZIPS; i++) {
      // two clients per zip: 16 zip downloads sharing 8 upstream fetches
      track(startDownload(zipUrl(p.baseUrl, i)));
      track(startDownload(zipUrl(p.baseUrl, i)));
      if (staggerMs > 0) await new Promise((r) => setTimeout(r, staggerMs));
    }
  })();
  await waitFor(`${name}: the moment to kill`, () => moment(downloads, settled) && tempFiles().length > 0, 60_000);
  await kill(p);
  await starter;
  const leftovers = tempFiles();
  assert.ok(leftovers.length > 0, `${name}: partial downloads are on disk after the kill`);
  await Promise.all(downloads.map((d) => d.done));

  // A client never got a whole body of something the index does not hold.
  const afterCrash = await assertIndexPointsAtCompleteBlobs(`${name}, after the kill`);
  for (const d of downloads) {
    const r = results.get(d)!;
    if (!r.complete || r.status !== 200 || !d.url.endsWith('.zip')) continue;
    const m = modules.find((x) => d.url.endsWith(`/${x.path}/@v/${x.version}.zip`))!;
    assert.equal(r.sha256, m.added.zipSha256, `${name}: a complete zip is the upstream's`);
    assert.ok(afterCrash.some((row) => row.key === `mod:${m.path}@${m.version}.zip`), `${name}: a zip a client received whole is indexed`);
  }
  const interrupted = downloads.filter((d) => results.get(d)!.complete === false && d.url.endsWith('.zip'));
  assert.ok(interrupted.length > 0, `${name}: some zip downloads were cut by the kill`);
  const zipsIndexedAtKill = afterCrash.filter((r) => r.key.endsWith('.zip')).length;
  report(
    `${name}: killed with ${(downloads.reduce((n, d) => n + d.received, 0) / MiB).toFixed(1)} MiB delivered, ` +
      `${leftovers.length} temp files, ${afterCrash.length} rows (${zipsIndexedAtKill} zips), ${interrupted.length} zip downloads cut`,
  );

  // Restart: temp files are removed at start, the index still points at complete blobs only.
  const restarted = await start();
  assert.deepEqual(tempFiles(), [], `${name}: temp files removed at start`);
  const removed = await waitFor('leftover count logged', () => {
    const line = restarted.log().split('\n').find((l) => l.includes('removed partial downloads'));
    return line ? (JSON.parse(line) as { count: number }).count : null;
  }, 5000);
  assert.equal(removed, leftovers.length, `${name}: every leftover temp file counted`);
  await assertIndexPointsAtCompleteBlobs(`${name}, after the restart`);
  await restarted.stop();
  gw = null;
  return { zipsIndexedAtKill };
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gmg-crash-'));
  dataDir = join(dir, 'data');
  pki = createTestPki(join(dir, 'pki'));
  upstream = await startModuleUpstream({ pki });
  for (let i = 0; i < ZIPS; i++) {
    const m = { path: `example.com/big/m${i}`, version: 'v1.0.0' };
    modules.push({ ...m, added: await upstream.addLargeModule({ ...m, sizeBytes: ZIP_BYTES }) });
  }
  relay = await startThrottledRelay(upstream.port, RATE);
});

after(async () => {
  if (gw) {
    gw.child.kill('SIGKILL');
    await waitFor('gomodgate exit', () => gw!.child.exitCode !== null || gw!.child.signalCode !== null, 10_000).catch(() => undefined);
  }
  await relay?.close();
  await upstream?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('SIGKILL during downloads, three times at different moments: the index only ever points at complete blobs', async (t) => {
  const report = (line: string): void => t.diagnostic(line);
  // 1. Early: a few MB have been downloaded (zips reach clients only once whole and checked, so count the
  //    partial files on disk, with no zip delivered yet).
  const early = await crashCycle('early', 0, (ds, settled) => tempBytes() >= 4 * MiB && !ds.some((d) => d.url.endsWith('.zip') && settled.has(d)), report);
  assert.equal(early.zipsIndexedAtKill, 0, 'early: no zip could have been complete');
  // 2. Half-way through most zips.
  //    (counted on disk: a zip reaches its clients only once it is whole and checked, and then no temp file is left)
  await crashCycle('half-way', 0, () => tempBytes() >= ZIPS * ZIP_BYTES * 0.5, report);
  // 3. Staggered starts, killed as soon as the first zip has been delivered whole: some zips sealed, others not.
  const sealed = await crashCycle('first sealed', 400, (ds, settled) => ds.some((d) => d.url.endsWith('.zip') && settled.has(d) && d.received >= ZIP_BYTES), report);
  assert.ok(sealed.zipsIndexedAtKill >= 1, 'first sealed: the kill came after at least one zip was stored');

  // Finally: everything again, at full speed, byte for byte the upstream's.
  relay.setRate(1 << 30);
  const p = await start();
  for (let i = 0; i < ZIPS; i++) {
    const r = await fetchVia(zipUrl(p.baseUrl, i), { keepBelow: 0, timeoutMs: 60_000 });
    assert.equal(r.status, 200);
    assert.equal(r.bytes, modules[i]!.added.zipSize);
    assert.equal(r.sha256, modules[i]!.added.zipSha256);
  }
  for (let i = 0; i < ZIPS; i++) {
    const r = await fetchVia(zipUrl(p.baseUrl, i), { keepBelow: 0, timeoutMs: 60_000 });
    assert.equal(r.headers['x-gomodgate-cache'], 'hit', 'the second fetch comes from the cache');
    assert.equal(r.sha256, modules[i]!.added.zipSha256);
  }
  const rows = await assertIndexPointsAtCompleteBlobs('final');
  for (const m of modules) assert.ok(rows.some((r) => r.key === `mod:${m.path}@${m.version}.zip`), `${m.path} zip indexed`);
  assert.equal(p.child.exitCode, null);
  await p.stop();
  gw = null;

  // The checks above can fail: a blob cut to half its size behind its index row is caught.
  const victim = rows.find((r) => r.key.endsWith('.zip'))!;
  truncateSync(new BlobStore(dataDir, { create: false }).pathOf(victim.sha256!), Math.floor(victim.size / 2));
  await assert.rejects(assertIndexPointsAtCompleteBlobs('with a half blob'), /has the indexed size/);
});
