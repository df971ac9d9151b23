// Integration: `gomodgate cache stats|ls|verify|prune|warm` as child processes (node bin/gomodgate.js) over a cache
// that a real gateway filled from a real HTTPS module upstream, with the gateway still running. Blob files are
// corrupted on disk the ways a disk or a person can (flipped byte, deleted file, stray files) and repaired;
// warm goes through the gateway's plain GOPROXY endpoint and is checked against the upstream's hit counts.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import net from 'node:net';
import { createTestPki, type TestPki } from '../helpers/test-pki.js';
import { startModuleUpstream, type ModuleUpstream, type AddedModule } from '../helpers/module-upstream.js';
import { startTestGateway, fetchVia, waitFor, type TestGateway } from '../helpers/gateway.js';
import { CLI, cliEnv, runCli, runTracked, killRunningChildren, type CliResult } from '../helpers/cli.js';
import { openDatabase, type Db } from '../../src/store/database.js';
import { BlobStore } from '../../src/store/blob-store.js';

let dir: string;
let pki: TestPki;
let upstream: ModuleUpstream;
let gw: TestGateway;
let db: Db; // read-write, for the checks and for what only time could do (last_access long ago)
const mods = {} as Record<'a' | 'a11' | 'b' | 'c' | 'text' | 'azure', AddedModule>;
function cache(...args: string[]): Promise<CliResult> {
  return runCli(['cache', ...args.slice(0, 1), '--data-dir', gw.dataDir, ...args.slice(1)]);
}

/**
 * Runs the CLI with stderr (and stdout) on a pseudo-terminal, through util-linux `script`; null when `script` is
 * absent. Asynchronous: the gateway in this process must keep answering meanwhile.
 */
async function onTerminal(args: string[]): Promise<{ code: number | null; output: string } | null> {
  if (spawnSync('script', ['--version']).status !== 0) return null;
  const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const command = [process.execPath, CLI, ...args].map(quote).join(' ');
  const r = await runTracked('script', ['-qefc', command, '/dev/null'], { env: cliEnv({ COLUMNS: '100' }) });
  return { code: r.code, output: r.stdout + r.stderr };
}

/** A loopback port nothing listens on (bound, then closed). */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((ok) => server.close(() => ok()));
  return port;
}

function objectKeys(): string[] {
  return (db.prepare('SELECT key FROM objects ORDER BY key').all() as Array<{ key: string }>).map((r) => r.key);
}

function blobFile(sha256: string): string {
  return new BlobStore(gw.dataDir, { create: false }).pathOf(sha256);
}

function rowOf(key: string): { sha256: string; size: number } {
  return db.prepare('SELECT sha256, size FROM objects WHERE key = ?').get(key) as { sha256: string; size: number };
}

async function fetchOk(path: string, cacheState?: string): Promise<void> {
  const r = await fetchVia(gw.baseUrl + path);
  assert.equal(r.status, 200, path);
  if (cacheState) assert.equal(r.headers['x-gomodgate-cache'], cacheState, path);
  // distinct last_access values: wait for the clock to move past this access's millisecond
  const t = Date.now();
  await waitFor('the clock to tick', () => Date.now() > t);
}

const zip = (m: string, v = 'v1.0.0') => `/${m}/@v/${v}.zip`;
const KEY = {
  aZip: 'mod:example.com/a@v1.0.0.zip',
  aMod: 'mod:example.com/a@v1.0.0.mod',
  a11Mod: 'mod:example.com/a@v1.1.0.mod',
  get aList() {
    return `list:example.com/a via ${upstream.url}`; // lists are cached per upstream
  },
  bZip: 'mod:example.com/b@v1.0.0.zip',
  cZip: 'mod:example.com/c@v1.0.0.zip',
  cInfo: 'mod:example.com/c@v1.0.0.info',
  missing: 'mod:example.com/missing@v1.0.0.mod',
};

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gmg-cache-cli-'));
  pki = createTestPki(join(dir, 'pki'));
  upstream = await startModuleUpstream({ pki });
  mods.a = upstream.addModule({ path: 'example.com/a', version: 'v1.0.0', files: { 'data.bin': randomBytes(20_000) } });
  mods.a11 = upstream.addModule({ path: 'example.com/a', version: 'v1.1.0', files: { 'x.go': 'package a\n' } });
  mods.b = upstream.addModule({ path: 'example.com/b', version: 'v1.0.0', files: { 'data.bin': randomBytes(30_000) } });
  mods.c = upstream.addModule({ path: 'example.com/c', version: 'v1.0.0', files: { 'data.bin': randomBytes(10_000) } });
  mods.text = upstream.addModule({ path: 'golang.org/x/text', version: 'v0.3.7', files: { 'text.go': 'package text\n' } });
  mods.azure = upstream.addModule({ path: 'github.com/Azure/azure-sdk', version: 'v0.1.0', files: { 'a.go': 'package azure\n' } });
  gw = await startTestGateway({ upstream: upstream.url, upstreamCa: [pki.caFile] });
  db = openDatabase(join(gw.dataDir, 'gomodgate.db'));

  await fetchOk(zip('example.com/a'), 'miss');
  await fetchOk(zip('example.com/a'), 'hit');
  await fetchOk('/example.com/a/@v/v1.0.0.mod', 'miss');
  await fetchOk('/example.com/a/@v/v1.1.0.mod', 'miss'); // same go.mod bytes: one blob, two rows
  await fetchOk('/example.com/a/@v/list', 'miss');
  await fetchOk(zip('example.com/b'), 'miss');
  await fetchOk(zip('example.com/c'), 'miss');
  await fetchOk('/example.com/c/@v/v1.0.0.info', 'miss');
  assert.equal((await fetchVia(gw.baseUrl + '/example.com/missing/@v/v1.0.0.mod')).status, 404);
  await waitFor('the audit rows', () => (db.prepare('SELECT COUNT(*) AS n FROM audit').get() as { n: number }).n >= 9);
});

after(async () => {
  killRunningChildren();
  db?.close();
  await gw?.close();
  await upstream?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('cache stats: objects by kind, bytes, blobs on disk and the hit ratio from the audit', async () => {
  const r = await cache('stats', '--json');
  assert.equal(r.code, 0, r.stderr);
  const s = JSON.parse(r.stdout);
  const kinds = Object.fromEntries((s.kinds as Array<{ kind: string; objects: number; bytes: number; negative: number }>).map((k) => [k.kind, k]));
  assert.deepEqual(kinds.zip, { kind: 'zip', objects: 3, bytes: mods.a.zipSize + mods.b.zipSize + mods.c.zipSize, negative: 0 });
  assert.equal(kinds.mod.objects, 2);
  assert.equal(kinds.mod.negative, 1);
  assert.equal(kinds.info.objects, 1);
  assert.equal(kinds.list.objects, 1);
  assert.equal(s.objects, 7);
  assert.equal(s.negative, 1);
  assert.equal(s.blobs, 6, 'the two identical go.mod files are one blob');
  assert.equal(s.disk.blobFiles, 6);
  assert.equal(s.disk.blobBytes, s.blobBytes);
  assert.equal(s.bytes - s.blobBytes, rowOf(KEY.aMod).size, 'rows count the shared blob twice, blobs once');
  assert.deepEqual({ hits: s.hitRatio.hits, stale: s.hitRatio.stale, misses: s.hitRatio.misses }, { hits: 1, stale: 0, misses: 7 });
  assert.equal(s.hitRatio.ratio, 1 / 8);

  const table = await cache('stats');
  assert.equal(table.code, 0);
  assert.match(table.stdout, /^KIND\s+OBJECTS\s+BYTES\s+NOT FOUND$/m);
  assert.match(table.stdout, /^zip\s+3\s+/m);
  assert.match(table.stdout, /^hit ratio: {3}12\.5% \(1 hit \+ 0 stale of 8 requests served from the cache or upstream; 1 other request: 1 not-found\)$/m);
  const later = await cache('stats', '--json', '--since', '2999-01-01');
  assert.equal(JSON.parse(later.stdout).hitRatio.ratio, null, 'no requests in that range');
});

test('cache stats after only failed requests: no table header over nothing, and the failures counted, not "of 0 requests"', async () => {
  const failing = await startTestGateway({ upstream: `http://127.0.0.1:${await closedPort()}`, upstreamTimeout: 5 });
  try {
    for (const v of ['v1.0.0', 'v1.1.0', 'v1.2.0']) assert.equal((await fetchVia(`${failing.baseUrl}/example.com/gone/@v/${v}.info`)).status, 502);
    await failing.gateway.close(2000); // flushes the audit rows
    const r = await runCli(['cache', 'stats', '--data-dir', failing.dataDir]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(
      r.stdout,
      'the cache is empty\n\n' +
        'objects:     0 (0 B), 0 remembered not-found\n' +
        'blobs:       0 indexed (0 B); on disk 0 files (0 B)\n' +
        'hit ratio:   - (no request served from the cache or upstream; 3 other requests: 3 error)\n',
    );
    const json = JSON.parse((await runCli(['cache', 'stats', '--data-dir', failing.dataDir, '--json'])).stdout);
    assert.deepEqual(json.hitRatio.other, { error: 3 });
  } finally {
    await failing.close();
  }
});

test('cache ls: every row, or those of matching modules', async () => {
  const all = await cache('ls');
  assert.equal(all.code, 0, all.stderr);
  const lines = all.stdout.trimEnd().split('\n');
  assert.match(lines[0]!, /^KEY\s+MODULE\s+VERSION\s+KIND\s+SIZE\s+STORED\s+LAST ACCESS\s+SHA256$/);
  assert.equal(lines.length, 1 + 8);
  const aZip = rowOf(KEY.aZip);
  assert.ok(lines.some((l) => l.startsWith(KEY.aZip) && l.trimEnd().endsWith(aZip.sha256.slice(0, 12))), all.stdout);
  assert.ok(lines.some((l) => l.startsWith(KEY.missing) && l.trimEnd().endsWith('(404)')), all.stdout);

  const a = await cache('ls', '--json', '--module', 'example.com/a');
  const entries = JSON.parse(a.stdout) as Array<{ key: string; module: string; sha256: string; size: number }>;
  assert.deepEqual(entries.map((e) => e.key).sort(), [KEY.aList, KEY.aMod, KEY.aZip, KEY.a11Mod].sort());
  assert.equal(entries.find((e) => e.key === KEY.aZip)!.size, mods.a.zipSize);
  const glob = await cache('ls', '--json', '--module', 'example.com/*');
  assert.equal((JSON.parse(glob.stdout) as unknown[]).length, 8);
  const none = await cache('ls', '--module', 'golang.org/x/*');
  assert.equal(none.code, 0);
  assert.equal(none.stdout, '');
  assert.match(none.stderr, /no cached objects match/);
  const csv = await cache('ls', '--csv', '--module', 'example.com/c');
  assert.deepEqual(csv.stdout.split('\r\n').map((l) => l.split(',')[0]), ['key', KEY.cInfo, KEY.cZip, '']);
});

test('cache verify: a healthy cache passes, without a progress bar off a terminal', async () => {
  const r = await cache('verify');
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /^checked 7 index rows pointing at 6 blobs; hashed /);
  assert.match(r.stdout, /index OK/);
  assert.equal(r.stderr, '', 'no progress bar when stderr is not a terminal');
});

test('cache verify finds a damaged page of the index file that row reads never touch; exit 1', async () => {
  const d = mkdtempSync(join(tmpdir(), 'gmg-verify-db-'));
  try {
    const file = join(d, 'gomodgate.db');
    const db = openDatabase(file);
    const insert = db.prepare("INSERT INTO audit (ts, client, host, method, path, module, version, kind, outcome, status) VALUES (?, '10.0.0.1', 'proxy.golang.org', 'GET', ?, 'example.com/m', ?, 'zip', 'hit', 200)");
    db.transaction(() => {
      for (let i = 0; i < 3000; i++) insert.run(i, `/example.com/m/@v/v1.0.${i}.zip`, `v1.0.${i}`);
    })();
    // a leaf page of an index on the audit table: `cache verify` reads the objects table, never this
    const page = db.prepare("SELECT pageno FROM dbstat WHERE name = 'audit_by_version_ts' AND pagetype = 'leaf' LIMIT 1 OFFSET 2").pluck().get() as number;
    const pageSize = db.pragma('page_size', { simple: true }) as number;
    db.pragma('wal_checkpoint(TRUNCATE)');
    db.close();
    const bytes = readFileSync(file);
    bytes.fill(0x5a, (page - 1) * pageSize + 16, page * pageSize - 16);
    writeFileSync(file, bytes);
    const r = await runCli(['cache', 'verify', '--data-dir', d]);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /^damaged index   /m);
    assert.match(r.stdout, /^DAMAGED: SQLite's quick_check of the index file found \d+ problem\(s\): stop the gateway, move gomodgate\.db/m);
    assert.doesNotMatch(r.stdout, /index OK/);
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});

test('cache verify on a terminal draws a progress bar on stderr', async (t) => {
  const r = await onTerminal(['cache', 'verify', '--data-dir', gw.dataDir]);
  if (r === null) return t.skip('util-linux script is not installed');
  assert.equal(r.code, 0, r.output);
  assert.match(r.output, /verifying \[#+\] 100% /);
  assert.match(r.output, /index OK/);
});

test('cache verify finds a flipped byte, a deleted blob, a wrong size, orphans and temp files; --repair removes them', async () => {
  const aZip = rowOf(KEY.aZip);
  const cZip = rowOf(KEY.cZip);
  const list = rowOf(KEY.aList);
  // a flipped byte in a's zip, c's zip deleted, the list row claiming one byte more than its blob
  const bytes = readFileSync(blobFile(aZip.sha256));
  bytes[1000] = bytes[1000]! ^ 0xff;
  writeFileSync(blobFile(aZip.sha256), bytes);
  unlinkSync(blobFile(cZip.sha256));
  db.prepare('UPDATE objects SET size = size + 1 WHERE key = ?').run(KEY.aList);
  // strays: a blob no row points at, a file that is no blob name, a partial download
  const orphanSha = 'f'.repeat(64);
  const layout = new BlobStore(gw.dataDir, { create: false });
  mkdirSync(join(layout.blobDir, 'ff'), { recursive: true });
  writeFileSync(blobFile(orphanSha), 'orphan');
  writeFileSync(join(layout.blobDir, 'stray.txt'), 'not a blob');
  writeFileSync(join(layout.tempDir, '1-abc.part'), 'partial');

  const r = await cache('verify');
  assert.equal(r.code, 1, r.stdout);
  assert.match(r.stdout, new RegExp(`hash mismatch\\s+${aZip.sha256} hashes to [0-9a-f]{64}\\s+\\(${KEY.aZip}\\)`));
  assert.match(r.stdout, new RegExp(`missing blob\\s+${KEY.cZip}\\s+${cZip.sha256}`));
  assert.match(r.stdout, new RegExp(`size mismatch\\s+${KEY.aList}\\s+index ${list.size + 1} bytes, blob ${list.size} bytes`));
  assert.match(r.stdout, new RegExp(`orphan blob\\s+\\S+/blobs/ff/${orphanSha}`));
  assert.match(r.stdout, /orphan blob\s+\S+\/blobs\/stray\.txt/);
  assert.match(r.stdout, /temp file\s+\S+\/tmp\/1-abc\.part/);
  assert.match(r.stdout, /CORRUPT: 3 index rows/);

  const json = await cache('verify', '--json');
  assert.equal(json.code, 1);
  const report = JSON.parse(json.stdout);
  assert.equal(report.corrupt, true);
  assert.deepEqual(report.missing.map((m: { key: string }) => m.key), [KEY.cZip]);
  assert.deepEqual(report.hashMismatches.map((m: { keys: string[] }) => m.keys), [[KEY.aZip]]);
  assert.deepEqual(report.sizeMismatches.map((m: { key: string }) => m.key), [KEY.aList]);
  assert.equal(report.orphans.length, 2);
  assert.equal(report.tempFiles.length, 1);

  // --repair with the default grace: corrupt rows and their blobs go, the young strays stay
  const repair = await cache('verify', '--repair');
  assert.equal(repair.code, 0, repair.stdout + repair.stderr);
  assert.match(repair.stdout, /repaired: removed 3 index rows, 2 corrupt or unreferenced blobs, 0 orphan blobs, 0 temp files; kept 3 files younger than 600 s/);
  assert.deepEqual(objectKeys(), [KEY.cInfo, KEY.a11Mod, KEY.aMod, KEY.bZip, KEY.missing].sort());
  assert.equal(existsSync(blobFile(aZip.sha256)), false, 'the corrupt blob is gone');
  assert.equal(existsSync(blobFile(list.sha256)), false, 'the blob no row points at any more is gone');
  assert.equal(existsSync(blobFile(orphanSha)), true);

  const after1 = await cache('verify');
  assert.equal(after1.code, 0, after1.stdout);
  assert.match(after1.stdout, /index OK/);
  assert.match(after1.stdout, /2 orphan blobs and 1 temp files/);

  const strays = await cache('verify', '--repair', '--grace', '0');
  assert.equal(strays.code, 0);
  assert.match(strays.stdout, /removed 0 index rows, 0 corrupt or unreferenced blobs, 2 orphan blobs, 1 temp files\n/);
  assert.equal(existsSync(blobFile(orphanSha)), false);
  assert.equal(existsSync(join(new BlobStore(gw.dataDir, { create: false }).tempDir, '1-abc.part')), false);
  const clean = await cache('verify');
  assert.equal(clean.code, 0);
  assert.doesNotMatch(clean.stdout, /orphan|temp file|CORRUPT/);

  // the gateway fetches what was removed again, byte for byte
  upstream.resetHits();
  const again = await fetchVia(gw.baseUrl + zip('example.com/a'));
  assert.equal(again.headers['x-gomodgate-cache'], 'miss');
  assert.equal(again.sha256, mods.a.zipSha256);
  assert.equal(upstream.hits(zip('example.com/a')), 1);
  await fetchOk(zip('example.com/c'), 'miss');
});

test('cache prune --older-than: by last access; a blob still shared with a kept row stays', async () => {
  const old = Date.now() - 40 * 86_400_000;
  db.prepare('UPDATE objects SET last_access = ? WHERE key IN (?, ?)').run(old, KEY.aMod, KEY.bZip);
  const bZip = rowOf(KEY.bZip);
  const shared = rowOf(KEY.aMod);
  const keys = objectKeys();

  const dry = await cache('prune', '--older-than', '30d', '--dry-run');
  assert.equal(dry.code, 0, dry.stderr);
  assert.match(dry.stdout, /would remove 2 objects and 1 blobs/);
  assert.deepEqual(objectKeys(), keys, 'a dry run changes nothing');

  const r = await cache('prune', '--older-than', '30d');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`^${KEY.aMod}\\s.*${shared.sha256.slice(0, 12)} kept \\(shared\\)\\s+older-than$`, 'm'));
  assert.match(r.stdout, new RegExp(`^${KEY.bZip}\\s.*${bZip.sha256.slice(0, 12)} removed\\s+older-than$`, 'm'));
  assert.match(r.stdout, new RegExp(`removed 2 objects and 1 blobs, ${Math.round(bZip.size / 1024)} KiB freed`));
  assert.deepEqual(objectKeys(), keys.filter((k) => k !== KEY.aMod && k !== KEY.bZip));
  assert.equal(existsSync(blobFile(bZip.sha256)), false);
  assert.equal(existsSync(blobFile(shared.sha256)), true, 'still the blob of example.com/a@v1.1.0.mod');
});

test('cache prune --max-bytes: least recently used blobs until the total fits', async () => {
  const s = JSON.parse((await cache('stats', '--json')).stdout) as { blobBytes: number };
  const lru = db.prepare(`SELECT key, size FROM objects WHERE sha256 IS NOT NULL ORDER BY last_access LIMIT 1`).get() as { key: string; size: number };
  assert.equal(lru.key, KEY.a11Mod, 'the oldest use left: example.com/a@v1.1.0.mod');
  const r = await cache('prune', '--max-bytes', String(s.blobBytes - 1), '--json');
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.deepEqual(out.removed.map((o: { key: string }) => o.key), [KEY.a11Mod]);
  assert.equal(out.removedBytes, lru.size);
  assert.equal(out.removedBlobs, 1);
  const after = JSON.parse((await cache('stats', '--json')).stdout) as { blobBytes: number; disk: { blobBytes: number } };
  assert.equal(after.blobBytes, s.blobBytes - lru.size);
  assert.equal(after.disk.blobBytes, after.blobBytes, 'files on disk match the index');

  const bad = await cache('prune', '--max-bytes', 'lots');
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--max-bytes must be a size such as 500M/);
  const none = await cache('prune');
  assert.equal(none.code, 2);
  assert.match(none.stderr, /prune needs --older-than/);
});

test('cache warm go.sum: every .mod and the zips go.sum names, through the gateway; a second run finds them cached', async () => {
  const sum = join(dir, 'go.sum');
  writeFileSync(
    sum,
    [
      `golang.org/x/text v0.3.7 ${mods.text.h1}`,
      `golang.org/x/text v0.3.7/go.mod ${mods.text.goModH1}`,
      `github.com/Azure/azure-sdk v0.1.0/go.mod ${mods.azure.goModH1}`,
      '',
    ].join('\n'),
  );
  upstream.resetHits();
  const r = await runCli(['cache', 'warm', sum, '--gateway', gw.baseUrl]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /2 module versions, 3 files through/);
  assert.match(r.stdout, /fetched 3, already cached 0, failed 0/);
  assert.equal(r.stderr, '', 'no progress bar off a terminal');
  assert.equal(upstream.hits('/golang.org/x/text/@v/v0.3.7.mod'), 1);
  assert.equal(upstream.hits('/golang.org/x/text/@v/v0.3.7.zip'), 1);
  assert.equal(upstream.hits('/github.com/!azure/azure-sdk/@v/v0.1.0.mod'), 1, 'case-encoded');
  assert.equal(upstream.hits('/github.com/!azure/azure-sdk/@v/v0.1.0.zip'), 0, 'no zip line, no zip');
  assert.equal(rowOf('mod:golang.org/x/text@v0.3.7.zip').sha256, mods.text.zipSha256);

  const again = await runCli(['cache', 'warm', sum, '--gateway', gw.baseUrl, '--json']);
  assert.equal(again.code, 0);
  const j = JSON.parse(again.stdout);
  assert.deepEqual({ items: j.items, fetched: j.fetched, cached: j.cached, failed: j.failed }, { items: 3, fetched: 0, cached: 3, failed: [] });
  assert.equal(upstream.hits(), 3, 'the second run never reached upstream');
});

test('cache warm go.mod: require lines; missing modules fail with the reason and exit 1', async () => {
  const gomod = join(dir, 'go.mod');
  writeFileSync(gomod, `module example.com/app

go 1.19

require (
	golang.org/x/text v0.3.7 // indirect
	example.com/missing v1.0.0
)
`);
  const r = await runCli(['cache', 'warm', gomod, '--gateway', gw.baseUrl + '/']);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.match(r.stdout, /failed\s+example\.com\/missing@v1\.0\.0 \.mod: HTTP 404: /);
  assert.match(r.stdout, /failed\s+example\.com\/missing@v1\.0\.0 \.zip: HTTP 404: /);
  assert.match(r.stdout, /fetched 0, already cached 2, failed 2/);

  const down = await runCli(['cache', 'warm', gomod, '--gateway', 'http://127.0.0.1:1']);
  assert.equal(down.code, 1);
  assert.match(down.stdout, /ECONNREFUSED/);
  assert.match(down.stdout, /fetched 0, already cached 0, failed 4/);

  const bad = await runCli(['cache', 'warm', join(dir, 'nope.sum')]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /cannot read .*nope\.sum: ENOENT/);
});

test('cache warm on a terminal draws a progress bar', async (t) => {
  const sum = join(dir, 'go.sum');
  const r = await onTerminal(['cache', 'warm', sum, '--gateway', gw.baseUrl]);
  if (r === null) return t.skip('util-linux script is not installed');
  assert.equal(r.code, 0, r.output);
  assert.match(r.output, /warming \[#+\] 100% 3\/3/);
  assert.match(r.output, /fetched 0, already cached 3, failed 0/);
});
