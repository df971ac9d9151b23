// Unit: the large module zips the tests and the bench generate (test/helpers/module-zip.ts) stream through
// the gateway's zip walk to their central directory. Their random content holds no "PK", so no zip signature
// inside a stored entry stops the walk early (it would, by design) and makes a test of how far a zip streams
// before its verdict depend on chance. A real file written by yazl, walked on the event loop. No sockets.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ZipStreamHash } from '../../src/verify/zip-stream-hash.js';
import { writeLargeModuleZip } from '../helpers/module-zip.js';

const M = 'example.com/large/zip';
let dir: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gmg-largezip-'));
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('a generated large zip has "PK" only in its own records, and the walk vouches for every local entry', async () => {
  const size = 24 << 20; // plain random bytes of this size hold about 384 "PK"
  const written = await writeLargeModuleZip(join(dir, 'big.zip'), M, 'v1.0.0', Buffer.from(`module ${M}\n`), size);
  const zip = await readFile(written.zipFile);
  assert.equal(zip.length, written.zipSize);
  const kinds: string[] = [];
  // Bounded: each pass moves past one "PK" of the file.
  for (let at = zip.indexOf('PK'); at >= 0; at = zip.indexOf('PK', at + 1)) kinds.push(zip.readUInt16LE(at + 2).toString(16));
  // two local headers, data.bin's descriptor, two central entries, the end record
  assert.deepEqual(kinds.sort(), ['201', '201', '403', '403', '605', '807']);
  const directory = zip.readUInt32LE(zip.length - 6);
  const walk = new ZipStreamHash();
  // Bounded: the file in 1 MiB steps.
  for (let at = 0; at < zip.length; at += 1 << 20) await walk.write(zip.subarray(at, at + (1 << 20)));
  await walk.end();
  assert.equal(walk.walkedBytes, directory, 'walked to the central directory');
});
