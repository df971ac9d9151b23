// Unit tests for the transparency log: known answers from Go's own golang.org/x/mod/sumdb/tlog (Go 1.19's
// vendored copy, run over a log whose record i is "gomodgate record i\n"), plus tile-based proofs over an
// in-memory log with tampering. The generator lived in a temp dir; each value below is its output.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import {
  checkRecord,
  checkRecordInTree,
  checkTree,
  checkTreeConsistency,
  formatTreeHead,
  newTiles,
  nodeHash,
  parseRecord,
  parseTilePath,
  parseTreeHead,
  proveRecord,
  proveTree,
  readTileData,
  recordHash,
  splitStoredHashIndex,
  storedHashCount,
  storedHashIndex,
  storedHashesForRecordHash,
  tileForIndex,
  tileHashReader,
  tilePath,
  TileHashMemo,
  treeHash,
  type Hash,
  type Tile,
  type TileReader,
  type Tree,
} from '../../src/verify/tlog.js';
import { isVerifyError } from '../../src/verify/verify-error.js';

const b64 = (h: Buffer) => h.toString('base64');
const sha256hex = (s: string | Buffer) => createHash('sha256').update(s).digest('hex');

/** An in-memory log of `n` records, built with our own storedHashesForRecordHash. */
function buildLog(n: number): Hash[] {
  const hashes: Hash[] = [];
  const read = (idx: number[]) => idx.map((i) => hashes[i]);
  for (let i = 0; i < n; i++) hashes.push(...storedHashesForRecordHash(i, recordHash(`gomodgate record ${i}\n`), read));
  return hashes;
}

const LOG = buildLog(70000);
const syncRead = (idx: number[]) => idx.map((i) => LOG[i]);
const asyncRead = async (idx: number[]) => syncRead(idx);

/** Serves tiles computed from LOG, counting requests; `tamper` may alter a tile's bytes. */
function tileServer(height: number, tamper?: (t: Tile, data: Buffer) => Buffer, hashMemo?: TileHashMemo) {
  const requested: string[] = [];
  const reader: TileReader = {
    height,
    hashMemo,
    async readTiles(tiles) {
      return tiles.map((t) => {
        requested.push(tilePath(t));
        const data = readTileData(t, syncRead);
        return tamper ? tamper(t, Buffer.from(data)) : data;
      });
    },
  };
  return { reader, requested };
}

async function treeOf(size: number): Promise<Tree> {
  return { size, hash: await treeHash(size, asyncRead) };
}

function assertBadProof(err: unknown, message?: RegExp): true {
  assert.ok(isVerifyError(err, 'bad-proof'), `expected VerifyError bad-proof, got ${String(err)}`);
  if (message) assert.match(err.message, message);
  return true;
}

test('record and node hashes match Go', () => {
  assert.equal(b64(recordHash('hello\n')), 'VKbcG/yZDO0/V1cmTzV61wip7lTOPRFymWQbI09tWAA=');
  assert.equal(b64(recordHash('')), 'bjQLnP+zepicpUTmu3gKLHiQHT+zNzh2hRGjBhevoB0=');
  assert.equal(b64(nodeHash(recordHash('a'), recordHash('b'))), 'sTeYX/SE+2ANuTEHx3sDZcgNePW0Kd7Q/Zc2HQd5mes=');
});

test('stored-hash numbering matches Go, including beyond 32 bits', () => {
  const index: [number, number, number][] = [
    [0, 0, 0], [0, 1, 1], [1, 0, 2], [0, 2, 3], [0, 3, 4], [2, 0, 6], [1, 1, 5], [0, 1000, 1994],
    [3, 7, 123], [8, 1, 1021], [16, 3, 524284], [0, 2 ** 40, 2199023255551], [5, 2 ** 35 + 3, 2199023255803],
  ];
  for (const [level, n, want] of index) assert.equal(storedHashIndex(level, n), want, `storedHashIndex(${level},${n})`);
  const split: [number, number, number][] = [
    [0, 0, 0], [1, 0, 1], [2, 1, 0], [3, 0, 2], [4, 0, 3], [5, 1, 1], [6, 2, 0], [7, 0, 4], [100, 2, 12],
    [12345, 2, 1543], [2199023255629, 0, 1099511627816],
  ];
  for (const [i, level, n] of split) assert.deepEqual(splitStoredHashIndex(i), { level, n }, `split(${i})`);
  for (let i = 0; i < 5000; i++) {
    const { level, n } = splitStoredHashIndex(i);
    assert.equal(storedHashIndex(level, n), i);
  }
  const counts: [number, number][] = [[0, 0], [1, 1], [2, 3], [3, 4], [4, 7], [5, 8], [1000, 1994], [70000, 139994]];
  for (const [n, want] of counts) assert.equal(storedHashCount(n), want, `storedHashCount(${n})`);
  assert.equal(LOG.length, 139994);
});

test('tree hashes match Go at sizes across tile and power-of-two boundaries', async () => {
  const want: [number, string][] = [
    [1, 'dbLARCLukMEEUthvDKGckX7ySbz6lftodiwM3QrHX5Q='],
    [2, 'hk+ZdRFNljzQuqAa1OzQlebhAp1aKmaVDeqyNvhMCRo='],
    [3, 'SlPpL6tPY08gL9wWrxqVEAsx4Ba/WOZ+AAB+5NYPNdc='],
    [7, '9FuYSAyn3EqjIyI+xnxffc0YY2EWiIdRns7wuN9wE5c='],
    [8, '03MBJzWB18Mm+MWvfRr7aKcdm8ng2d1KDnBui/cl7sI='],
    [9, '45Hx5Tm9sRLl7Penp5frk6nRthEV3CBrZqU/OTcFpt8='],
    [167, 'hTfK40DIp/OWXgUI9i6DaJt6/LS9QFYwoNylHByYVKo='],
    [255, '62mieikEk+L3Frn/pkvXjCkaSYplnDnflktnDT+8WWw='],
    [256, 'DKJeMDZcreik3MteP70T39uXq/rvKLgH6I8Xm/GNSD8='],
    [257, 'TD2aMDmc/TtoDLvwFiakh1iKlGovybi2/hPMVpriQqQ='],
    [1000, '8cksDYYE81rYohd2wkQfxqpMT/pBjSHM2h+Hod5a8us='],
    [65535, 'giJZl8PRI5ipL1/9KnBmvQX6dnXWczXuF9EQVzlAXY0='],
    [65536, 'hEj87eeoIZeb8YWKVp6K3u90gSgoiEZcoEQYJiPsSkY='],
    [65537, '4mZtCmgN+lCf9ZlEHs1QCntqlAfdEEvZRad1+A/xHto='],
    [70000, 'eNRXfcY6mdIx0ZLNISc/kovqnzWe9pz0uWbOCwUm6j4='],
  ];
  for (const [n, h] of want) assert.equal(b64(await treeHash(n, asyncRead)), h, `treeHash(${n})`);
  assert.equal(b64(await treeHash(0, asyncRead)), b64(Buffer.alloc(32)));
});

test('tile paths and tile choice match Go', () => {
  const forIndex: [number, number, string][] = [
    [8, 0, 'tile/8/0/000.p/1'],
    [8, 1, 'tile/8/0/000.p/2'],
    [8, 510, 'tile/8/1/000.p/1'],
    [8, 511, 'tile/8/0/001.p/1'],
    [8, 2469123, 'tile/8/0/x004/822.p/136'],
    [8, 632313, 'tile/8/1/004.p/211'],
    [8, 4092, 'tile/8/1/000.p/8'],
    [2, 10, 'tile/2/0/001.p/3'],
    [2, 92, 'tile/2/1/002'],
    [8, 2199023255551, 'tile/8/0/x004/x294/x967/296.p/1'],
  ];
  for (const [h, i, want] of forIndex) assert.equal(tilePath(tileForIndex(h, i)), want, `tileForIndex(${h},${i})`);

  const joined = (h: number, o: number, n: number) => newTiles(h, o, n).map(tilePath).join(',');
  assert.equal(joined(2, 5, 37), 'tile/2/0/001,tile/2/0/002,tile/2/0/003,tile/2/0/004,tile/2/0/005,tile/2/0/006,tile/2/0/007,tile/2/0/008,tile/2/0/009.p/1,tile/2/1/000,tile/2/1/001,tile/2/1/002.p/1,tile/2/2/000.p/1,tile/2/2/000.p/2');
  assert.equal(joined(8, 300, 300), 'tile/8/0/001.p/44,tile/8/1/000.p/1');
  assert.equal(sha256hex(joined(8, 0, 167)), '2d75ca6141f22ad5e5ba89f651d4bdd474b6f6b251108e8d61ca5e713ed2c208');
  assert.equal(sha256hex(joined(8, 0, 70000)), 'a3548eb5907f1485c8635d1e933086805b0f6a23d72e65ede9f382b5eb710cf6');
  assert.equal(sha256hex(joined(8, 65000, 70000)), '24bb0d1547895a2695726e2db2dc4b8530d0fb23d881cf036ebd195c4184ca20');
});

test('tile paths parse only in canonical form; the height comes from the path', () => {
  assert.deepEqual(parseTilePath('tile/8/0/x004/822.p/136'), { height: 8, level: 0, n: 4822, width: 136 });
  assert.deepEqual(parseTilePath('/tile/8/1/000'), { height: 8, level: 1, n: 0, width: 256 });
  assert.deepEqual(parseTilePath('tile/2/data/001.p/3'), { height: 2, level: -1, n: 1, width: 3 });
  assert.deepEqual(parseTilePath('tile/10/0/000'), { height: 10, level: 0, n: 0, width: 1024 });
  for (const t of newTiles(3, 0, 2000)) assert.deepEqual(parseTilePath(tilePath(t)), t);
  for (const p of [
    'tile/8/0/4822', // not in groups of three
    'tile/8/0/x004/822.p/256', // width == 2^H must be written as a full tile
    'tile/8/0/000.p/0',
    'tile/8/0/0001',
    'tile/8/0/x000/001', // leading zero group
    'tile/0/0/000',
    'tile/31/0/000',
    'tile/8/-1/000',
    'tile/8/0',
    'tiles/8/0/000',
    'tile/8/0/000.p/1x',
  ]) {
    assert.equal(parseTilePath(p), null, p);
  }
});

test('tile contents match Go', () => {
  const want: [string, string][] = [
    ['tile/8/0/000', '0f86885f77cdac5dfe28a5dc0009faaf2bf11ed87f3b66787d4025c605320640'],
    ['tile/8/0/273.p/112', 'e4db8f3d52995b412d1e89ae678d8dc218ca0b815ef80b3e089dbcd681becfa1'],
    ['tile/8/1/000', 'e23cd6118564b09f6d1601f7f315414eecb3fcb994b38ea963cf8007a7fe973a'],
    ['tile/8/1/001.p/17', 'eab0e26bf35c8fce2f0b7c56a2ba7a62bca6c5e0a0f37a67fd8a0f3f1829cb83'],
    ['tile/8/2/000.p/1', 'c34a0f0aad7bc06648cc0b8ac4061fa61036c5d4fab1afe4b27aa0e35592a44b'],
    ['tile/2/3/001.p/3', 'a1d55d9c41b247b150ee993e535cb844ae47ed0a77c499487e3b9947fccc4535'],
  ];
  for (const [path, digest] of want) {
    const t = parseTilePath(path);
    assert.ok(t);
    assert.equal(sha256hex(readTileData(t, syncRead)), digest, path);
  }
});

test('record and tree proofs match Go and check against the tree hash', async () => {
  const want: [string, string][] = [
    ['proveRecord(1000,517)', '4bfbe9148956be7db3d358c5b7218170e89a4234daa07d229fff06ef9234e2c8'],
    ['proveRecord(70000,69999)', '27651517c4e03733c292bec128395940a7b96547969152d886772f38b4ae5a4e'],
    ['proveRecord(70000,0)', '60ac083a2e5d329b63c2d8d6d77f51d52ebc3cd71cf7b01251e443f17c132fca'],
    ['proveRecord(1,0)', 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'],
    ['proveRecord(257,256)', '0bc1030e828ea4376222fc68baf04997f7901449855956f886ed9ff2afd58468'],
    ['proveTree(1000,300)', 'bc61dbd598fdcf444cb72a31e4870ac31acc41e5b66dddbf8365b2712e920dc3'],
    ['proveTree(70000,65536)', '71ce8ea1a57c767164d5243dd1c3e6a03dcf6c2a1d389b7fac25a55504bf03c7'],
    ['proveTree(70000,70000)', 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'],
    ['proveTree(257,1)', '5a86aff5723fe77a9e3caedd4f87af2708ad764e3f9a35f3345f3f026c39f344'],
    ['proveTree(9,8)', '6323e3f4a21e87f79472712743a7df89e264f4aa6055422ec5fdf2e5c197f1fd'],
  ];
  for (const [call, digest] of want) {
    const [, kind, t, n] = /^(\w+)\((\d+),(\d+)\)$/.exec(call)!.map((x, i) => (i >= 2 ? Number(x) : x)) as [string, string, number, number];
    const th = await treeHash(t, asyncRead);
    if (kind === 'proveRecord') {
      const p = await proveRecord(t, n, asyncRead);
      assert.equal(sha256hex(p.map(b64).join(',')), digest, call);
      const leaf = recordHash(`gomodgate record ${n}\n`);
      checkRecord(p, t, th, n, leaf);
      assert.throws(() => checkRecord(p, t, th, n, recordHash('forged\n')), (e) => assertBadProof(e));
      if (p.length > 0) assert.throws(() => checkRecord(p.slice(1), t, th, n, leaf), (e) => assertBadProof(e));
    } else {
      const p = await proveTree(t, n, asyncRead);
      assert.equal(sha256hex(p.map(b64).join(',')), digest, call);
      const h = await treeHash(n, asyncRead);
      checkTree(p, t, th, n, h);
      assert.throws(() => checkTree(p, t, th, n, recordHash('forged\n')), (e) => assertBadProof(e));
      assert.throws(() => checkTree([...p, h], t, th, n, h), (e) => assertBadProof(e));
    }
  }
});

test('tile hash reader: records are proven from tiles at several heights and tree sizes', async () => {
  for (const height of [1, 2, 3, 8]) {
    for (const size of [1, 2, 7, 167, 256, 257, 1000, 65537, 70000]) {
      const tree = await treeOf(size);
      const { reader, requested } = tileServer(height);
      for (const id of new Set([0, 1, Math.floor(size / 3), size - 2, size - 1].filter((x) => x >= 0 && x < size))) {
        await checkRecordInTree(tree, id, `gomodgate record ${id}\n`, reader);
      }
      assert.ok(requested.length > 0);
      // Any stored hash, at any level, comes out right.
      const read = tileHashReader(tree, reader);
      const idx = [storedHashIndex(0, size - 1), storedHashIndex(0, 0)];
      assert.deepEqual((await read(idx)).map(b64), idx.map((i) => b64(LOG[i])));
    }
  }
});

test('tile hash reader: a wrong record, a wrong tree hash or an altered tile is caught', async () => {
  const tree = await treeOf(70000);
  const honest = tileServer(8).reader;
  await assert.rejects(checkRecordInTree(tree, 12345, 'gomodgate record 12346\n', honest), (e) => assertBadProof(e, /text was altered/));
  await assert.rejects(checkRecordInTree({ size: 70000, hash: recordHash('x') }, 5, 'gomodgate record 5\n', honest), (e) => assertBadProof(e, /do not match the hash of tree/));
  await assert.rejects(checkRecordInTree(tree, 70000, 'gomodgate record 70000\n', honest), (e) => assertBadProof(e, /cannot be in a tree/));

  // Flip one byte in each tile position that the proof for record 12345 uses: every one is noticed.
  const probe = tileServer(8);
  await checkRecordInTree(tree, 12345, 'gomodgate record 12345\n', probe.reader);
  assert.ok(probe.requested.length >= 3, `expected tiles at several levels, got ${probe.requested.join(' ')}`);
  for (const victim of probe.requested) {
    const bad = tileServer(8, (t, data) => {
      if (tilePath(t) === victim) data[data.length - 1] ^= 1;
      return data;
    }).reader;
    await assert.rejects(checkRecordInTree(tree, 12345, 'gomodgate record 12345\n', bad), (e) => assertBadProof(e), victim);
  }
  // A short tile is rejected by length.
  const short = tileServer(8, (_t, data) => data.subarray(0, data.length - 32)).reader;
  await assert.rejects(checkRecordInTree(tree, 3, 'gomodgate record 3\n', short), (e) => assertBadProof(e, /bytes, want/));
});

test('tree consistency: a prefix passes, a rewritten history fails', async () => {
  const { reader } = tileServer(8);
  await checkTreeConsistency(await treeOf(167), await treeOf(70000), reader);
  await checkTreeConsistency(await treeOf(65536), await treeOf(65537), reader);
  await checkTreeConsistency(await treeOf(1000), await treeOf(1000), reader);
  // An "old" head whose hash is not the prefix of the new tree (a fork).
  const forked: Tree = { size: 1000, hash: await treeHash(999, asyncRead) };
  await assert.rejects(checkTreeConsistency(forked, await treeOf(70000), reader), (e) => assertBadProof(e, /not a prefix/));
  // The same size: only the same hash is consistent, and no tile needs reading to know it.
  const same = tileServer(8);
  await checkTreeConsistency(await treeOf(1000), await treeOf(1000), same.reader);
  assert.deepEqual(same.requested, []);
  await assert.rejects(checkTreeConsistency(forked, await treeOf(1000), same.reader), (e) => assertBadProof(e, /not a prefix/));
});

test('tile hash memo: proofs give what they give without it, hash each tile run once, and still catch an altered tile', async () => {
  const tree = await treeOf(70000);
  const ids = [0, 1, 255, 256, 12345, 40000, 65535, 65536, 69999];
  const want = ids.map((id) => b64(LOG[storedHashIndex(0, id)]));
  const memo = new TileHashMemo();
  const remembered = tileServer(8, undefined, memo).reader;
  assert.deepEqual((await tileHashReader(tree, remembered)(ids.map((id) => storedHashIndex(0, id)))).map(b64), want);
  for (const id of ids) await checkRecordInTree(tree, id, `gomodgate record ${id}\n`, remembered);
  const first = memo.computed;
  assert.ok(first > 0);
  // The same proofs again: every run of every tile is remembered (none is hashed again).
  for (const id of ids) await checkRecordInTree(tree, id, `gomodgate record ${id}\n`, remembered);
  assert.equal(memo.computed, first);
  await checkTreeConsistency(await treeOf(65537), tree, remembered); // may hash runs of its own, once
  const afterConsistency = memo.computed;
  await checkTreeConsistency(await treeOf(65537), tree, remembered);
  assert.equal(memo.computed, afterConsistency);

  // An altered byte in any tile a proof reads, under a path whose honest bytes the memo holds, is caught.
  const probe = tileServer(8);
  await checkRecordInTree(tree, 12345, 'gomodgate record 12345\n', probe.reader);
  for (const victim of probe.requested) {
    const bad = tileServer(8, (t, data) => {
      if (tilePath(t) === victim) data[7] ^= 1;
      return data;
    }, memo).reader;
    await assert.rejects(checkRecordInTree(tree, 12345, 'gomodgate record 12345\n', bad), (e) => assertBadProof(e), victim);
  }
  // ...and the honest proof still passes afterwards: an altered tile replaced nothing the memo answers for.
  await checkRecordInTree(tree, 12345, 'gomodgate record 12345\n', remembered);

  // What the memo answers does not change when the caller's buffer does.
  const tile: Tile = { height: 8, level: 0, n: 3, width: 256 };
  const data = readTileData(tile, syncRead);
  const before = b64(memo.runHash(tile, data, 0, data.length));
  const mine = Buffer.from(data);
  const h = memo.runHash(tile, mine, 0, 32);
  mine.fill(0);
  assert.equal(b64(h), b64(data.subarray(0, 32)));
  assert.equal(b64(memo.runHash(tile, data, 0, data.length)), before);
});

test('tree heads and records parse as Go formats them', () => {
  const text = 'go.sum database tree\n167\nSct0Ln8CDf8Fh3RRjoJ5f166KqrwTUk0JRw0ILii+3I=\n';
  const tree = parseTreeHead(text);
  assert.equal(tree.size, 167);
  assert.equal(b64(tree.hash), 'Sct0Ln8CDf8Fh3RRjoJ5f166KqrwTUk0JRw0ILii+3I=');
  assert.equal(formatTreeHead(tree), text);
  assert.equal(parseTreeHead(`${text}extra line\n`).size, 167);
  for (const bad of [
    'go.sum database tree\n167\n',
    'go.sum database tree\n0167\nSct0Ln8CDf8Fh3RRjoJ5f166KqrwTUk0JRw0ILii+3I=\n',
    'go.sum database tree\n-1\nSct0Ln8CDf8Fh3RRjoJ5f166KqrwTUk0JRw0ILii+3I=\n',
    'go.sum database tree\n167\nSct0Ln8CDf8Fh3RRjoJ5f166KqrwTUk0JRw0ILii+3\n',
    'go.sum database tre\n167\nSct0Ln8CDf8Fh3RRjoJ5f166KqrwTUk0JRw0ILii+3I=\n',
  ]) {
    assert.throws(() => parseTreeHead(bad), (e) => assertBadProof(e, /malformed tree head/), JSON.stringify(bad));
  }

  const msg = Buffer.from('155\nrsc.io/quote v1.5.2 h1:x=\nrsc.io/quote v1.5.2/go.mod h1:y=\n\ngo.sum database tree\n');
  const r = parseRecord(msg);
  assert.equal(r.id, 155);
  assert.equal(r.text.toString(), 'rsc.io/quote v1.5.2 h1:x=\nrsc.io/quote v1.5.2/go.mod h1:y=\n');
  assert.equal(r.rest.toString(), 'go.sum database tree\n');
  for (const bad of ['x\na\n\n', '155\na\n', '155\na\tb\n\n', '\na\n\n']) {
    assert.throws(() => parseRecord(Buffer.from(bad)), (e) => assertBadProof(e, /malformed record/), JSON.stringify(bad));
  }
});

test('a forged record is not accepted through unauthenticated tiles (Go 1.19 x/mod accepts this one)', async () => {
  // Tree 70000 has 6 edge subtrees in 3 edge tiles; record 12345's tiles come after them in the fetch
  // list. Replace the record's leaf hash in its level-0 tile with the hash of a forged record.
  const tree = await treeOf(70000);
  const forging = tileServer(8, (t, data) => {
    if (tilePath(t) === 'tile/8/0/048') recordHash('forged\n').copy(data, (12345 - 48 * 256) * 32);
    return data;
  }).reader;
  await assert.rejects(checkRecordInTree(tree, 12345, 'forged\n', forging), (e) => assertBadProof(e, /does not match its parent/));
});

test('zeroing any stored hash in the tiles is caught, for every hash of every small tree', async () => {
  // Like x/mod's own TestTileHashReader (added after Go 1.19): height 2, trees of 1..70 records.
  const height = 2;
  for (let size = 1; size <= 70; size++) {
    const tree = await treeOf(size);
    const all = Array.from({ length: storedHashIndex(0, size) }, (_, i) => i);
    assert.deepEqual((await tileHashReader(tree, tileServer(height).reader)(all)).map(b64), all.map((i) => b64(LOG[i])));
    for (const i of all) {
      // Zero the bottom-row span of tile data that hash i is computed from.
      const target = tileForIndex(height, i);
      const span = (() => {
        const { level } = splitStoredHashIndex(i);
        const within = level - target.level * height;
        const w = 2 ** within;
        return { start: (target.width - w) * 32, end: target.width * 32 };
      })();
      const zeroing = tileServer(height, (t, data) => {
        if (t.level === target.level && t.n === target.n && span.end <= data.length) data.fill(0, span.start, span.end);
        return data;
      }).reader;
      await assert.rejects(tileHashReader(tree, zeroing)([i]), (e) => assertBadProof(e), `size ${size}, hash ${i}`);
      await assert.rejects(tileHashReader(tree, zeroing)(all), (e) => assertBadProof(e), `size ${size}, all, hash ${i}`);
    }
  }
});
