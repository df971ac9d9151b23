// Hashes a module zip while it streams in: walks the local file headers in order, inflates each entry as its
// bytes pass (node:zlib: at once when the entry is small and within the current batch, else streaming) and keeps each file's SHA-256, size and CRC-32, so that once the whole zip
// is on disk its h1: needs no second read of the contents (in the gateway it runs on a worker thread:
// zip-walk-pool.ts; its result is plain data, proven by provenDigests). It never decides anything alone: the verdict is
// dirhash.ts's hash1ModuleZip on the finished file (Go's central directory, the go command's file rules, the
// ambiguity checks), which takes these digests only where they are proven to be what reading each central
// entry would give (same entries, offsets, names, methods, sizes and CRC-32, in order, no gaps, no duplicate
// names) and otherwise reads the file as before. Anything the walk cannot prove (a stored entry with an
// unsigned data descriptor, zip64 sizes, other methods, a deflate stream that fails or ends before its
// stored size) only stops the walk. Memory stays bounded: one batch (256 KiB), one header (≤ 128 KiB), at
// most 2 MiB inflated at once, and zlib's own window; never the zip.
import { createHash, type Hash } from 'node:crypto';
import { createInflateRaw, crc32, inflateRawSync, type InflateRaw } from 'node:zlib';
import type { KnownDigests } from './dirhash.js';
import type { ZipReader } from './zip-reader.js';
import { MAX_ZIP_FILE } from './module-zip-check.js';

const LOCAL_SIG = 0x04034b50;
const LOCAL_LEN = 30;
const METHOD_STORE = 0;
const METHOD_DEFLATE = 8;
const FLAG_DATA_DESCRIPTOR = 0x8;
const U32_MAX = 0xffffffff;
const DATA_DESCRIPTOR_SIG = 0x08074b50;
const PK = Buffer.from('PK');
/**
 * Bytes gathered before the walk runs over them: fewer, larger steps (an entry that fits in one is
 * inflated at once, on this thread; larger ones stream through zlib's thread pool). The release lags the
 * download by at most this much.
 */
const BATCH_BYTES = 256 * 1024;
/**
 * An entry inflated at once on this thread gives at most this much (else it streams): with hashing, a few
 * milliseconds of the event loop.
 */
const WHOLE_OUTPUT_MAX = 2 << 20;

/** One local entry as walked: where it was, what its header said, and what its contents turned out to be. */
export interface WalkedEntry {
  offset: number;
  name: Buffer;
  /** FLAG_DATA_DESCRIPTOR or 0 */
  flags: number;
  method: number;
  crc32: number;
  compressedSize: number;
  uncompressedSize: number;
  /** Measured over the uncompressed bytes. */
  sha256: Buffer;
  actualCrc32: number;
  actualSize: number;
}

/** A finished walk: whether it reached the end of the local entries (`ended`), how far, and what it passed. */
export interface WalkResult {
  ended: boolean;
  walked: number;
  entries: WalkedEntry[];
}

/**
 * The SHA-256 of each central-directory entry's contents, by index, when `walk` proves that reading each
 * entry through `zip` gives exactly the bytes it hashed; otherwise null (then the caller reads).
 */
export function provenDigests(walk: WalkResult, zip: ZipReader): Buffer[] | null {
  if (!walk.ended) return null;
  const L = zip.layout;
  if (L.zip64 || L.baseOffset !== 0 || L.dirStart !== walk.walked || L.endRecordEnd !== L.fileSize) return null;
  if (zip.entries.length !== walk.entries.length) return null;
  const names = new Set<string>();
  const out: Buffer[] = [];
  for (let i = 0; i < zip.entries.length; i++) {
    const c = zip.entries[i]!;
    const w = walk.entries[i]!;
    const key = c.name.toString('latin1');
    if (names.has(key)) return null; // Go reads the last of a name for both: not what was streamed
    names.add(key);
    const same =
      c.headerOffset === w.offset &&
      c.name.equals(w.name) &&
      c.method === w.method &&
      (c.flags & FLAG_DATA_DESCRIPTOR) === w.flags &&
      !c.badCompressedSize &&
      c.compressedSize === w.compressedSize &&
      c.uncompressedSize === w.uncompressedSize &&
      c.crc32 === w.crc32 &&
      w.actualCrc32 === c.crc32 &&
      w.actualSize === c.uncompressedSize;
    if (!same) return null;
    out.push(w.sha256);
  }
  return out;
}

/**
 * A WalkResult as one transferable buffer: per entry 8 numbers (NUMBERS order), its 32-byte SHA-256 and its
 * name. Thousands of entries as objects with two Buffers each take tens of milliseconds to clone and to
 * receive on the event loop; this takes one copy.
 */
export interface PackedWalk {
  ended: boolean;
  walked: number;
  count: number;
  bytes: ArrayBuffer;
}

const NUMBERS = ['offset', 'flags', 'method', 'crc32', 'compressedSize', 'uncompressedSize', 'actualCrc32', 'actualSize'] as const;
const ENTRY_FIXED = NUMBERS.length * 8 + 32 + 4;

export function packWalk(r: WalkResult): PackedWalk {
  let size = 0;
  for (const e of r.entries) size += ENTRY_FIXED + e.name.length;
  const out = Buffer.allocUnsafeSlow(size);
  let at = 0;
  for (const e of r.entries) {
    for (const k of NUMBERS) at = out.writeDoubleLE(e[k], at);
    at += e.sha256.copy(out, at);
    at = out.writeUInt32LE(e.name.length, at);
    at += e.name.copy(out, at);
  }
  return { ended: r.ended, walked: r.walked, count: r.entries.length, bytes: out.buffer as ArrayBuffer };
}

/** The WalkResult packed by packWalk; names and digests are views of the one buffer (no copy). */
export function unpackWalk(p: PackedWalk): WalkResult {
  const b = Buffer.from(p.bytes);
  const entries: WalkedEntry[] = [];
  let at = 0;
  for (let i = 0; i < p.count; i++) {
    const n: number[] = [];
    for (let k = 0; k < NUMBERS.length; k++, at += 8) n.push(b.readDoubleLE(at));
    const sha256 = b.subarray(at, at + 32);
    at += 32;
    const len = b.readUInt32LE(at);
    at += 4;
    const name = b.subarray(at, at + len);
    at += len;
    entries.push({ offset: n[0]!, flags: n[1]!, method: n[2]!, crc32: n[3]!, compressedSize: n[4]!, uncompressedSize: n[5]!, actualCrc32: n[6]!, actualSize: n[7]!, sha256, name });
  }
  return { ended: p.ended, walked: p.walked, entries };
}

/**
 * A walked entry as one literal of a fixed shape (the one decodeWalkResult makes), never `{ ...header, sha256 }`:
 * Node 20's V8 gives an optimized spread's result a hidden class of its own at every call (see http/exchange.ts).
 */
function walkedEntry(h: OpenEntry['header'], sha256: Buffer, crc: number, size: number): WalkedEntry {
  return { offset: h.offset, flags: h.flags, method: h.method, crc32: h.crc32, compressedSize: h.compressedSize, uncompressedSize: h.uncompressedSize, actualCrc32: crc >>> 0, actualSize: size, sha256, name: h.name };
}

interface OpenEntry {
  header: Omit<WalkedEntry, 'sha256' | 'actualCrc32' | 'actualSize'>;
  /** Stored bytes still to come (Infinity with a data descriptor: the deflate stream says where it ends). */
  remaining: number;
  /** Stored bytes handed to zlib so far. */
  fed: number;
  /** A stored entry with a descriptor: the last bytes seen, not yet known to be data. */
  carry: Buffer;
  hash: Hash;
  crc: number;
  size: number;
  inflater: InflateRaw | null;
  /** Set when zlib errs or finishes before its input does: the entry is not proven. */
  broken: boolean;
  ended: boolean;
}

type WalkState = 'header' | 'data' | 'descriptor' | 'ended' | 'unproven';

export class ZipStreamHash implements KnownDigests {
  private state: WalkState = 'header';
  /** Bytes the walk's entries have inflated to, together. */
  private inflated = 0;

  /** maxInflatedBytes: beyond it the walk stops (default: what a module zip may hold uncompressed, MAX_ZIP_FILE). */
  constructor(private readonly maxInflatedBytes = MAX_ZIP_FILE) {}

  /** Bytes the entries walked so far inflated to (each stops counting once the walk stops). */
  get inflatedBytes(): number {
    return this.inflated;
  }

  /** The offset the walk has consumed up to. */
  private walked = 0;
  /** A header or data descriptor being gathered across chunks (≤ 30 + 2 × 65535 bytes). */
  private head: Buffer = Buffer.alloc(0);
  private open: OpenEntry | null = null;
  /** A deflated entry with a data descriptor, waiting for it. */
  private awaitingDescriptor: OpenEntry | null = null;
  private readonly entries: WalkedEntry[] = [];
  private batch: Buffer[] = [];
  private batched = 0;
  /** Reused to join a stored entry's carried bytes to the next chunk (no garbage per chunk). */
  private joined: Buffer = Buffer.alloc(0);

  /**
   * Bytes from the start of the zip that the walk has passed as local entries. Everything from here on
   * (the central directory and end record, or whatever the walk could not read) is still unexplained.
   */
  get walkedBytes(): number {
    return this.walked;
  }

  /** Feeds the next bytes of the zip, in order. Never throws: what it cannot prove only stops the walk. */
  async write(chunk: Buffer): Promise<void> {
    if (!this.walking) return;
    this.batch.push(chunk);
    this.batched += chunk.length;
    if (this.batched >= BATCH_BYTES) await this.flush();
  }

  /**
   * Walks these bytes (after any gathered) now: once it resolves the walk holds no reference to `chunk`,
   * so the caller may fill it again (zip-walk-worker.ts hands its buffers back to be reused).
   */
  async walkNow(chunk: Buffer): Promise<void> {
    if (!this.walking) return;
    this.batch.push(chunk);
    this.batched += chunk.length;
    await this.flush();
  }

  /** Called when no more bytes come: walks what is gathered; an entry still open is not proven. */
  async end(): Promise<void> {
    await this.flush();
    if (this.state !== 'ended') this.destroy();
  }

  private get walking(): boolean {
    return this.state === 'header' || this.state === 'data' || this.state === 'descriptor';
  }

  private async flush(): Promise<void> {
    const chunk = this.batch.length === 1 ? this.batch[0]! : Buffer.concat(this.batch);
    this.batch = [];
    this.batched = 0;
    let at = 0;
    // Bounded: every pass consumes bytes of the chunk or leaves the walking states.
    while (at < chunk.length && this.walking) {
      if (this.state === 'header') at = this.readHeader(chunk, at);
      else if (this.state === 'descriptor') at = this.readDescriptor(chunk, at);
      else at = await this.readData(chunk, at);
    }
    if (this.state === 'data' && this.open!.remaining === 0) await this.closeEntry(this.open!);
  }

  /** Stops the walk and frees zlib (the download failed or was abandoned). */
  destroy(): void {
    this.open?.inflater?.destroy();
    this.awaitingDescriptor?.inflater?.destroy();
    this.open = null;
    this.awaitingDescriptor = null;
    this.batch = [];
    this.batched = 0;
    this.state = 'unproven';
  }

  /**
   * The SHA-256 of each central-directory entry's contents, by index, when the walk proves that reading
   * each entry through `zip` gives exactly the bytes it hashed; otherwise null (then the caller reads).
   */
  digestsFor(zip: ZipReader): Buffer[] | null {
    return provenDigests(this.result(), zip);
  }

  /** What the walk found, as plain data (it crosses a thread: verify/zip-walk-pool.ts). */
  result(): WalkResult {
    return { ended: this.state === 'ended', walked: this.walked, entries: this.entries };
  }

  /** Gathers `n` bytes of a header into `head`; returns the new position in `chunk`, or -1 when it needs more. */
  private gather(chunk: Buffer, at: number, n: number): { at: number; ready: boolean } {
    const want = n - this.head.length;
    if (want <= 0) return { at, ready: true };
    const take = Math.min(want, chunk.length - at);
    this.head = this.head.length === 0 ? Buffer.from(chunk.subarray(at, at + take)) : Buffer.concat([this.head, chunk.subarray(at, at + take)]);
    return { at: at + take, ready: this.head.length >= n };
  }

  /** Parses a local header; returns where in `chunk` it stopped. */
  private readHeader(chunk: Buffer, from: number): number {
    let g = this.gather(chunk, from, 4);
    if (!g.ready) return g.at;
    if (this.head.readUInt32LE(0) !== LOCAL_SIG) {
      this.state = 'ended'; // the central directory (or anything else): the walk is over at `walked`
      this.head = Buffer.alloc(0);
      return chunk.length;
    }
    g = this.gather(chunk, g.at, LOCAL_LEN);
    if (!g.ready) return g.at;
    const nameLen = this.head.readUInt16LE(26);
    const extraLen = this.head.readUInt16LE(28);
    g = this.gather(chunk, g.at, LOCAL_LEN + nameLen + extraLen);
    if (!g.ready) return g.at;
    const h = this.head;
    const flags = h.readUInt16LE(6) & FLAG_DATA_DESCRIPTOR;
    const method = h.readUInt16LE(8);
    const compressedSize = h.readUInt32LE(18);
    const uncompressedSize = h.readUInt32LE(22);
    // zip64 sizes and other methods are rare: the file is read instead
    const known = method === METHOD_DEFLATE || method === METHOD_STORE;
    if (!known || (!flags && (compressedSize === U32_MAX || uncompressedSize === U32_MAX))) {
      this.destroy();
      return chunk.length;
    }
    const entry: OpenEntry = {
      header: { offset: this.walked, name: Buffer.from(h.subarray(LOCAL_LEN, LOCAL_LEN + nameLen)), flags, method, crc32: h.readUInt32LE(14), compressedSize, uncompressedSize },
      remaining: flags ? Infinity : compressedSize,
      fed: 0,
      carry: Buffer.alloc(0),
      hash: createHash('sha256'),
      crc: 0,
      size: 0,
      inflater: null,
      broken: false,
      ended: false,
    };
    this.walked += h.length;
    this.head = Buffer.alloc(0);
    this.open = entry;
    this.state = 'data';
    return g.at;
  }

  /** zlib's streaming inflater for an entry too large to inflate at once. */
  private streamInflater(entry: OpenEntry): InflateRaw {
    if (entry.inflater) return entry.inflater;
    const inflater = createInflateRaw({ chunkSize: 256 * 1024 });
    inflater.on('data', (out: Buffer) => this.take(entry, out));
    inflater.on('error', () => {
      entry.broken = true;
    });
    inflater.on('end', () => {
      entry.ended = true;
    });
    entry.inflater = inflater;
    return inflater;
  }

  /** Feeds an entry's stored bytes; returns where in `chunk` they stopped. */
  private async readData(chunk: Buffer, at: number): Promise<number> {
    const e = this.open!;
    const deflated = e.header.method === METHOD_DEFLATE;
    if (!deflated && e.header.flags) return this.readStoredUntilDescriptor(e, chunk, at);
    if (deflated && e.fed === 0) {
      const whole = this.inflateWhole(e, chunk, at);
      if (whole !== null) return whole;
    }
    const take = Math.min(e.remaining, chunk.length - at);
    const raw = chunk.subarray(at, at + take);
    if (!deflated) {
      this.take(e, raw);
      e.remaining -= take;
      this.walked += take;
      if (e.remaining === 0) await this.closeEntry(e);
      return at + take;
    }
    const inflater = this.streamInflater(e);
    const before = e.fed;
    e.fed += take;
    if (!e.broken && !e.ended) await processed(inflater, (done) => inflater.write(raw, done));
    // zlib leaves input unread only once its stream has ended: the rest is the descriptor, or a lie
    const used = e.broken ? 0 : inflater.bytesWritten - before;
    if (e.broken || (used < take && !e.header.flags)) {
      this.destroy();
      return chunk.length;
    }
    this.walked += used;
    if (used < take) {
      await ended(e);
      e.header.compressedSize = inflater.bytesWritten;
      this.open = null;
      this.awaitingDescriptor = e;
      this.state = e.broken ? 'unproven' : 'descriptor';
      return at + used;
    }
    e.remaining -= take;
    if (e.remaining === 0) await this.closeEntry(e);
    return at + take;
  }

  /**
   * A deflated entry whose stream lies within this batch, inflated in one step; returns where in `chunk` it
   * stopped, or null when it does not fit (then it streams). With sizes from the local header the stored
   * bytes must all be there; with a data descriptor the deflate stream says where it ends.
   */
  private inflateWhole(e: OpenEntry, chunk: Buffer, at: number): number | null {
    const available = chunk.length - at;
    const described = e.header.flags !== 0;
    if (!described && (e.header.compressedSize > available || e.header.uncompressedSize > WHOLE_OUTPUT_MAX)) return null;
    const raw = chunk.subarray(at, described ? at + available : at + e.header.compressedSize);
    let out: Buffer;
    let used: number;
    try {
      const r = inflateRawSync(raw, { info: true, chunkSize: 256 * 1024, maxOutputLength: described ? WHOLE_OUTPUT_MAX : Math.max(1, e.header.uncompressedSize) }) as unknown as { buffer: Buffer; engine: { bytesWritten: number } };
      out = r.buffer;
      used = r.engine.bytesWritten;
    } catch {
      if (described) return null; // cut by the batch, or large: stream it (a corrupt one fails there)
      this.destroy();
      return chunk.length;
    }
    this.take(e, out);
    this.walked += used;
    if (!described) {
      // the whole stored size must be the deflate stream, no byte more or less
      if (used !== e.header.compressedSize) e.broken = true;
      e.remaining = 0;
      e.fed = used;
      this.closeWhole(e);
      return at + used;
    }
    e.header.compressedSize = used;
    e.fed = used;
    this.open = null;
    this.awaitingDescriptor = e;
    this.state = e.broken ? 'unproven' : 'descriptor';
    return at + used;
  }

  /** Ends an entry inflated at once (no zlib stream to wait for). */
  private closeWhole(e: OpenEntry): void {
    this.open = null;
    if (e.broken) {
      this.destroy();
      return;
    }
    this.entries.push(walkedEntry(e.header, e.hash.digest(), e.crc, e.size));
    this.state = 'header';
  }

  /**
   * A stored entry with a data descriptor does not say where it ends. Go's writer (and yazl) end it with a
   * signed descriptor; the walk takes the first signature followed by this entry's own CRC-32 and size
   * (twice) as its end. Any other zip signature inside it (a descriptor that does not fit, a header, the
   * central directory) stops the walk there, so what it passes as data never runs into the directory.
   * A false end only makes the walk disagree with the central directory later (then the file is read).
   * The last 15 bytes stay unhashed until the next chunk shows what they start.
   */
  private readStoredUntilDescriptor(e: OpenEntry, chunk: Buffer, at: number): number {
    const carried = e.carry.length;
    let buf = chunk.subarray(at);
    if (carried) {
      const n = carried + buf.length;
      if (this.joined.length < n) this.joined = Buffer.allocUnsafeSlow(n);
      e.carry.copy(this.joined, 0);
      buf.copy(this.joined, carried);
      buf = this.joined.subarray(0, n);
    }
    let pos = 0;
    // Bounded: each pass moves pos forward by at least one byte, or returns.
    for (;;) {
      const k = buf.indexOf(PK, pos);
      if (k < 0 || k > buf.length - 16) {
        const keep = Math.max(pos, buf.length - 15);
        this.commitStored(e, buf.subarray(pos, keep));
        e.carry = Buffer.from(buf.subarray(keep));
        return chunk.length;
      }
      this.commitStored(e, buf.subarray(pos, k));
      pos = k;
      const kind = buf.readUInt16LE(k + 2);
      if (kind === 0x0807) {
        const size = e.size;
        if (buf.readUInt32LE(k + 4) !== e.crc >>> 0 || buf.readUInt32LE(k + 8) !== size || buf.readUInt32LE(k + 12) !== size) {
          this.destroy();
          return chunk.length;
        }
        this.walked += 16;
        e.header.crc32 = e.crc >>> 0;
        e.header.compressedSize = size;
        e.header.uncompressedSize = size;
        this.entries.push(walkedEntry(e.header, e.hash.digest(), e.crc, size));
        this.open = null;
        this.state = 'header';
        return at + (k + 16 - carried);
      }
      if (kind === 0x0201 || kind === 0x0403 || kind === 0x0605 || kind === 0x0606 || kind === 0x0706) {
        this.destroy();
        return chunk.length;
      }
      this.commitStored(e, buf.subarray(k, k + 1));
      pos = k + 1;
    }
  }

  private commitStored(e: OpenEntry, bytes: Buffer): void {
    if (bytes.length === 0) return;
    this.take(e, bytes);
    this.walked += bytes.length;
  }

  /** A data descriptor after a deflated entry: [signature] CRC-32, 32-bit sizes (Go reads only the CRC). */
  private readDescriptor(chunk: Buffer, from: number): number {
    let g = this.gather(chunk, from, 4);
    if (!g.ready) return g.at;
    const signed = this.head.readUInt32LE(0) === DATA_DESCRIPTOR_SIG;
    g = this.gather(chunk, g.at, signed ? 16 : 12);
    if (!g.ready) return g.at;
    const e = this.awaitingDescriptor!;
    this.awaitingDescriptor = null;
    e.header.crc32 = this.head.readUInt32LE(signed ? 4 : 0);
    e.header.uncompressedSize = e.size;
    this.walked += this.head.length;
    this.head = Buffer.alloc(0);
    e.inflater?.destroy();
    this.entries.push(walkedEntry(e.header, e.hash.digest(), e.crc, e.size));
    this.state = 'header';
    return g.at;
  }

  private take(e: OpenEntry, out: Buffer): void {
    if (e.broken) return;
    e.size += out.length;
    this.inflated += out.length;
    // more than its local header said, or (an entry with a data descriptor says nothing beforehand) more than a
    // whole module may hold: the go command refuses either, and inflating on only burns CPU (a deflate bomb
    // of 8 MB inflated 8 GiB here, 10 s of CPU, before the fetch was refused)
    if ((!e.header.flags && e.size > e.header.uncompressedSize) || this.inflated > this.maxInflatedBytes) {
      e.broken = true;
      e.inflater?.destroy();
      return;
    }
    e.hash.update(out);
    e.crc = crc32(out, e.crc);
  }

  /** An entry whose stored bytes have all passed (sizes from its local header). */
  private async closeEntry(e: OpenEntry): Promise<void> {
    this.open = null;
    if (e.header.method === METHOD_DEFLATE && !e.inflater) e.broken = true; // an empty deflate stream is not one
    if (e.inflater) {
      if (!e.broken) await processed(e.inflater, (done) => e.inflater!.end(done));
      if (!e.broken) await ended(e);
      // every input byte must have gone into the stream, and the stream must have ended
      if (!e.ended || e.inflater.bytesWritten !== e.header.compressedSize) e.broken = true;
      e.inflater.destroy();
    }
    if (e.broken) {
      this.destroy();
      return;
    }
    this.entries.push(walkedEntry(e.header, e.hash.digest(), e.crc, e.size));
    this.state = 'header';
  }
}

/** Runs a zlib write or end and resolves when it is processed, or when the stream errs or closes. */
function processed(stream: InflateRaw, start: (done: () => void) => void): Promise<void> {
  return new Promise<void>((resolve) => {
    const finish = () => {
      stream.off('error', finish);
      stream.off('close', finish);
      resolve();
    };
    stream.once('error', finish);
    stream.once('close', finish);
    start(finish);
  });
}

/** Resolves once the entry's inflater has emitted its last output (or failed). */
function ended(e: OpenEntry): Promise<void> {
  const s = e.inflater!;
  if (e.ended || e.broken || s.destroyed) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const finish = () => {
      s.off('end', finish);
      s.off('error', finish);
      s.off('close', finish);
      resolve();
    };
    s.once('end', finish);
    s.once('error', finish);
    s.once('close', finish);
  });
}
