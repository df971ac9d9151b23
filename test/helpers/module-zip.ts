// Module zips as the go command expects them (every entry `path@version/FILE`, go.mod included), for the test
// upstream. Small modules are built in memory, synchronously, by a minimal deflate writer (yazl pumps entries with
// setImmediate, so it cannot give addModule its sha256 synchronously); large ones are written by yazl to a file,
// stored and streamed, never held in memory. Both are checked against unzip and Go's archive/zip by the self-test.
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { crc32, deflateRawSync } from 'node:zlib';
import yazl from 'yazl';
import { hash1, hash1FromDigests } from './dirhash.js';

export interface ZipEntry {
  name: string; // full entry name, `path@version/FILE`
  data: Buffer;
}

export interface BuiltZip {
  zip: Buffer;
  zipSha256: string;
  h1: string;
}

export interface LargeZip {
  zipFile: string;
  zipSize: number;
  zipSha256: string;
  h1: string;
}

// A fixed timestamp keeps zips (and their sha256) reproducible: 2019-01-01 00:00:00 in MS-DOS form.
const DOS_TIME = 0;
const DOS_DATE = ((2019 - 1980) << 9) | (1 << 5) | 1;
const FIXED_MTIME = new Date(Date.UTC(2019, 0, 1));

function checkFileName(file: string): void {
  const parts = file.split('/');
  if (file === '' || file.startsWith('/') || parts.some((p) => p === '' || p === '.' || p === '..') || file.includes('\\')) {
    throw new Error(`module zip: bad file name ${JSON.stringify(file)}`);
  }
}

/** The entries of a module zip: the files under `path@version/`, plus go.mod unless the files carry their own. */
export function moduleZipEntries(path: string, version: string, files: Record<string, string | Buffer>, goMod: string | Buffer): ZipEntry[] {
  const all: Record<string, string | Buffer> = { 'go.mod': goMod, ...files };
  return Object.keys(all)
    .map((file) => {
      checkFileName(file);
      const data = all[file]!;
      return { name: `${path}@${version}/${file}`, data: typeof data === 'string' ? Buffer.from(data) : data };
    })
    .sort((a, b) => Buffer.compare(Buffer.from(a.name), Buffer.from(b.name)));
}

/** A deflated zip of small entries, built synchronously. No zip64: refuses archives of 4 GiB or more. */
export function buildZipSync(entries: ZipEntry[]): BuiltZip {
  const parts: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const e of entries) {
    const name = Buffer.from(e.name, 'utf8');
    const packed = deflateRawSync(e.data);
    const crc = crc32(e.data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4); // version needed: 2.0 (deflate)
    local.writeUInt16LE(0x0800, 6); // names are UTF-8
    local.writeUInt16LE(8, 8); // deflate
    local.writeUInt16LE(DOS_TIME, 10);
    local.writeUInt16LE(DOS_DATE, 12);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(packed.length, 18);
    local.writeUInt32LE(e.data.length, 22);
    local.writeUInt16LE(name.length, 26);
    local.writeUInt16LE(0, 28);
    const record = Buffer.alloc(46);
    record.writeUInt32LE(0x02014b50, 0);
    record.writeUInt16LE((3 << 8) | 20, 4); // made by: Unix, 2.0
    record.writeUInt16LE(20, 6);
    record.writeUInt16LE(0x0800, 8);
    record.writeUInt16LE(8, 10);
    record.writeUInt16LE(DOS_TIME, 12);
    record.writeUInt16LE(DOS_DATE, 14);
    record.writeUInt32LE(crc, 16);
    record.writeUInt32LE(packed.length, 20);
    record.writeUInt32LE(e.data.length, 24);
    record.writeUInt16LE(name.length, 28);
    // extra length, comment length, disk number, internal attributes: 0
    record.writeUInt32LE((0o100644 << 16) >>> 0, 38); // external attributes: regular file, rw-r--r--
    record.writeUInt32LE(offset, 42);
    parts.push(local, name, packed);
    central.push(record, name);
    offset += local.length + name.length + packed.length;
    if (offset > 0xffffffff) throw new Error('module zip: too large for the in-memory writer; use writeLargeModuleZip');
  }
  const centralDir = Buffer.concat(central);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(centralDir.length, 12);
  end.writeUInt32LE(offset, 16);
  const zip = Buffer.concat([...parts, centralDir, end]);
  return { zip, zipSha256: createHash('sha256').update(zip).digest('hex'), h1: hash1(entries) };
}

/**
 * Random, incompressible bytes without the two bytes "PK" anywhere, generated a chunk at a time and hashed on
 * the way. A stored entry with a data descriptor does not say where it ends, so the gateway's walk stops at any
 * zip signature inside one (zip-stream-hash.ts), and the rest of the zip then waits for the verdict. 40 MiB of
 * plain random bytes hold one of those signatures about one time in twenty, 100 MB one time in eight: a test of
 * how far a zip streams before its verdict would then fail, and a bench run would measure another path.
 */
function randomContent(size: number, digest: ReturnType<typeof createHash>): Readable {
  let left = size;
  let lastByte = -1;
  return new Readable({
    read() {
      if (left === 0) {
        this.push(null);
        return;
      }
      const chunk = randomBytes(Math.min(left, 1 << 20));
      if (lastByte === 0x50 && chunk[0] === 0x4b) chunk[0] = 0x4c;
      // Bounded: each pass moves past one "P" of the chunk.
      for (let at = chunk.indexOf(0x50); at >= 0 && at < chunk.length - 1; at = chunk.indexOf(0x50, at + 1)) {
        if (chunk[at + 1] === 0x4b) chunk[at + 1] = 0x4c;
      }
      lastByte = chunk[chunk.length - 1]!;
      left -= chunk.length;
      digest.update(chunk);
      this.push(chunk);
    },
  });
}

/**
 * A module zip with go.mod and one file `data.bin` of sizeBytes random bytes, written by yazl (stored, since
 * the content does not compress) straight to zipFile. Memory stays at one chunk whatever the size.
 */
export async function writeLargeModuleZip(zipFile: string, path: string, version: string, goMod: Buffer, sizeBytes: number): Promise<LargeZip> {
  const prefix = `${path}@${version}/`;
  const contentDigest = createHash('sha256');
  const zip = new yazl.ZipFile();
  zip.addBuffer(goMod, `${prefix}go.mod`, { mtime: FIXED_MTIME, mode: 0o100644, compress: false });
  zip.addReadStream(randomContent(sizeBytes, contentDigest), `${prefix}data.bin`, {
    mtime: FIXED_MTIME,
    mode: 0o100644,
    compress: false,
    size: sizeBytes,
  });
  zip.end();
  const zipDigest = createHash('sha256');
  let zipSize = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      zipDigest.update(chunk);
      zipSize += chunk.length;
      done(null, chunk);
    },
  });
  await pipeline(zip.outputStream, tap, createWriteStream(zipFile));
  const h1 = hash1FromDigests([
    { name: `${prefix}go.mod`, sha256Hex: createHash('sha256').update(goMod).digest('hex') },
    { name: `${prefix}data.bin`, sha256Hex: contentDigest.digest('hex') },
  ]);
  return { zipFile, zipSize, zipSha256: zipDigest.digest('hex'), h1 };
}
