// Unit tests for the h1: hashes. Zips are built here byte by byte (to reach corners: data descriptors,
// stored entries, zip64 fields, prepended data, duplicate and non-UTF-8 names, broken CRCs) and hashed
// both by our code and by Go's own algorithm (a std-only Go program using archive/zip, as dirhash.HashZip
// does), run with the installed go command. The expected values below were produced by that program, so
// the test keeps its teeth where no go command is installed.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32, deflateRawSync } from 'node:zlib';
import { hash1GoMod, hash1ZipFile } from '../../src/verify/dirhash.js';
import { isVerifyError } from '../../src/verify/verify-error.js';
import { buildGoDirhash } from '../helpers/go-dirhash.js';


interface TestEntry {
  name: string | Buffer;
  data: Buffer;
  method?: 0 | 8 | 99;
  dataDescriptor?: boolean;
  zip64?: boolean;
  crc?: number; // override (to break it)
  truncate?: number; // drop this many bytes of compressed data
}

/** Writes a zip: local headers + data (+ descriptors), central directory, end record. */
function makeZip(entries: TestEntry[], opts: { prefix?: Buffer } = {}): Buffer {
  const parts: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  const push = (b: Buffer) => {
    parts.push(b);
    offset += b.length;
  };
  for (const e of entries) {
    const name = typeof e.name === 'string' ? Buffer.from(e.name, 'utf8') : e.name;
    const method = e.method ?? 8;
    let comp = method === 8 ? deflateRawSync(e.data) : e.data;
    if (e.truncate) comp = comp.subarray(0, comp.length - e.truncate);
    const crc = e.crc ?? crc32(e.data);
    const flags = (e.dataDescriptor ? 0x8 : 0) | (typeof e.name === 'string' ? 0x800 : 0);
    const headerOffset = offset;
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(e.zip64 ? 45 : 20, 4);
    local.writeUInt16LE(flags, 6);
    local.writeUInt16LE(method, 8);
    local.writeUInt16LE(0x21, 12);
    local.writeUInt32LE(e.dataDescriptor ? 0 : crc, 14);
    local.writeUInt32LE(e.dataDescriptor ? 0 : comp.length, 18);
    local.writeUInt32LE(e.dataDescriptor ? 0 : e.data.length, 22);
    local.writeUInt16LE(name.length, 26);
    push(Buffer.concat([local, name, comp]));
    if (e.dataDescriptor) {
      const dd = Buffer.alloc(16);
      dd.writeUInt32LE(0x08074b50, 0);
      dd.writeUInt32LE(crc, 4);
      dd.writeUInt32LE(comp.length, 8);
      dd.writeUInt32LE(e.data.length, 12);
      push(dd);
    }
    const extra = e.zip64 ? Buffer.alloc(28) : Buffer.alloc(0);
    if (e.zip64) {
      extra.writeUInt16LE(1, 0);
      extra.writeUInt16LE(24, 2);
      extra.writeBigUInt64LE(BigInt(e.data.length), 4);
      extra.writeBigUInt64LE(BigInt(comp.length), 12);
      extra.writeBigUInt64LE(BigInt(headerOffset), 20);
    }
    const c = Buffer.alloc(46);
    c.writeUInt32LE(0x02014b50, 0);
    c.writeUInt16LE(e.zip64 ? 45 : 20, 4);
    c.writeUInt16LE(e.zip64 ? 45 : 20, 6);
    c.writeUInt16LE(flags, 8);
    c.writeUInt16LE(method, 10);
    c.writeUInt16LE(0x21, 14);
    c.writeUInt32LE(crc, 16);
    c.writeUInt32LE(e.zip64 ? 0xffffffff : comp.length, 20);
    c.writeUInt32LE(e.zip64 ? 0xffffffff : e.data.length, 24);
    c.writeUInt16LE(name.length, 28);
    c.writeUInt16LE(extra.length, 30);
    c.writeUInt32LE(e.zip64 ? 0xffffffff : headerOffset, 42);
    central.push(Buffer.concat([c, name, extra]));
  }
  const cd = Buffer.concat(central);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(cd.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([opts.prefix ?? Buffer.alloc(0), ...parts, cd, end]);
}

/** Deterministic pseudo-random bytes (some compressible, some not). */
function bytes(seed: string, length: number): Buffer {
  const out: Buffer[] = [];
  let block = createHash('sha256').update(seed).digest();
  let n = 0;
  while (n < length) {
    out.push(block, Buffer.from('module example.com/m\n'.repeat(4)));
    n += block.length + 84;
    block = createHash('sha256').update(block).digest();
  }
  return Buffer.concat(out).subarray(0, length);
}

const P = 'example.com/m@v1.0.0/';
const CASES: { name: string; entries: TestEntry[]; prefix?: Buffer; want: string }[] = [
  {
    name: 'typical',
    entries: [
      { name: `${P}go.mod`, data: Buffer.from('module example.com/m\n\ngo 1.19\n') },
      { name: `${P}main.go`, data: Buffer.from('package main\n\nfunc main() {}\n') },
      { name: `${P}LICENSE`, data: bytes('license', 1100) },
    ],
    want: 'h1:g9xQVxBw0fAa3pDMwwJV8cuDvUJxIU9DBK9G4Udw6W4=',
  },
  {
    name: 'stored, descriptors, empty file, directory entry, unsorted',
    entries: [
      { name: `${P}z/last.txt`, data: Buffer.from('z\n'), method: 0 },
      { name: `${P}a/`, data: Buffer.alloc(0), method: 0 },
      { name: `${P}empty`, data: Buffer.alloc(0) },
      { name: `${P}dd.txt`, data: bytes('dd', 5000), dataDescriptor: true },
      { name: `${P}dd-stored.txt`, data: bytes('dds', 300), dataDescriptor: true, method: 0 },
      { name: `${P}A.txt`, data: Buffer.from('upper sorts first\n') },
    ],
    want: 'h1:BQU5zkEFdy3uUQG+Lz3iAwzZd/yNkFBbC7IweX2pUeo=',
  },
  {
    name: 'names sorted bytewise (UTF-8), beyond the BMP, and raw non-UTF-8 bytes',
    entries: [
      { name: `${P}\u{1F600}.txt`, data: Buffer.from('emoji\n') },
      { name: `${P}\uFF21.txt`, data: Buffer.from('fullwidth A\n') },
      { name: `${P}\u00e9.txt`, data: Buffer.from('e acute\n') },
      { name: Buffer.concat([Buffer.from(P), Buffer.from([0xff, 0x41])]), data: Buffer.from('latin-1 junk\n') },
    ],
    want: 'h1:f1311EOBYllTlZPsU7uQzfthJ6gqtRVsQfxBOA5YWUY=',
  },
  {
    name: 'duplicate names (both lines use the last entry, as Go does)',
    entries: [
      { name: `${P}dup.txt`, data: Buffer.from('first\n') },
      { name: `${P}other.txt`, data: Buffer.from('other\n') },
      { name: `${P}dup.txt`, data: Buffer.from('second\n') },
    ],
    want: 'h1:s9R25KcJEMHjsJHARxJCh5aqgU7hnCQiXxWdhRd1KAU=',
  },
  {
    name: 'zip64 sizes and offsets, a 3 MiB file read in chunks, prepended data',
    entries: [
      { name: `${P}big.bin`, data: bytes('big', 3 * 1024 * 1024 + 17), zip64: true },
      { name: `${P}small.txt`, data: Buffer.from('small\n'), zip64: true, method: 0 },
    ],
    prefix: Buffer.from('#!/bin/sh\necho self-extracting\nexit 0\n'),
    want: 'h1:MsREQ37r6HuGyrW2IXj9YfKDlRX1yT9UMljctjXwrb4=',
  },
];

const BROKEN: { name: string; entries: TestEntry[]; message: RegExp }[] = [
  { name: 'CRC mismatch', entries: [{ name: `${P}a`, data: Buffer.from('abc'), crc: 1234 }], message: /CRC-32/ },
  { name: 'stored CRC mismatch', entries: [{ name: `${P}a`, data: Buffer.from('abc'), crc: 1, method: 0 }], message: /CRC-32/ },
  { name: 'descriptor CRC mismatch', entries: [{ name: `${P}a`, data: Buffer.from('abc'), crc: 7, dataDescriptor: true }], message: /CRC-32|checksum/ },
  { name: 'unknown method', entries: [{ name: `${P}a`, data: Buffer.from('abc'), method: 99 }], message: /method 99/ },
  { name: 'truncated deflate', entries: [{ name: `${P}a`, data: bytes('t', 4000), truncate: 40 }], message: /deflate|declared size/ },
  { name: 'newline in a name', entries: [{ name: `${P}a\nb`, data: Buffer.from('x') }], message: /newlines/ },
];


let dir = '';
const paths = new Map<string, string>();
let goHashes: Map<string, string> | null = null; // null: no go command here

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gomodgate-dirhash-'));
  let i = 0;
  for (const c of [...CASES, ...BROKEN]) {
    const p = join(dir, `case${i++}.zip`);
    await writeFile(p, makeZip(c.entries, { prefix: 'prefix' in c ? c.prefix : undefined }));
    paths.set(c.name, p);
  }
  const go = await buildGoDirhash(dir);
  goHashes = go && (await go.zips([...paths.values()]));
});

after(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

test('hash1GoMod is Hash1 over one file named go.mod (rsc.io/quote v1.5.2, from its go.sum line)', () => {
  const mod = Buffer.from('module "rsc.io/quote"\n\nrequire "rsc.io/sampler" v1.3.0\n');
  assert.equal(hash1GoMod(mod), 'h1:LzX7hefJvL54yjefDEDHNONDjII0t9xZLPXsUe+TKr0=');
  const manual = createHash('sha256').update(`${createHash('sha256').update(mod).digest('hex')}  go.mod\n`).digest('base64');
  assert.equal(hash1GoMod(mod), `h1:${manual}`);
});

for (const c of CASES) {
  test(`hash1ZipFile matches Go: ${c.name}`, async (t) => {
    const p = paths.get(c.name)!;
    const ours = await hash1ZipFile(p);
    if (goHashes === null) t.diagnostic('go command not found: compared with recorded Go output only');
    else assert.equal(ours, goHashes.get(p), 'live Go output');
    assert.equal(ours, c.want, 'recorded Go output');
  });
}

for (const c of BROKEN) {
  test(`hash1ZipFile rejects what Go rejects: ${c.name}`, async () => {
    const p = paths.get(c.name)!;
    await assert.rejects(hash1ZipFile(p), (err: unknown) => {
      assert.ok(isVerifyError(err, 'bad-zip'), `expected bad-zip, got ${String(err)}`);
      assert.match(err.message, c.message);
      return true;
    });
    if (goHashes !== null) assert.match(goHashes.get(p)!, /^error /, 'Go must fail too');
  });
}

test('a file that is not a zip is rejected as bad-zip', async () => {
  const p = join(dir, 'not.zip');
  await writeFile(p, 'PK but not really a zip file\n'.repeat(10));
  await assert.rejects(hash1ZipFile(p), (err: unknown) => isVerifyError(err, 'bad-zip'));
});
