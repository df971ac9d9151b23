// Unit: the streaming zip walk stops inflating where the go command would stop reading. An entry with a data
// descriptor says nothing of its size until after its data, so a deflate stream of a few hundred KB could make
// the walk inflate GiBs (8 MB inflated to 8 GiB took 10 s of CPU) before the fetch was refused. The walk now
// stops once its entries together pass a bound (a module zip may hold MAX_ZIP_FILE uncompressed): the entry is
// not proven, and the module's verdict is left to the whole-file check, which reads the declared sizes.
// Real zlib, a zip made byte by byte (test/helpers/raw-zip.ts), fed in 64 KiB chunks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ZipStreamHash } from '../../src/verify/zip-stream-hash.js';
import { MAX_ZIP_FILE } from '../../src/verify/module-zip-check.js';
import { buildRawZip } from '../helpers/raw-zip.js';

const P = 'example.com/bomb@v1.0.0/';
const MiB = 1 << 20;

async function walkAll(walk: ZipStreamHash, zip: Buffer): Promise<void> {
  // Bounded: the zip in 64 KiB steps.
  for (let at = 0; at < zip.length; at += 64 * 1024) await walk.write(zip.subarray(at, at + 64 * 1024));
  await walk.end();
}

test('an entry with a data descriptor that inflates past the bound stops the walk there', async () => {
  const zip = buildRawZip([
    { name: `${P}go.mod`, data: Buffer.from('module example.com/bomb\n') },
    { name: `${P}big.bin`, data: Buffer.alloc(64 * MiB), method: 8, descriptor: 'signed' },
  ]);
  assert.ok(zip.length < MiB, `a small zip on the wire (${zip.length} bytes)`);
  const walk = new ZipStreamHash(4 * MiB);
  await walkAll(walk, zip);
  // zlib hands out up to one 256 KiB chunk after the bound is passed; nothing near the 64 MiB it holds
  assert.ok(walk.inflatedBytes <= 4 * MiB + 256 * 1024, `inflated ${walk.inflatedBytes} bytes`);
  assert.ok(walk.walkedBytes < zip.length, 'the walk did not reach the central directory: the entry is not proven');
});

test('under the bound the same zip is walked to its central directory', async () => {
  const zip = buildRawZip([
    { name: `${P}go.mod`, data: Buffer.from('module example.com/bomb\n') },
    { name: `${P}big.bin`, data: Buffer.alloc(8 * MiB), method: 8, descriptor: 'signed' },
  ]);
  const walk = new ZipStreamHash();
  await walkAll(walk, zip);
  assert.equal(walk.inflatedBytes, 8 * MiB + 'module example.com/bomb\n'.length);
  assert.equal(walk.walkedBytes, zip.readUInt32LE(zip.length - 6), 'walked to the central directory');
  assert.equal(MAX_ZIP_FILE, 500 * MiB, 'the default bound is what a module zip may hold uncompressed');
});
