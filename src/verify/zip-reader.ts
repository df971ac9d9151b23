// A minimal ZIP reader for module zips: lists the central directory and streams one entry's contents
// (stored or deflated), checking its size and CRC-32 the way Go's archive/zip does.
// Owns only the container format. It must never read a whole archive into memory (zips may be 500 MiB):
// it reads the end records, the central directory, then each entry in chunks from the file descriptor.
// Not supported (rejected with 'bad-zip'): encryption, methods other than store/deflate, multi-disk.
import { open, type FileHandle } from 'node:fs/promises';
import { pipeline, Readable } from 'node:stream';
import { createInflateRaw, crc32 } from 'node:zlib';
import { VerifyError } from './verify-error.js';

export interface ZipEntry {
  /** The entry name as stored: raw bytes (usually UTF-8; Go also treats names as uninterpreted bytes). */
  name: Buffer;
  flags: number;
  method: number;
  crc32: number;
  compressedSize: number;
  uncompressedSize: number;
  /** Absolute offset of the local file header. */
  headerOffset: number;
}

const EOCD_SIG = 0x06054b50;
const EOCD_LEN = 22;
const ZIP64_LOCATOR_SIG = 0x07064b50;
const ZIP64_LOCATOR_LEN = 20;
const ZIP64_EOCD_SIG = 0x06064b50;
const ZIP64_EOCD_LEN = 56;
const CENTRAL_SIG = 0x02014b50;
const CENTRAL_LEN = 46;
const LOCAL_SIG = 0x04034b50;
const LOCAL_LEN = 30;
const DATA_DESCRIPTOR_SIG = 0x08074b50;
const ZIP64_EXTRA_ID = 0x0001;
const METHOD_STORE = 0;
const METHOD_DEFLATE = 8;
const FLAG_ENCRYPTED = 0x1;
const FLAG_DATA_DESCRIPTOR = 0x8;
const CHUNK = 64 * 1024;

function zipError(path: string, message: string, cause?: unknown): VerifyError {
  return new VerifyError('bad-zip', `${path}: ${message}`, { cause });
}

function readUint64(b: Buffer, off: number): number {
  const v = b.readBigUInt64LE(off);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new RangeError('64-bit value too large');
  return Number(v);
}

export class ZipReader {
  private constructor(
    private readonly path: string,
    private readonly fh: FileHandle,
    readonly entries: ZipEntry[],
  ) {}

  /** Opens a zip and reads its central directory. Throws VerifyError 'bad-zip' when it is not a valid zip. */
  static async open(path: string): Promise<ZipReader> {
    const fh = await open(path, 'r');
    try {
      const entries = await readCentralDirectory(path, fh);
      return new ZipReader(path, fh, entries);
    } catch (err) {
      await fh.close();
      if (err instanceof VerifyError) throw err;
      throw zipError(path, 'not a readable zip file', err);
    }
  }

  async close(): Promise<void> {
    await this.fh.close();
  }

  /**
   * Streams an entry's uncompressed contents in chunks. Throws 'bad-zip' for an unsupported method, a
   * truncated or oversized entry, or a CRC-32 mismatch (after the last chunk, like Go's reader).
   */
  async *contents(entry: ZipEntry): AsyncGenerator<Buffer> {
    const name = entry.name.toString('utf8');
    if (entry.flags & FLAG_ENCRYPTED) throw zipError(this.path, `${name}: encrypted entries are not supported`);
    if (entry.method !== METHOD_STORE && entry.method !== METHOD_DEFLATE) {
      throw zipError(this.path, `${name}: unsupported compression method ${entry.method}`);
    }
    const local = Buffer.alloc(LOCAL_LEN);
    const { bytesRead } = await this.fh.read(local, 0, LOCAL_LEN, entry.headerOffset);
    if (bytesRead !== LOCAL_LEN || local.readUInt32LE(0) !== LOCAL_SIG) {
      throw zipError(this.path, `${name}: no local file header at offset ${entry.headerOffset}`);
    }
    const dataStart = entry.headerOffset + LOCAL_LEN + local.readUInt16LE(26) + local.readUInt16LE(28);
    const raw = this.rawChunks(dataStart, entry.compressedSize, name);

    let crc = 0;
    let size = 0;
    const source = entry.method === METHOD_STORE ? raw : inflate(raw, this.path, name);
    for await (const chunk of source) {
      size += chunk.length;
      if (size > entry.uncompressedSize) throw zipError(this.path, `${name}: more data than the declared size`);
      crc = crc32(chunk, crc);
      yield chunk;
    }
    if (size !== entry.uncompressedSize) throw zipError(this.path, `${name}: data ends before the declared size`);
    if (entry.flags & FLAG_DATA_DESCRIPTOR) {
      const desc = Buffer.alloc(16);
      const got = (await this.fh.read(desc, 0, 16, dataStart + entry.compressedSize)).bytesRead;
      const off = got >= 4 && desc.readUInt32LE(0) === DATA_DESCRIPTOR_SIG ? 4 : 0;
      if (got < off + 4 || desc.readUInt32LE(off) !== entry.crc32) {
        throw zipError(this.path, `${name}: data descriptor checksum differs from the central directory`);
      }
      if (crc !== entry.crc32) throw zipError(this.path, `${name}: CRC-32 mismatch`);
    } else if (entry.crc32 !== 0 && crc !== entry.crc32) {
      throw zipError(this.path, `${name}: CRC-32 mismatch`);
    }
  }

  private async *rawChunks(start: number, length: number, name: string): AsyncGenerator<Buffer> {
    let pos = start;
    const end = start + length;
    while (pos < end) {
      const buf = Buffer.allocUnsafe(Math.min(CHUNK, end - pos));
      const { bytesRead } = await this.fh.read(buf, 0, buf.length, pos);
      if (bytesRead === 0) throw zipError(this.path, `${name}: file ends inside the entry`);
      pos += bytesRead;
      yield buf.subarray(0, bytesRead);
    }
  }
}

/** Inflates raw deflate chunks, yielding output as it comes (bounded by zlib's stream buffering). */
async function* inflate(input: AsyncIterable<Buffer>, path: string, name: string): AsyncGenerator<Buffer> {
  const inflater = createInflateRaw();
  // pipeline forwards a source error into the inflater and tears the source down if we stop early.
  pipeline(Readable.from(input), inflater, () => {});
  try {
    for await (const out of inflater) yield out as Buffer;
  } catch (err) {
    if (err instanceof VerifyError) throw err;
    throw zipError(path, `${name}: corrupt deflate data`, err);
  } finally {
    inflater.destroy();
  }
}

async function readAt(fh: FileHandle, pos: number, length: number): Promise<Buffer> {
  const buf = Buffer.alloc(length);
  const { bytesRead } = await fh.read(buf, 0, length, pos);
  return buf.subarray(0, bytesRead);
}

/** Finds the end-of-central-directory record in the last 1 KiB, then the last 65 KiB (as Go does). */
async function findEnd(path: string, fh: FileHandle, size: number): Promise<{ offset: number; record: Buffer }> {
  for (const window of [1024, 65 * 1024]) {
    const len = Math.min(window, size);
    const buf = await readAt(fh, size - len, len);
    for (let i = buf.length - EOCD_LEN; i >= 0; i--) {
      if (buf.readUInt32LE(i) === EOCD_SIG && i + EOCD_LEN + buf.readUInt16LE(i + 20) <= buf.length) {
        return { offset: size - len + i, record: buf.subarray(i, i + EOCD_LEN) };
      }
    }
    if (len === size) break;
  }
  throw zipError(path, 'no end of central directory record: not a zip file');
}

async function readCentralDirectory(path: string, fh: FileHandle): Promise<ZipEntry[]> {
  const { size } = await fh.stat();
  const end = await findEnd(path, fh, size);
  let endOffset = end.offset;
  let records = end.record.readUInt16LE(10);
  let dirSize = end.record.readUInt32LE(12);
  let dirOffset = end.record.readUInt32LE(16);

  if (records === 0xffff || dirSize === 0xffff || dirOffset === 0xffffffff) {
    const loc = endOffset >= ZIP64_LOCATOR_LEN ? await readAt(fh, endOffset - ZIP64_LOCATOR_LEN, ZIP64_LOCATOR_LEN) : Buffer.alloc(0);
    if (loc.length === ZIP64_LOCATOR_LEN && loc.readUInt32LE(0) === ZIP64_LOCATOR_SIG && loc.readUInt32LE(4) === 0 && loc.readUInt32LE(16) === 1) {
      const z64Offset = readUint64(loc, 8);
      const z64 = await readAt(fh, z64Offset, ZIP64_EOCD_LEN);
      if (z64.length !== ZIP64_EOCD_LEN || z64.readUInt32LE(0) !== ZIP64_EOCD_SIG) throw zipError(path, 'bad zip64 end record');
      endOffset = z64Offset;
      records = readUint64(z64, 32);
      dirSize = readUint64(z64, 40);
      dirOffset = readUint64(z64, 48);
    }
  }

  // Data may be prepended to a zip (self-extractors): offsets are then relative to the zip's start.
  let baseOffset = endOffset - dirSize - dirOffset;
  if (baseOffset + dirOffset < 0 || baseOffset + dirOffset >= size) throw zipError(path, 'central directory offset outside the file');
  if (dirSize > size) throw zipError(path, 'central directory larger than the file');

  let dir = await readAt(fh, baseOffset + dirOffset, Math.min(dirSize + CENTRAL_LEN, size - baseOffset - dirOffset));
  if (baseOffset !== 0 && (dir.length < 4 || dir.readUInt32LE(0) !== CENTRAL_SIG)) {
    baseOffset = 0; // like Go: retry assuming no prepended data
    dir = await readAt(fh, dirOffset, Math.min(dirSize + CENTRAL_LEN, Math.max(0, size - dirOffset)));
  }

  const entries: ZipEntry[] = [];
  let pos = 0;
  // Read headers until one is not a central directory header (the count field is only 16 bits).
  while (pos + CENTRAL_LEN <= dir.length && dir.readUInt32LE(pos) === CENTRAL_SIG) {
    const nameLen = dir.readUInt16LE(pos + 28);
    const extraLen = dir.readUInt16LE(pos + 30);
    const commentLen = dir.readUInt16LE(pos + 32);
    const varEnd = pos + CENTRAL_LEN + nameLen + extraLen + commentLen;
    if (varEnd > dir.length) break;
    const entry: ZipEntry = {
      name: Buffer.from(dir.subarray(pos + CENTRAL_LEN, pos + CENTRAL_LEN + nameLen)),
      flags: dir.readUInt16LE(pos + 8),
      method: dir.readUInt16LE(pos + 10),
      crc32: dir.readUInt32LE(pos + 16),
      compressedSize: dir.readUInt32LE(pos + 20),
      uncompressedSize: dir.readUInt32LE(pos + 24),
      headerOffset: dir.readUInt32LE(pos + 42),
    };
    applyZip64Extra(path, entry, dir.subarray(pos + CENTRAL_LEN + nameLen, pos + CENTRAL_LEN + nameLen + extraLen));
    entry.headerOffset += baseOffset;
    entries.push(entry);
    pos = varEnd;
  }
  if (entries.length % 0x10000 !== records % 0x10000) {
    throw zipError(path, `central directory lists ${records} entries but ${entries.length} could be read`);
  }
  return entries;
}

/** Replaces 0xffffffff sizes and offset with the values in the zip64 extra field. */
function applyZip64Extra(path: string, entry: ZipEntry, extra: Buffer): void {
  let needU = entry.uncompressedSize === 0xffffffff;
  let needC = entry.compressedSize === 0xffffffff;
  let needOff = entry.headerOffset === 0xffffffff;
  let p = 0;
  while (extra.length - p >= 4) {
    const tag = extra.readUInt16LE(p);
    const len = extra.readUInt16LE(p + 2);
    p += 4;
    if (extra.length - p < len) break;
    if (tag === ZIP64_EXTRA_ID) {
      let q = p;
      const take = (): number => {
        if (q + 8 > p + len) throw zipError(path, 'short zip64 extra field');
        const v = readUint64(extra, q);
        q += 8;
        return v;
      };
      if (needU) {
        entry.uncompressedSize = take();
        needU = false;
      }
      if (needC) {
        entry.compressedSize = take();
        needC = false;
      }
      if (needOff) {
        entry.headerOffset = take();
        needOff = false;
      }
    }
    p += len;
  }
  if (needC || needOff) throw zipError(path, 'entry needs zip64 sizes but has no zip64 extra field');
}
