// A minimal ZIP reader for module zips: lists the central directory and streams one entry's contents
// (stored or deflated), checking its size and CRC-32. It reads an archive exactly the way Go 1.19's
// archive/zip does (the go command hashes and extracts what that reader sees), so a zip means the same
// files here and to the go command: central headers are read until one is not a header, the entry count
// is checked modulo 65536, a data descriptor needs 12 bytes (16 with its signature), the encryption flag
// is ignored. Owns only the container format; what a *module* zip may contain is module-zip-check.ts.
// It must never read a whole archive into memory (zips may be 500 MiB): end records, the central
// directory (streamed), then each entry in chunks from the file descriptor. Small reads (local headers, data
// descriptors, the checks' probes) go through one 64 KiB window: the next entry's header usually lies right
// after the descriptor just read, so a many-file zip costs one read per entry, not three.
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
  /** Bytes of stored data to read (Go's CompressedSize64 as int64; a negative one reads nothing). */
  compressedSize: number;
  /** Declared size (uint64; above 2^53 only approximate, which no real read can reach). */
  uncompressedSize: number;
  /** Absolute offset of the local file header; -1 when Go's would be outside any file (reads fail). */
  headerOffset: number;
  /** Absolute offset of this entry's central directory header. */
  centralOffset: number;
  /** Whether the compressed size came out negative as Go's int64 (its data descriptor cannot be read). */
  badCompressedSize: boolean;
}

/** Where the parts of the archive were found: what module-zip-check.ts needs to spot ambiguous archives. */
export interface ZipLayout {
  fileSize: number;
  /** Offset of the (32-bit) end of central directory record and the end of its comment. */
  endOffset: number;
  endRecordEnd: number;
  /** Whether a zip64 end record was used. */
  zip64: boolean;
  /** Entry count and directory size as declared by the end record(s). */
  declaredRecords: bigint;
  declaredDirSize: bigint;
  /** Offset of the end record the directory offsets are relative to (zip64 end record if used). */
  directoryEndOffset: number;
  /** Where the central headers were read from and where the last one ended. */
  dirStart: number;
  dirEnd: number;
  /** Bytes prepended before the zip (Go's baseOffset), 0 for an ordinary archive. */
  baseOffset: number;
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
const FLAG_DATA_DESCRIPTOR = 0x8;
const CHUNK = 64 * 1024;
const U32_MAX = 0xffffffff;

function zipError(path: string, message: string, cause?: unknown): VerifyError {
  return new VerifyError('bad-zip', `${path}: ${message}`, { cause });
}

/** A uint64 read as Go's int64(x) would see it. */
function int64At(b: Buffer, off: number): bigint {
  return b.readBigInt64LE(off);
}

/** A bigint as a JS number when it is a usable file offset (0 ≤ v ≤ limit), else -1. */
function offsetOrInvalid(v: bigint, limit: number): number {
  return v >= 0n && v <= BigInt(limit) ? Number(v) : -1;
}

/** Bytes read at once for a small read at an offset the window does not cover. */
const WINDOW_BYTES = 64 * 1024;

export class ZipReader {
  /** The last window read for small reads (the file is complete and does not change while open). */
  private window: { start: number; bytes: Buffer } | null = null;

  private constructor(
    private readonly path: string,
    private readonly fh: FileHandle,
    readonly entries: ZipEntry[],
    readonly layout: ZipLayout,
  ) {}

  /** Opens a zip and reads its central directory. Throws VerifyError 'bad-zip' when Go's reader would refuse it. */
  static async open(path: string): Promise<ZipReader> {
    const fh = await open(path, 'r');
    try {
      const { entries, layout } = await readCentralDirectory(path, fh);
      return new ZipReader(path, fh, entries, layout);
    } catch (err) {
      await fh.close();
      if (err instanceof VerifyError) throw err;
      throw zipError(path, 'not a readable zip file', err);
    }
  }

  async close(): Promise<void> {
    await this.fh.close();
  }

  /** Reads up to `length` bytes at `pos` (short at the end of the file). */
  async readAt(pos: number, length: number): Promise<Buffer> {
    if (pos < 0 || length <= 0) return Buffer.alloc(0);
    let w = this.window;
    const inWindow = w !== null && pos >= w.start && pos + length <= w.start + w.bytes.length;
    // a window that ends short ends at the end of the file: it answers short, as a read there would
    const atEnd = w !== null && w.bytes.length < WINDOW_BYTES && pos >= w.start && pos <= w.start + w.bytes.length;
    if (!inWindow && !atEnd) {
      if (length > WINDOW_BYTES) return readAt(this.fh, pos, length);
      w = this.window = { start: pos, bytes: await readAt(this.fh, pos, WINDOW_BYTES) };
    }
    const from = pos - w!.start;
    return w!.bytes.subarray(from, Math.min(from + length, w!.bytes.length));
  }

  /** The local header of an entry (30 bytes + name + extra), or null where Go's reader finds none. */
  async localHeader(entry: ZipEntry): Promise<{ header: Buffer; name: Buffer; extra: Buffer; dataStart: number } | null> {
    if (entry.headerOffset < 0) return null;
    const local = await this.readAt(entry.headerOffset, LOCAL_LEN);
    if (local.length !== LOCAL_LEN || local.readUInt32LE(0) !== LOCAL_SIG) return null;
    const nameLen = local.readUInt16LE(26);
    const extraLen = local.readUInt16LE(28);
    const rest = await this.readAt(entry.headerOffset + LOCAL_LEN, nameLen + extraLen);
    return {
      header: local,
      name: rest.subarray(0, nameLen),
      extra: rest.subarray(nameLen),
      dataStart: entry.headerOffset + LOCAL_LEN + nameLen + extraLen,
    };
  }

  /**
   * Streams an entry's uncompressed contents in chunks. Throws 'bad-zip' for an unsupported method, a
   * truncated or oversized entry, or a CRC-32 mismatch (after the last chunk, like Go's reader). The
   * encryption flag is ignored, as Go ignores it: the bytes are what they are, and the hash covers them.
   */
  async *contents(entry: ZipEntry): AsyncGenerator<Buffer> {
    const name = entry.name.toString('utf8');
    const local = entry.headerOffset < 0 ? Buffer.alloc(0) : await this.readAt(entry.headerOffset, LOCAL_LEN);
    if (local.length !== LOCAL_LEN || local.readUInt32LE(0) !== LOCAL_SIG) {
      throw zipError(this.path, `${name}: no local file header at offset ${entry.headerOffset}`);
    }
    if (entry.method !== METHOD_STORE && entry.method !== METHOD_DEFLATE) {
      throw zipError(this.path, `${name}: unsupported compression method ${entry.method}`);
    }
    const dataStart = entry.headerOffset + LOCAL_LEN + local.readUInt16LE(26) + local.readUInt16LE(28);
    const raw = this.rawChunks(dataStart, entry.compressedSize);

    let crc = 0;
    let size = 0;
    const source = entry.method === METHOD_STORE ? raw : inflate(raw, this.path, name);
    for await (const chunk of source) {
      size += chunk.length;
      crc = crc32(chunk, crc);
      if (size > entry.uncompressedSize) throw zipError(this.path, `${name}: more data than the declared size`);
      yield chunk;
    }
    if (size !== entry.uncompressedSize) throw zipError(this.path, `${name}: data ends before the declared size`);
    if (entry.flags & FLAG_DATA_DESCRIPTOR) {
      // Go reads 4 bytes; with the signature the CRC is in the next 12, without it the 4 bytes are the CRC
      // and 8 more (the sizes) must follow: 16 or 12 bytes in all, or the entry is unreadable.
      const desc = entry.badCompressedSize ? Buffer.alloc(0) : await this.readAt(dataStart + entry.compressedSize, 16);
      const signed = desc.length >= 4 && desc.readUInt32LE(0) === DATA_DESCRIPTOR_SIG;
      if (desc.length < (signed ? 16 : 12)) throw zipError(this.path, `${name}: data descriptor cut short by the end of the file`);
      if (desc.readUInt32LE(signed ? 4 : 0) !== entry.crc32) {
        throw zipError(this.path, `${name}: data descriptor checksum differs from the central directory`);
      }
      if (crc !== entry.crc32) throw zipError(this.path, `${name}: CRC-32 mismatch`);
    } else if (entry.crc32 !== 0 && crc !== entry.crc32) {
      throw zipError(this.path, `${name}: CRC-32 mismatch`);
    }
  }

  /** The stored bytes of an entry; like Go's SectionReader, stops quietly at the end of the file. */
  private async *rawChunks(start: number, length: number): AsyncGenerator<Buffer> {
    let pos = start;
    const end = start + length;
    while (pos < end) {
      const buf = Buffer.allocUnsafe(Math.min(CHUNK, end - pos));
      const { bytesRead } = await this.fh.read(buf, 0, buf.length, pos);
      if (bytesRead === 0) return;
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
  if (pos < 0 || length <= 0) return Buffer.alloc(0);
  const buf = Buffer.alloc(length);
  const { bytesRead } = await fh.read(buf, 0, length, pos);
  return buf.subarray(0, bytesRead);
}

/** Sequential reads from a file position through a 64 KiB buffer (Go reads the directory through bufio). */
class FileCursor {
  private buf: Buffer = Buffer.alloc(0);
  private bufStart: number;
  pos: number;

  constructor(
    private readonly fh: FileHandle,
    start: number,
  ) {
    this.pos = start;
    this.bufStart = start;
  }

  /** Up to n bytes; fewer only at the end of the file. */
  async read(n: number): Promise<Buffer> {
    const parts: Buffer[] = [];
    let want = n;
    while (want > 0) {
      let off = this.pos - this.bufStart;
      if (off >= this.buf.length) {
        this.buf = await readAt(this.fh, this.pos, Math.max(CHUNK, want));
        this.bufStart = this.pos;
        off = 0;
        if (this.buf.length === 0) break;
      }
      const take = this.buf.subarray(off, off + want);
      parts.push(take);
      this.pos += take.length;
      want -= take.length;
    }
    return parts.length === 1 ? parts[0] : Buffer.concat(parts);
  }
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

type HeaderResult = { kind: 'entry'; entry: ZipEntry } | { kind: 'format' } | { kind: 'short' } | { kind: 'eof' };

/** Go's readDirectoryHeader: 'format' for a non-header (or unusable zip64 field), 'short'/'eof' at the end. */
async function readDirectoryHeader(cursor: FileCursor): Promise<HeaderResult> {
  const centralOffset = cursor.pos;
  const h = await cursor.read(CENTRAL_LEN);
  if (h.length === 0) return { kind: 'eof' };
  if (h.length < CENTRAL_LEN) return { kind: 'short' };
  if (h.readUInt32LE(0) !== CENTRAL_SIG) return { kind: 'format' };
  const nameLen = h.readUInt16LE(28);
  const extraLen = h.readUInt16LE(30);
  const commentLen = h.readUInt16LE(32);
  const varLen = nameLen + extraLen + commentLen;
  const v = await cursor.read(varLen);
  if (varLen > 0 && v.length === 0) return { kind: 'eof' };
  if (v.length < varLen) return { kind: 'short' };
  let compressed = BigInt(h.readUInt32LE(20));
  let uncompressed = BigInt(h.readUInt32LE(24));
  let headerOffset = BigInt(h.readUInt32LE(42));
  // Go consults the zip64 field only for values that are maxed out, and each such value must be there.
  let needU = uncompressed === BigInt(U32_MAX);
  let needC = compressed === BigInt(U32_MAX);
  let needOff = headerOffset === BigInt(U32_MAX);
  const extra = v.subarray(nameLen, nameLen + extraLen);
  for (let p = 0; extra.length - p >= 4; ) {
    const tag = extra.readUInt16LE(p);
    const len = extra.readUInt16LE(p + 2);
    p += 4;
    if (extra.length - p < len) break;
    if (tag === ZIP64_EXTRA_ID) {
      let q = p;
      const end = p + len;
      for (const which of ['u', 'c', 'o'] as const) {
        const need = which === 'u' ? needU : which === 'c' ? needC : needOff;
        if (!need) continue;
        if (end - q < 8) return { kind: 'format' };
        const value = extra.readBigUInt64LE(q);
        q += 8;
        if (which === 'u') [uncompressed, needU] = [value, false];
        else if (which === 'c') [compressed, needC] = [value, false];
        else [headerOffset, needOff] = [BigInt.asIntN(64, value), false];
      }
    }
    p += len;
  }
  if (needC || needOff) return { kind: 'format' };
  const signedCompressed = BigInt.asIntN(64, compressed);
  return {
    kind: 'entry',
    entry: {
      name: Buffer.from(v.subarray(0, nameLen)),
      flags: h.readUInt16LE(8),
      method: h.readUInt16LE(10),
      crc32: h.readUInt32LE(16),
      compressedSize: signedCompressed < 0n ? 0 : Number(signedCompressed),
      uncompressedSize: Number(uncompressed),
      headerOffset: Number(headerOffset), // made absolute (and checked) by the caller
      centralOffset,
      badCompressedSize: signedCompressed < 0n,
    },
  };
}

async function readCentralDirectory(path: string, fh: FileHandle): Promise<{ entries: ZipEntry[]; layout: ZipLayout }> {
  const { size } = await fh.stat();
  const end = await findEnd(path, fh, size);
  let directoryEndOffset = end.offset;
  let records = BigInt(end.record.readUInt16LE(10));
  let dirSize = BigInt(end.record.readUInt32LE(12));
  let dirOffset = BigInt(end.record.readUInt32LE(16));
  let zip64 = false;

  // Go's test (0xffff for the size too, as written in archive/zip).
  if (records === 0xffffn || dirSize === 0xffffn || dirOffset === BigInt(U32_MAX)) {
    const locAt = directoryEndOffset - ZIP64_LOCATOR_LEN;
    const loc = locAt >= 0 ? await readAt(fh, locAt, ZIP64_LOCATOR_LEN) : null;
    if (loc !== null && loc.length !== ZIP64_LOCATOR_LEN) throw zipError(path, 'zip64 locator cut short');
    if (loc !== null && loc.readUInt32LE(0) === ZIP64_LOCATOR_SIG && loc.readUInt32LE(4) === 0 && loc.readUInt32LE(16) === 1) {
      const z64Offset = int64At(loc, 8);
      if (z64Offset >= 0n) {
        const z64 = z64Offset < BigInt(size) ? await readAt(fh, Number(z64Offset), ZIP64_EOCD_LEN) : Buffer.alloc(0);
        if (z64.length !== ZIP64_EOCD_LEN) throw zipError(path, 'zip64 end record cut short');
        if (z64.readUInt32LE(0) !== ZIP64_EOCD_SIG) throw zipError(path, 'bad zip64 end record');
        directoryEndOffset = Number(z64Offset);
        records = z64.readBigUInt64LE(32);
        dirSize = z64.readBigUInt64LE(40);
        dirOffset = z64.readBigUInt64LE(48);
        zip64 = true;
      }
    }
  }

  // Data may be prepended to a zip (self-extractors): offsets are then relative to the zip's start.
  // All of this is Go's int64 arithmetic, wrapping included.
  const i64 = (v: bigint) => BigInt.asIntN(64, v);
  let baseOffset = i64(BigInt(directoryEndOffset) - i64(dirSize) - i64(dirOffset));
  const dirStart = i64(baseOffset + i64(dirOffset));
  if (dirStart < 0n || dirStart >= BigInt(size)) throw zipError(path, 'central directory offset outside the file');

  const entries: ZipEntry[] = [];
  let cursor = new FileCursor(fh, Number(dirStart));
  let start = Number(dirStart);
  let stop: 'format' | 'short';
  let dirEnd = start;
  // Read headers until one is not a central directory header (the count field is only 16 bits). Bounded:
  // every header consumes at least 46 bytes of the file, and the base offset is retried at most once.
  for (;;) {
    const r = await readDirectoryHeader(cursor);
    if (r.kind === 'format' && baseOffset !== 0n && entries.length === 0) {
      baseOffset = 0n; // like Go: retry assuming no prepended data
      if (i64(dirOffset) < 0n) throw zipError(path, 'central directory offset outside the file');
      start = Number(i64(dirOffset) > BigInt(size) ? BigInt(size) : i64(dirOffset));
      cursor = new FileCursor(fh, start);
      dirEnd = start;
      continue;
    }
    if (r.kind === 'eof') throw zipError(path, 'unexpected end of file in the central directory');
    if (r.kind !== 'entry') {
      stop = r.kind;
      break;
    }
    r.entry.headerOffset = offsetOrInvalid(i64(BigInt(r.entry.headerOffset) + baseOffset), size);
    entries.push(r.entry);
    dirEnd = cursor.pos;
  }
  if (BigInt(entries.length % 0x10000) !== records % 0x10000n) {
    const why = stop === 'short' ? 'unexpected end of file' : 'not a valid zip file';
    throw zipError(path, `central directory lists ${records} entries but ${entries.length} could be read (${why})`);
  }
  return {
    entries,
    layout: {
      fileSize: size,
      endOffset: end.offset,
      endRecordEnd: end.offset + EOCD_LEN + end.record.readUInt16LE(20),
      zip64,
      declaredRecords: records,
      declaredDirSize: dirSize,
      directoryEndOffset,
      dirStart: start,
      dirEnd,
      baseOffset: Number(baseOffset),
    },
  };
}
