// Integration: the gateway checks every .zip and .mod against the checksum database before caching or
// releasing it. The upstream is the Go team's real test module proxy (real records, real signed tree heads),
// behind a small relay that can alter bytes of chosen paths on the way, as a compromised mirror would.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { ensureGoTestProxyBinary, TEST_SUMDB_KEY } from '../helpers/go-test-proxy.js';
import { startLocalProxy, httpGet, type LocalProxy } from '../helpers/local-go-proxy.js';
import { startTestGateway, fetchVia, waitFor, type TestGateway } from '../helpers/gateway.js';
import { buildZipSync, moduleZipEntries } from '../helpers/module-zip.js';

let work: string;
let proxy: LocalProxy;
let relay: http.Server;
let relayBase: string;
let gw: TestGateway;
const tamper = new Map<string, (body: Buffer) => Buffer>();
const relayHits = new Map<string, number>();

function flipLastLetter(body: Buffer): Buffer {
  const out = Buffer.from(body);
  for (let i = out.length - 1; i >= 0; i--) {
    if (out[i]! >= 0x61 && out[i]! <= 0x7a) {
      out[i] = out[i] === 0x7a ? 0x79 : out[i]! + 1; // same length, one letter changed
      return out;
    }
  }
  throw new Error('no letter to flip');
}

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'gmg-verify-'));
  proxy = await startLocalProxy(await ensureGoTestProxyBinary(), join(work, 'proxy'));
  relay = http.createServer(async (req, res) => {
    const path = req.url ?? '/';
    relayHits.set(path, (relayHits.get(path) ?? 0) + 1);
    const up = await httpGet(proxy.base + path);
    const change = tamper.get(path);
    const body = change && up.status === 200 ? change(up.body) : up.body;
    res.writeHead(up.status, { 'content-length': String(body.length) }).end(body);
  });
  await new Promise<void>((r) => relay.listen(0, '127.0.0.1', r));
  relayBase = `http://127.0.0.1:${(relay.address() as { port: number }).port}`;
  gw = await startTestGateway({ upstream: relayBase, sumdb: TEST_SUMDB_KEY });
});

after(async () => {
  await gw?.close();
  relay?.close();
  await proxy?.stop();
  await rm(work, { recursive: true, force: true });
});

function indexRow(key: string, g: TestGateway = gw): { h1: string | null; sha256: string } | undefined {
  const db = g.db();
  try {
    return db.prepare('SELECT h1, sha256 FROM objects WHERE key = ?').get(key) as { h1: string | null; sha256: string } | undefined;
  } finally {
    db.close();
  }
}

test('a genuine zip and go.mod are verified, stored with their h1: and served byte for byte', async () => {
  const direct = await httpGet(`${proxy.base}/rsc.io/quote/@v/v1.5.2.zip`);
  const zip = await fetchVia(`${gw.baseUrl}/rsc.io/quote/@v/v1.5.2.zip`);
  assert.equal(zip.status, 200, zip.body.toString());
  assert.equal(zip.sha256, createHash('sha256').update(direct.body).digest('hex'));
  const lookup = (await httpGet(`${proxy.base}/sumdb/localhost.localdev/sumdb/lookup/rsc.io/quote@v1.5.2`)).body.toString();
  const zipLine = lookup.split('\n').find((l) => l.startsWith('rsc.io/quote v1.5.2 h1:'));
  const modLine = lookup.split('\n').find((l) => l.startsWith('rsc.io/quote v1.5.2/go.mod h1:'));
  assert.equal(indexRow('mod:rsc.io/quote@v1.5.2.zip')?.h1, zipLine!.split(' ')[2]);
  const mod = await fetchVia(`${gw.baseUrl}/rsc.io/quote/@v/v1.5.2.mod`);
  assert.equal(mod.status, 200);
  assert.equal(indexRow('mod:rsc.io/quote@v1.5.2.mod')?.h1, modLine!.split(' ')[2]);
});

test('a go.mod altered upstream (same length) is refused with 502 and the two hashes, and is not cached', async () => {
  const path = '/rsc.io/sampler/@v/v1.3.0.mod';
  tamper.set(path, flipLastLetter);
  try {
    const r = await fetchVia(gw.baseUrl + path);
    assert.equal(r.status, 502);
    assert.match(String(r.headers['content-type']), /^text\/plain/);
    const text = r.body.toString();
    assert.match(text, /^gomodgate: checksum mismatch for rsc\.io\/sampler@v1\.3\.0\/go\.mod: upstream h1:\S+ database h1:\S+\n$/);
    const [, upstreamH1, databaseH1] = /upstream (h1:\S+) database (h1:\S+)/.exec(text)!;
    assert.notEqual(upstreamH1, databaseH1);
    assert.equal(indexRow('mod:rsc.io/sampler@v1.3.0.mod'), undefined, 'a refused object is not cached');
    const row = await waitFor('tampered audit row', () => {
      const db = gw.db();
      try {
        return db.prepare("SELECT outcome, status, reason FROM audit WHERE kind = 'mod' AND module = 'rsc.io/sampler' ORDER BY id DESC").get() as { outcome: string; status: number; reason: string } | undefined;
      } finally {
        db.close();
      }
    });
    assert.equal(row.outcome, 'tampered');
    assert.equal(row.status, 502);
  } finally {
    tamper.delete(path);
  }
  const genuine = await fetchVia(gw.baseUrl + path);
  assert.equal(genuine.status, 200, 'the genuine bytes are served once the upstream is fixed');
  assert.equal(genuine.body.toString(), (await httpGet(proxy.base + path)).body.toString());
  assert.ok(indexRow('mod:rsc.io/sampler@v1.3.0.mod')?.h1);
});

test('a zip altered upstream (same length) is refused, not cached, and the genuine one is served after', async () => {
  const path = '/golang.org/x/text/@v/v0.0.0-20170915032832-14c0d48ead0c.zip';
  const key = 'mod:golang.org/x/text@v0.0.0-20170915032832-14c0d48ead0c.zip';
  tamper.set(path, (body) => {
    const out = Buffer.from(body);
    out[Math.floor(out.length / 2)] ^= 0xff;
    return out;
  });
  try {
    const r = await fetchVia(gw.baseUrl + path);
    assert.equal(r.status, 502);
    assert.match(r.body.toString(), /^gomodgate: .*golang\.org\/x\/text@v0\.0\.0-20170915032832-14c0d48ead0c/);
    assert.equal(indexRow(key), undefined);
  } finally {
    tamper.delete(path);
  }
  const before = relayHits.get(path) ?? 0;
  const ok = await fetchVia(gw.baseUrl + path);
  assert.equal(ok.status, 200);
  assert.equal(relayHits.get(path), before + 1);
  assert.ok(indexRow(key)?.h1?.startsWith('h1:'));
});

test('a database key that does not sign the tree heads fails closed: nothing is served or cached', async () => {
  const g = await startTestGateway({ upstream: relayBase, sumdb: 'localhost.localdev/sumdb+deadbeef+AWbrZbNkfzeVQfqGGFdDyTOHaWqe3b5rSDfMEDJO9+zT' });
  try {
    const r = await fetchVia(`${g.baseUrl}/rsc.io/quote/@v/v1.5.2.mod`);
    assert.equal(r.status, 502);
    const db = g.db();
    try {
      const row = db.prepare("SELECT count(*) AS n FROM objects WHERE kind = 'mod'").get() as { n: number };
      assert.equal(row.n, 0);
    } finally {
      db.close();
    }
  } finally {
    await g.close();
  }
});

test('checksum-database answers served to clients are authenticated before they are cached: a corrupt tile, lookup or head is 502 and kept nowhere', async () => {
  const db = '/sumdb/localhost.localdev/sumdb';
  const latest = (await httpGet(`${proxy.base}${db}/latest`)).body.toString();
  const size = Number(latest.split('\n')[1]);
  assert.ok(size > 0 && size < 256, `tree of ${size} records fits one partial tile`);
  const tile = `${db}/tile/8/0/000.p/${size}`;
  const lookup = `${db}/lookup/rsc.io/sampler@v1.3.0`;
  const corrupt: Array<[string, (b: Buffer) => Buffer]> = [
    [tile, (b) => {
      const out = Buffer.from(b);
      out[5] ^= 0x01; // one bit of one hash
      return out;
    }],
    [lookup, flipLastLetter], // the signature no longer verifies
    [lookup, (b) => Buffer.from(b.toString().replace(/h1:[A-Za-z0-9+/]{4}/, 'h1:AAAA'))], // the record no longer proves
    [`${db}/latest`, flipLastLetter],
  ];
  const keyOf = (p: string) => `sumdb:localhost.localdev/sumdb${p.slice(db.length)}`;
  // a gateway whose verifier has read nothing yet: each of these answers has to come from upstream
  const fresh = await startTestGateway({ upstream: relayBase, sumdb: TEST_SUMDB_KEY });
  try {
    // each refusal says why: the admin looks elsewhere for a bad signature than for a record or tile that lies
    const why = [/\(bad-proof: tile\/8\/0\/000\.p\/\d+: downloaded tiles do not match/, /\(bad-signature: rsc\.io\/sampler@v1\.3\.0: invalid signature/, /\(bad-proof: rsc\.io\/sampler@v1\.3\.0: record \d+ does not match the tree/, /\(bad-signature: latest: invalid signature/];
    for (const [i, [path, change]] of corrupt.entries()) {
      tamper.set(path, change);
      try {
        const r = await fetchVia(fresh.baseUrl + path);
        assert.equal(r.status, 502, `${path}: ${r.body.toString()}`);
        assert.match(r.body.toString(), /does not verify \(.+\); refusing it\n$/);
        assert.match(r.body.toString(), why[i]!);
        assert.equal(indexRow(keyOf(path), fresh), undefined, `${path} is not cached`);
      } finally {
        tamper.delete(path);
      }
    }
    for (const path of [tile, lookup, `${db}/latest`]) {
      const genuine = await fetchVia(fresh.baseUrl + path);
      assert.equal(genuine.status, 200, path);
      assert.equal(genuine.body.toString('latin1'), (await httpGet(proxy.base + path)).body.toString('latin1'), `${path}: the genuine bytes`);
      assert.ok(indexRow(keyOf(path), fresh), `${path} is cached once it verified`);
    }
    const again = await fetchVia(fresh.baseUrl + tile);
    assert.equal(again.headers['x-gomodgate-cache'], 'hit');
  } finally {
    await fresh.close();
  }
  // a gateway whose verifier holds the tile (authenticated for the checks above) answers from it: a mirror
  // that now alters the tile is not even asked, and the client gets the database's bytes
  tamper.set(tile, corrupt[0]![1]);
  try {
    const held = await fetchVia(gw.baseUrl + tile);
    assert.equal(held.status, 200, held.body.toString());
    assert.equal(held.body.toString('latin1'), (await httpGet(proxy.base + tile)).body.toString('latin1'));
  } finally {
    tamper.delete(tile);
  }
});

test('answers of a checksum database other than the configured one are relayed, never cached', async () => {
  const path = '/sumdb/other.example/sumdb/supported';
  const r = await fetchVia(`${gw.baseUrl}/sumdb/other.example/lookup/rsc.io/quote@v1.5.2`);
  assert.ok(r.status === 404 || r.status === 502 || r.status === 410, `status ${r.status}`);
  const db = gw.db();
  try {
    const n = (db.prepare("SELECT count(*) AS n FROM objects WHERE key LIKE 'sumdb:other.example%'").get() as { n: number }).n;
    assert.equal(n, 0, `${path}: nothing of another database is kept`);
  } finally {
    db.close();
  }
});

test('an object cached while verification was off is verified before it is served once it is on, and dropped when it fails', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'gmg-verify-later-'));
  const path = '/rsc.io/sampler/@v/v1.3.0.zip';
  const key = 'mod:rsc.io/sampler@v1.3.0.zip';
  const rowIn = (g: TestGateway) => {
    const db = g.db();
    try {
      return db.prepare('SELECT h1 FROM objects WHERE key = ?').get(key) as { h1: string | null } | undefined;
    } finally {
      db.close();
    }
  };
  // a well-formed module zip of the same module@version with other contents: only the database can tell
  const impostor = buildZipSync(moduleZipEntries('rsc.io/sampler', 'v1.3.0', { 'sampler.go': 'package sampler // injected\n' }, 'module rsc.io/sampler\n')).zip;
  tamper.set(path, () => impostor);
  try {
    const off = await startTestGateway({ upstream: relayBase, sumdb: 'off' }, { dir });
    try {
      const r = await fetchVia(off.baseUrl + path);
      assert.equal(r.status, 200, 'with verification off the tampered zip is served and cached');
      assert.equal(rowIn(off)?.h1, null);
    } finally {
      await off.close();
    }
    const on = await startTestGateway({ upstream: relayBase, sumdb: TEST_SUMDB_KEY }, { dir });
    try {
      const r = await fetchVia(on.baseUrl + path);
      assert.equal(r.status, 502, r.body.toString());
      assert.match(r.body.toString(), /checksum mismatch|refusing it/);
      assert.equal(rowIn(on), undefined, 'the unverifiable row is dropped');
      tamper.delete(path);
      const genuine = await fetchVia(on.baseUrl + path);
      assert.equal(genuine.status, 200);
      assert.ok(rowIn(on)?.h1?.startsWith('h1:'), 'the genuine zip is stored verified');
    } finally {
      await on.close();
    }
  } finally {
    tamper.delete(path);
    await rm(dir, { recursive: true, force: true });
  }
});
