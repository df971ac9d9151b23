// Integration tests for SumdbVerifier against the real thing: the Go team's test module proxy (cmd/go's
// proxy_test.go in -proxy mode) on a loopback port, whose checksum database is signed with the published
// test key and computes records with Go's own dirhash. Each proxy runs from a private copy of
// testdata/mod, so tests can add modules: one copy grows while running (a newer tree head must extend the
// old one) and another starts with extra modules (a forked log, signed with the same key, must be caught).
// Every proxy is stopped by PID in `after`; temp dirs are removed.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createPrivateKey, sign } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { escapePath, escapeVersion } from '../../src/goproxy/module-path.js';
import { hash1GoMod, hash1ZipFile } from '../../src/verify/dirhash.js';
import { SumdbVerifier, type SumdbFetch } from '../../src/verify/sumdb-verifier.js';
import {
  formatTreeHead,
  parseTilePath,
  readTileData,
  recordHash,
  storedHashesForRecordHash,
  tilePath,
  treeHash,
  type Hash,
} from '../../src/verify/tlog.js';
import { isVerifyError, type VerifyErrorCode } from '../../src/verify/verify-error.js';
import { TEST_SUMDB_KEY, ensureGoTestProxyBinary } from '../helpers/go-test-proxy.js';
import { httpGet, startLocalProxy, TEST_SUMDB_PATH as SUMDB_PATH, type LocalProxy } from '../helpers/local-go-proxy.js';

const SUM_GOLANG_ORG_KEY = 'sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8';

const started: LocalProxy[] = [];

async function startTrackedProxy(binary: string, root: string, extra: Record<string, string> = {}): Promise<LocalProxy> {
  const p = await startLocalProxy(binary, root, extra);
  started.push(p);
  return p;
}

/** A fetch into the proxy's checksum database that counts requests per path. */
function countingFetch(proxy: () => LocalProxy) {
  const counts = new Map<string, number>();
  const fetch: SumdbFetch = async (path) => {
    counts.set(path, (counts.get(path) ?? 0) + 1);
    return httpGet(`${proxy().base}${SUMDB_PATH}${path}`);
  };
  const tileFetches = () => [...counts].filter(([p]) => p.startsWith('/tile/')).reduce((n, [, c]) => n + c, 0);
  return { fetch, counts, tileFetches };
}

async function rejectsWith(p: Promise<unknown>, code: VerifyErrorCode, message?: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(isVerifyError(err), `expected a VerifyError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    if (message) assert.match(err.message, message);
    return true;
  });
}

/** A small module in the test proxy's txtar format. */
function txtarModule(path: string, version: string): string {
  return [
    `${path}@${version}`,
    '',
    '-- .mod --',
    `module ${path}`,
    '-- .info --',
    `{"Version":"${version}","Time":"2024-01-01T00:00:00Z"}`,
    '-- go.mod --',
    `module ${path}`,
    '-- doc.go --',
    `// Package m exists for gomodgate's checksum database tests (${path}@${version}).`,
    'package m',
    '',
  ].join('\n');
}

const GROWTH = { path: 'example.com/gomodgate/growth', version: 'v1.0.0' };

describe('SumdbVerifier against the Go test checksum database', { timeout: 15 * 60_000 }, () => {
  let binary = '';
  let work = '';
  let main: LocalProxy;

  before(async () => {
    binary = await ensureGoTestProxyBinary(); // builds it (minutes) only when not cached
    work = await mkdtemp(join(tmpdir(), 'gomodgate-sumdb-'));
    main = await startTrackedProxy(binary, join(work, 'main'));
  });

  after(async () => {
    for (const p of started) await p.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  const shared = { verifier: undefined as SumdbVerifier | undefined, counter: undefined as ReturnType<typeof countingFetch> | undefined };
  const verifier = () => {
    if (!shared.verifier) {
      shared.counter = countingFetch(() => main);
      shared.verifier = new SumdbVerifier({ verifierKey: TEST_SUMDB_KEY, fetch: shared.counter.fetch });
    }
    return shared.verifier;
  };

  async function download(module: string, version: string): Promise<{ zip: string; mod: Buffer }> {
    const prefix = `${main.base}/${escapePath(module)}/@v/${escapeVersion(version)}`;
    const zip = await httpGet(`${prefix}.zip`);
    const mod = await httpGet(`${prefix}.mod`);
    assert.equal(zip.status, 200, `${module}@${version}.zip`);
    assert.equal(mod.status, 200, `${module}@${version}.mod`);
    const zipPath = join(work, `${escapePath(module).replace(/\//g, '_')}@${escapeVersion(version)}.zip`);
    await writeFile(zipPath, zip.body);
    return { zip: zipPath, mod: mod.body };
  }

  for (const [module, version] of [
    ['rsc.io/quote', 'v1.5.2'],
    ['golang.org/x/text', 'v0.0.0-20170915032832-14c0d48ead0c'],
    ['rsc.io/sampler', 'v1.3.0'],
    ['rsc.io/QUOTE', 'v1.5.3-PRE'], // case-encoded path and version
  ]) {
    test(`lookup ${module}@${version} is proven and equals the h1 hashes of the served zip and go.mod`, async () => {
      const sums = await verifier().lookup(module, version);
      assert.match(sums.zipHash, /^h1:[A-Za-z0-9+/]{43}=$/);
      const { zip, mod } = await download(module, version);
      assert.equal(sums.zipHash, await hash1ZipFile(zip));
      assert.equal(sums.modHash, hash1GoMod(mod));
      assert.equal(sums.treeSize, verifier().latestTree?.size);
    });
  }

  test('authenticated tiles are cached: repeated lookups fetch no more tiles', async () => {
    const v = verifier();
    await v.lookup('rsc.io/quote', 'v1.5.2');
    const before = shared.counter!.tileFetches();
    assert.ok(before >= 1);
    await v.lookup('rsc.io/quote', 'v1.5.2');
    await v.lookup('rsc.io/sampler', 'v1.3.0');
    assert.equal(shared.counter!.tileFetches(), before);
  });

  test('concurrent lookups on a fresh verifier fetch each tile once', async () => {
    const c = countingFetch(() => main);
    const v = new SumdbVerifier({ verifierKey: TEST_SUMDB_KEY, fetch: c.fetch });
    const mods: [string, string][] = [
      ['rsc.io/quote', 'v1.5.2'],
      ['rsc.io/sampler', 'v1.3.0'],
      ['golang.org/x/text', 'v0.0.0-20170915032832-14c0d48ead0c'],
      ['rsc.io/quote', 'v1.5.2'],
    ];
    await Promise.all(mods.map(([m, ver]) => v.lookup(m, ver)));
    const tiles = [...c.counts].filter(([p]) => p.startsWith('/tile/'));
    assert.ok(tiles.length >= 1);
    for (const [p, n] of tiles) assert.equal(n, 1, `${p} fetched ${n} times`);
  });

  test('an unknown module is not-found', async () => {
    await rejectsWith(verifier().lookup('example.com/gomodgate/does-not-exist', 'v1.0.0'), 'not-found', /not in checksum database/);
  });

  test('a flipped byte in a tile is bad-proof', async () => {
    const c = countingFetch(() => main);
    const v = new SumdbVerifier({
      verifierKey: TEST_SUMDB_KEY,
      fetch: async (path) => {
        const res = await c.fetch(path);
        if (path.startsWith('/tile/') && res.body.length > 0) res.body[res.body.length - 7] ^= 0x10;
        return res;
      },
    });
    await rejectsWith(v.lookup('rsc.io/quote', 'v1.5.2'), 'bad-proof', /tiles do not match/);
    assert.ok(c.tileFetches() >= 1);
  });

  test('an altered record line is bad-proof (its record hash changes)', async () => {
    const v = new SumdbVerifier({
      verifierKey: TEST_SUMDB_KEY,
      fetch: async (path) => {
        const res = await countingFetch(() => main).fetch(path);
        if (path.startsWith('/lookup/')) {
          const text = res.body.toString();
          const i = text.indexOf(' h1:') + 4; // first character of the zip hash
          res.body = Buffer.from(text.slice(0, i) + (text[i] === 'A' ? 'B' : 'A') + text.slice(i + 1));
        }
        return res;
      },
    });
    await rejectsWith(v.lookup('rsc.io/quote', 'v1.5.2'), 'bad-proof', /text was altered/);
  });

  test("another module's authentic record is not accepted for this one", async () => {
    const v = new SumdbVerifier({
      verifierKey: TEST_SUMDB_KEY,
      fetch: (path) => countingFetch(() => main).fetch(path === '/lookup/rsc.io/quote@v1.5.2' ? '/lookup/rsc.io/sampler@v1.3.0' : path),
    });
    await rejectsWith(v.lookup('rsc.io/quote', 'v1.5.2'), 'bad-proof', /not for this module version/);
  });

  test('an altered signed tree head is bad-signature', async () => {
    for (const alter of [
      (note: string) => note.replace(/\n(\d+)\n/, (_m, n: string) => `\n${Number(n) + 1}\n`), // tree size
      (note: string) => note.replace(/\n([A-Za-z0-9+/]{43}=)\n/, (_m, h: string) => `\n${h[0] === 'A' ? 'B' : 'A'}${h.slice(1)}\n`), // tree hash
      (note: string) => note.replace('\u2014 localhost.localdev/sumdb ', '\u2014 localhost.localdev/other '), // signer
    ]) {
      const v = new SumdbVerifier({
        verifierKey: TEST_SUMDB_KEY,
        fetch: async (path) => {
          const res = await countingFetch(() => main).fetch(path);
          if (path.startsWith('/lookup/')) {
            const text = res.body.toString();
            const head = text.indexOf('\n\n') + 2;
            res.body = Buffer.from(text.slice(0, head) + alter(text.slice(head)));
            assert.notEqual(res.body.toString(), text, 'the alteration must change something');
          }
          return res;
        },
      });
      await rejectsWith(v.lookup('rsc.io/quote', 'v1.5.2'), 'bad-signature');
    }
  });

  test('a verifier that has verified honest answers still rejects an altered head or tile (what it remembers is by exact bytes)', async () => {
    let alter: 'none' | 'head' | 'tile' = 'none';
    const v = new SumdbVerifier({
      verifierKey: TEST_SUMDB_KEY,
      tileCacheEntries: 0, // every proof reads its tiles again: the altered ones reach it
      fetch: async (path) => {
        const res = await countingFetch(() => main).fetch(path);
        if (alter === 'head' && path.startsWith('/lookup/')) {
          const text = res.body.toString();
          const head = text.indexOf('\n\n') + 2;
          res.body = Buffer.from(text.slice(0, head) + text.slice(head).replace(/\n(\d+)\n/, (_m, n: string) => `\n${Number(n) + 1}\n`));
        }
        if (alter === 'tile' && path.startsWith('/tile/') && res.body.length > 0) res.body[res.body.length - 7] ^= 0x10;
        return res;
      },
    });
    await v.lookup('rsc.io/quote', 'v1.5.2');
    await v.lookup('rsc.io/sampler', 'v1.3.0');
    alter = 'head';
    await rejectsWith(v.lookup('rsc.io/sampler', 'v1.3.1'), 'bad-signature');
    alter = 'tile';
    await rejectsWith(v.lookup('rsc.io/quote', 'v1.5.1'), 'bad-proof');
    alter = 'none';
    assert.equal((await v.lookup('rsc.io/quote', 'v1.5.1')).treeSize > 0, true);
  });

  test('a different verifier key rejects the database: bad-signature', async () => {
    const v = new SumdbVerifier({ verifierKey: SUM_GOLANG_ORG_KEY, fetch: countingFetch(() => main).fetch });
    await rejectsWith(v.lookup('rsc.io/quote', 'v1.5.2'), 'bad-signature', /no signature by a known key/);
  });

  test('transport failures and unexpected statuses are unavailable', async () => {
    const refused = new SumdbVerifier({
      verifierKey: TEST_SUMDB_KEY,
      fetch: async () => {
        throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
      },
    });
    await rejectsWith(refused.lookup('rsc.io/quote', 'v1.5.2'), 'unavailable', /unreachable/);
    const broken = new SumdbVerifier({ verifierKey: TEST_SUMDB_KEY, fetch: async () => ({ status: 502, body: Buffer.from('bad gateway') }) });
    await rejectsWith(broken.lookup('rsc.io/quote', 'v1.5.2'), 'unavailable', /answered 502/);
    // Tiles that cannot be fetched: unavailable, not a proof failure.
    const noTiles = new SumdbVerifier({
      verifierKey: TEST_SUMDB_KEY,
      fetch: async (path) => (path.startsWith('/tile/') ? { status: 503, body: Buffer.alloc(0) } : countingFetch(() => main).fetch(path)),
    });
    await rejectsWith(noTiles.lookup('rsc.io/quote', 'v1.5.2'), 'unavailable', /answered 503/);
  });

  test('a malformed verifier key is refused at construction', () => {
    assert.throws(
      () => new SumdbVerifier({ verifierKey: 'localhost.localdev/sumdb+00000c68+AcTrnkbUA+TU4heY3hkjiSES/DSQniBqIeQ/YppAUtK6', fetch: countingFetch(() => main).fetch }),
      (err: unknown) => isVerifyError(err, 'bad-key'),
    );
  });

  test('the database grows: a newer tree head is checked to extend the one already accepted', async () => {
    const v = verifier();
    const oldSize = v.latestTree!.size;
    await writeFile(join(main.modDir, `example.com_gomodgate_growth_${GROWTH.version}.txt`), txtarModule(GROWTH.path, GROWTH.version));
    const sums = await v.lookup(GROWTH.path, GROWTH.version);
    assert.equal(sums.treeSize, oldSize + 1);
    assert.equal(v.latestTree!.size, oldSize + 1);
    const { zip, mod } = await download(GROWTH.path, GROWTH.version);
    assert.equal(sums.zipHash, await hash1ZipFile(zip));
    assert.equal(sums.modHash, hash1GoMod(mod));
    // Older records are proven against the newer tree from now on.
    assert.equal((await v.lookup('rsc.io/quote', 'v1.5.2')).treeSize, oldSize + 1);
  });

  test('a forked log signed with the same key is caught (bad-proof), in both directions', async () => {
    // Same modules plus two that sort first: a different history of a larger size, validly signed.
    const fork = await startTrackedProxy(binary, join(work, 'fork'), {
      'aaa.example_fork_v1.0.0.txt': txtarModule('aaa.example/fork', 'v1.0.0'),
      'aab.example_fork_v1.0.0.txt': txtarModule('aab.example/fork', 'v1.0.0'),
    });
    // The fork alone is a fine database.
    const alone = new SumdbVerifier({ verifierKey: TEST_SUMDB_KEY, fetch: countingFetch(() => fork).fetch });
    const forkSums = await alone.lookup('rsc.io/quote', 'v1.5.2');
    assert.ok(forkSums.treeSize > verifier().latestTree!.size, `fork ${forkSums.treeSize} should be larger than main ${verifier().latestTree!.size}`);

    // Main first, then the fork answers: its larger tree does not extend what was accepted.
    let target = main;
    const v = new SumdbVerifier({ verifierKey: TEST_SUMDB_KEY, fetch: countingFetch(() => target).fetch });
    await v.lookup('rsc.io/quote', 'v1.5.2');
    const accepted = v.latestTree!;
    target = fork;
    await rejectsWith(v.lookup('rsc.io/sampler', 'v1.3.0'), 'bad-proof', /not a prefix of tree/);
    assert.deepEqual(v.latestTree, accepted, 'the forked head must not replace the accepted one');

    // Fork first, then main answers with a smaller tree that is not a prefix of the accepted one.
    target = fork;
    const w = new SumdbVerifier({ verifierKey: TEST_SUMDB_KEY, fetch: countingFetch(() => target).fetch });
    await w.lookup('rsc.io/quote', 'v1.5.2');
    target = main;
    await rejectsWith(w.lookup('rsc.io/sampler', 'v1.3.0'), 'bad-proof');

    // A head saved before a restart still binds the new process.
    const restarted = new SumdbVerifier({ verifierKey: TEST_SUMDB_KEY, fetch: countingFetch(() => fork).fetch, latestNote: v.latestNote! });
    assert.deepEqual(restarted.latestTree, accepted);
    await rejectsWith(restarted.lookup('rsc.io/quote', 'v1.5.2'), 'bad-proof', /not a prefix of tree/);
    assert.throws(
      () => new SumdbVerifier({ verifierKey: TEST_SUMDB_KEY, fetch: countingFetch(() => main).fetch, latestNote: Buffer.from(w.latestNote!.toString().replace('\n1', '\n2')) }),
      (err: unknown) => isVerifyError(err, 'bad-signature'),
    );
  });
});

// A synthetic database: our own log of 70000 records, tree heads signed with the test key (its private half is
// published in cmd/go's proxy_test.go). It reaches what the small real database cannot: tiles on three levels,
// partial tiles that the server no longer has, and a forged record planted where Go 1.19's client would not look.
describe('SumdbVerifier against a large synthetic database', () => {
  const SIZE = 70000;
  const seed = Buffer.from('AXu6+oaVaOYuQOFrf1V59JK1owcFlJcHwwXHDfDGxSPk', 'base64').subarray(1);
  const signingKey = createPrivateKey({
    key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), seed]),
    format: 'der',
    type: 'pkcs8',
  });
  const record = (i: number) => {
    const h = (what: string) => createHash('sha256').update(`${what} ${i}`).digest('base64');
    return `mod.example/m${i} v1.0.0 h1:${h('zip')}\nmod.example/m${i} v1.0.0/go.mod h1:${h('mod')}\n`;
  };
  const hashes: Hash[] = [];
  const read = (idx: number[]) => idx.map((i) => hashes[i]);
  for (let i = 0; i < SIZE; i++) hashes.push(...storedHashesForRecordHash(i, recordHash(record(i)), read));

  async function signedHead(size: number): Promise<string> {
    const text = formatTreeHead({ size, hash: await treeHash(size, async (idx) => read(idx)) });
    const sig = Buffer.concat([Buffer.from([0, 0, 0x0c, 0x67]), sign(null, Buffer.from(text), signingKey)]);
    return `${text}\n\u2014 localhost.localdev/sumdb ${sig.toString('base64')}\n`;
  }

  /**
   * Serves lookups with a head of `headSize` and tiles as a server at `tileSize` has them: a partial tile
   * narrower than what that server has is gone (404), like a cache that only kept the newest.
   */
  function database(opts: { headSize: number; tileSize: number; forge?: { id: number; text: string } }) {
    const counts = new Map<string, number>();
    const fetch: SumdbFetch = async (path) => {
      counts.set(path, (counts.get(path) ?? 0) + 1);
      const m = /^\/lookup\/mod\.example\/m(\d+)@v1\.0\.0$/.exec(path);
      if (m) {
        const id = Number(m[1]);
        if (id >= opts.headSize) return { status: 404, body: Buffer.from('not found') };
        const text = opts.forge?.id === id ? opts.forge.text : record(id);
        return { status: 200, body: Buffer.from(`${id}\n${text}\n${await signedHead(opts.headSize)}`) };
      }
      const t = parseTilePath(path);
      if (t && t.level >= 0) {
        const have = Math.min(256, Math.floor(opts.tileSize / 256 ** t.level) - t.n * 256); // entries the server has
        if (have <= 0 || (t.width < 256 && t.width !== have) || (t.width === 256 && have < 256)) return { status: 404, body: Buffer.alloc(0) };
        const data = Buffer.from(readTileData(t, read));
        if (opts.forge && tilePath(t) === `tile/8/0/${String(Math.floor(opts.forge.id / 256)).padStart(3, '0')}`) {
          recordHash(opts.forge.text).copy(data, (opts.forge.id % 256) * 32);
        }
        return { status: 200, body: data };
      }
      return { status: 404, body: Buffer.alloc(0) };
    };
    return { fetch, counts };
  }

  test('records deep in a three-level tree are proven', async () => {
    const db = database({ headSize: SIZE, tileSize: SIZE });
    const v = new SumdbVerifier({ verifierKey: TEST_SUMDB_KEY, fetch: db.fetch });
    for (const id of [0, 255, 256, 12345, 65535, 65536, SIZE - 1]) {
      const sums = await v.lookup(`mod.example/m${id}`, 'v1.0.0');
      assert.equal(`mod.example/m${id} v1.0.0 ${sums.zipHash}\nmod.example/m${id} v1.0.0/go.mod ${sums.modHash}\n`, record(id));
      assert.equal(sums.treeSize, SIZE);
    }
    assert.ok([...db.counts.keys()].some((p) => p.startsWith('/tile/8/2/')), 'level-2 tiles were used');
    await rejectsWith(v.lookup(`mod.example/m${SIZE}`, 'v1.0.0'), 'not-found');
  });

  test('a forged record planted in a tile the proof reads after the tree-edge tiles is bad-proof', async () => {
    const forged = 'mod.example/m12345 v1.0.0 h1:FORGEDFORGEDFORGEDFORGEDFORGEDFORGEDFORGED0=\nmod.example/m12345 v1.0.0/go.mod h1:FORGEDFORGEDFORGEDFORGEDFORGEDFORGEDFORGED0=\n';
    const db = database({ headSize: SIZE, tileSize: SIZE, forge: { id: 12345, text: forged } });
    const v = new SumdbVerifier({ verifierKey: TEST_SUMDB_KEY, fetch: db.fetch });
    await rejectsWith(v.lookup('mod.example/m12345', 'v1.0.0'), 'bad-proof', /does not match its parent/);
    // The forgery only touched that tile: an honest record elsewhere still verifies.
    assert.equal((await v.lookup('mod.example/m70', 'v1.0.0')).treeSize, SIZE);
  });

  test('a partial tile the server no longer has is cut from the full tile', async () => {
    // Head 65500: tiles tile/8/0/255.p/220 and tile/8/1/000.p/255, both full by now on the server.
    const db = database({ headSize: 65500, tileSize: SIZE });
    const v = new SumdbVerifier({ verifierKey: TEST_SUMDB_KEY, fetch: db.fetch });
    await v.lookup('mod.example/m65400', 'v1.0.0');
    assert.equal(db.counts.get('/tile/8/0/255.p/220'), 1);
    assert.equal(db.counts.get('/tile/8/0/255'), 1);
    assert.equal(db.counts.get('/tile/8/1/000.p/255'), 1);
    assert.equal(db.counts.get('/tile/8/1/000'), 1);
  });

  test('a head that moves forward reuses cached tiles and checks consistency', async () => {
    const opts = { headSize: 65500, tileSize: SIZE };
    const db = database(opts);
    const v = new SumdbVerifier({ verifierKey: TEST_SUMDB_KEY, fetch: db.fetch });
    await v.lookup('mod.example/m100', 'v1.0.0');
    opts.headSize = SIZE;
    await v.lookup('mod.example/m101', 'v1.0.0');
    assert.equal(v.latestTree?.size, SIZE);
    // Record 100/101 share tile/8/0/000, fetched once; it is full at both sizes, so the cache serves it.
    assert.equal(db.counts.get('/tile/8/0/000'), 1);
  });
});
