// Content-addressed blob files: DATA_DIR/blobs/ab/<sha256>, written through DATA_DIR/tmp.
// A blob only appears under its name once complete and fsynced (temp file → fsync → rename → fsync dir),
// so a crash can leave an orphan temp file (removed at start) but never a half-written blob.
// Owns the on-disk layout: no other module builds a blob or temp path, lists these directories or removes a
// file in them (eviction, `cache verify`/`--repair` and `cache stats` ask this class).
import { createReadStream, fstat, mkdirSync, readdirSync, rmSync, statSync, type ReadStream } from 'node:fs';
import { open, readFile, rename, rm, stat } from 'node:fs/promises';
import { createHash, randomBytes } from 'node:crypto';
import { basename, isAbsolute, join, relative } from 'node:path';
import { GateError } from '../errors.js';

const SHA256_HEX = /^[0-9a-f]{64}$/;
const SHARD = /^[0-9a-f]{2}$/;

/**
 * Read failures that say the blob itself is gone or damaged (no file, or not the size its row says), as
 * opposed to the gateway's trouble reading it (EMFILE, EACCES, EIO), which says nothing about the blob.
 */
const goneOrDamaged = new WeakSet<Error>();

/** Whether a read failure means the blob is gone or damaged: its row may then be dropped. */
export function isBlobGoneOrDamaged(err: unknown): boolean {
  return err instanceof Error && goneOrDamaged.has(err);
}

function readFailure(sha256: string, err: unknown): GateError {
  const e = new GateError('STORE_IO', `cannot read blob ${sha256}: ${(err as Error).message}`, { cause: err });
  if ((err as NodeJS.ErrnoException).code === 'ENOENT') goneOrDamaged.add(e);
  return e;
}

function damaged(sha256: string, size: number, expectedSize: number): GateError {
  const e = new GateError('STORE_IO', `blob ${sha256} is ${size} bytes, the index says ${expectedSize}`);
  goneOrDamaged.add(e);
  return e;
}

/** A file (or, for strays, a directory) found on disk under the blob or temp directory. */
export interface StoredFile {
  path: string;
  size: number;
  mtimeMs: number;
}

/** An entry of the blob directory: a blob by its name, or a stray (sha256 null: not where a blob belongs). */
export interface BlobFile extends StoredFile {
  sha256: string | null;
}

export interface BlobStoreOptions {
  /** Create the directories (default true). false for read-only tools: a missing directory lists as empty. */
  create?: boolean;
}

function statOf(path: string): { size: number; mtimeMs: number; isFile: boolean; isDir: boolean } | null {
  try {
    const st = statSync(path);
    return { size: st.size, mtimeMs: st.mtimeMs, isFile: st.isFile(), isDir: st.isDirectory() };
  } catch {
    return null;
  }
}

function listDir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/**
 * Memory kept for recently read small blobs (lists, .info, .mod, tiles, zips up to 256 KiB): a hit then costs
 * no file I/O.
 */
const RECENT_MAX_BYTES = 32 << 20;

/**
 * Cached objects up to this size are read whole and sent as one buffer (readSmall), kept in memory for the next
 * hit, and kept from their store on: most module zips, besides lists, .info, .mod and tiles. A hit of a 200 KiB
 * zip cost 3-4 times more CPU as a file stream (open, reads, close, stream machinery). 256 KiB is what a stream
 * holds per chunk anyway, so a response never holds more memory than before.
 */
export const SMALL_BLOB_BYTES = 256 * 1024;

export class BlobStore {
  readonly blobDir: string;
  readonly tempDir: string;
  private readonly readers = new Map<string, number>();
  /** sha256 → how many stores hold it from before their rename until their row is written (pin). */
  private readonly pins = new Map<string, number>();
  /** Small blobs read recently, least recently used first, at most RECENT_MAX_BYTES in all. */
  private readonly recent = new Map<string, Buffer>();
  private recentBytes = 0;

  /** Throws STORE_IO when the directories cannot be created. */
  constructor(dataDir: string, options: BlobStoreOptions = {}) {
    this.blobDir = join(dataDir, 'blobs');
    this.tempDir = join(dataDir, 'tmp');
    if (options.create === false) return;
    try {
      mkdirSync(this.blobDir, { recursive: true, mode: 0o750 });
      mkdirSync(this.tempDir, { recursive: true, mode: 0o750 });
    } catch (err) {
      throw new GateError('STORE_IO', `cannot create the cache directories under ${dataDir}: ${(err as Error).message}`, { cause: err });
    }
  }

  /**
   * Everything under the blob directory: files named for their content in their shard ("ab/ab…") with their
   * sha256, anything else (a file at the top, a directory that is no shard, a misnamed file) as a stray.
   * Never throws: an entry removed meanwhile is skipped.
   */
  listBlobFiles(): BlobFile[] {
    const out: BlobFile[] = [];
    for (const shard of listDir(this.blobDir)) {
      const shardPath = join(this.blobDir, shard);
      const st = statOf(shardPath);
      if (!st) continue;
      if (!st.isDir || !SHARD.test(shard)) {
        out.push({ sha256: null, path: shardPath, size: st.size, mtimeMs: st.mtimeMs });
        continue;
      }
      for (const name of listDir(shardPath)) {
        const path = join(shardPath, name);
        const f = statOf(path);
        if (!f) continue;
        const named = f.isFile && SHA256_HEX.test(name) && name.startsWith(shard);
        out.push({ sha256: named ? name : null, path, size: f.size, mtimeMs: f.mtimeMs });
      }
    }
    return out;
  }

  /** The shard directories of the blob directory ("00".."ff" that exist). Never throws. */
  listShards(): string[] {
    return listDir(this.blobDir).filter((name) => SHARD.test(name));
  }

  /** The blob names in one shard, without a stat each (strays are listBlobFiles's). Never throws. */
  blobNamesIn(shard: string): string[] {
    if (!SHARD.test(shard)) return [];
    return listDir(join(this.blobDir, shard)).filter((name) => SHA256_HEX.test(name) && name.startsWith(shard));
  }

  /** A stored blob's size and last write (ms), or null when it is missing or not a file. */
  fileStat(sha256: string): { size: number; mtimeMs: number } | null {
    const st = statOf(this.pathOf(sha256));
    return st && st.isFile ? { size: st.size, mtimeMs: st.mtimeMs } : null;
  }

  /** The entries of the temp directory (downloads in progress, or left by a crash). Never throws. */
  listTempFiles(): StoredFile[] {
    const out: StoredFile[] = [];
    for (const name of listDir(this.tempDir)) {
      const path = join(this.tempDir, name);
      const f = statOf(path);
      if (f) out.push({ path, size: f.size, mtimeMs: f.mtimeMs });
    }
    return out;
  }

  /**
   * Removes a stray that listBlobFiles or listTempFiles returned (recursively, for a directory). Refuses any
   * path outside the blob and temp directories. Returns false when it could not be removed.
   */
  removeStray(path: string): boolean {
    const inside = (dir: string) => {
      const r = relative(dir, path);
      return r !== '' && !r.startsWith('..') && !isAbsolute(r);
    };
    if (!inside(this.blobDir) && !inside(this.tempDir)) return false;
    try {
      rmSync(path, { force: true, recursive: true });
      return true;
    } catch {
      return false;
    }
  }

  /** Removes temp files left by an earlier run (a crash mid-download). Returns how many. */
  removeLeftoverTempFiles(): number {
    let n = 0;
    for (const name of readdirSync(this.tempDir)) {
      rmSync(join(this.tempDir, name), { force: true, recursive: true });
      n++;
    }
    return n;
  }

  /** A new download's temp file, named for this process (removeTempFilesOf). */
  newTempPath(): string {
    return join(this.tempDir, `${process.pid}-${Date.now()}-${randomBytes(6).toString('hex')}.part`);
  }

  /**
   * Removes the temp files of a process that is gone (a worker killed mid-download), which nothing else would
   * remove before the next start. Returns how many.
   */
  removeTempFilesOf(pid: number): number {
    let n = 0;
    for (const name of listDir(this.tempDir)) {
      if (!name.startsWith(`${pid}-`)) continue;
      rmSync(join(this.tempDir, name), { force: true });
      n++;
    }
    return n;
  }

  /** Whether s can name a blob (64 lower-case hex digits). */
  static isBlobName(s: string): boolean {
    return SHA256_HEX.test(s);
  }

  /** The blob name of a path that is exactly where that blob lives, else null. */
  blobNameAt(path: string): string | null {
    const name = basename(path);
    return SHA256_HEX.test(name) && this.pathOf(name) === path ? name : null;
  }

  pathOf(sha256: string): string {
    if (!SHA256_HEX.test(sha256)) throw new GateError('STORE_IO', `not a blob name: ${sha256}`);
    return join(this.blobDir, sha256.slice(0, 2), sha256);
  }

  /**
   * Moves a complete, already fsynced temp file to its content address. Idempotent for equal content. A small
   * blob (`size` at most SMALL_BLOB_BYTES) is read before the rename and kept in memory, as one just read is:
   * this process's clients waiting for it then get it even when another process (a worker enforcing a small
   * cache limit) removes the file as soon as it is in place.
   */
  async commit(tempPath: string, sha256: string, size?: number): Promise<void> {
    const final = this.pathOf(sha256);
    const dir = join(this.blobDir, sha256.slice(0, 2));
    try {
      const data = size !== undefined && size <= SMALL_BLOB_BYTES ? await readFile(tempPath) : null;
      mkdirSync(dir, { recursive: true, mode: 0o750 });
      await rename(tempPath, final);
      if (data !== null && data.length === size) this.keep(sha256, data);
      const d = await open(dir, 'r');
      try {
        await d.sync();
      } finally {
        await d.close();
      }
    } catch (err) {
      await rm(tempPath, { force: true });
      throw new GateError('STORE_IO', `cannot store blob ${sha256}: ${(err as Error).message}`, { cause: err });
    }
  }

  /**
   * Holds a blob against removal by this process from before its commit until its row is written; returns the
   * release. In between no row names it, and the blob may be one other keys' rows already name (the same go.mod
   * for two versions): eviction would remove those rows and the file, and the new row would name a missing blob.
   */
  pin(sha256: string): () => void {
    this.pins.set(sha256, (this.pins.get(sha256) ?? 0) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const n = (this.pins.get(sha256) ?? 1) - 1;
      if (n <= 0) this.pins.delete(sha256);
      else this.pins.set(sha256, n);
    };
  }

  /** Size of a stored blob, or null when it is missing. */
  async sizeOf(sha256: string): Promise<number | null> {
    try {
      return (await stat(this.pathOf(sha256))).size;
    } catch {
      return null;
    }
  }

  /** Size of a stored blob (a regular file), or null when it is missing or not a file. */
  sizeOfSync(sha256: string): number | null {
    return this.fileStat(sha256)?.size ?? null;
  }

  /** Re-hashes a stored blob from disk (streamed); onChunk gets each chunk's length. Rejects with the fs error. */
  async digest(sha256: string, onChunk: (bytes: number) => void = () => undefined): Promise<string> {
    const hash = createHash('sha256');
    const stream = createReadStream(this.pathOf(sha256), { highWaterMark: 1 << 20 });
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      hash.update(chunk);
      onChunk(chunk.length);
    }
    return hash.digest('hex');
  }

  /** Streams a stored blob; it counts as being read (never evicted) until the stream closes. Throws STORE_IO when it cannot be opened. */
  async openRead(sha256: string, expectedSize?: number): Promise<ReadStream> {
    const path = this.pathOf(sha256);
    const stream = await new Promise<ReadStream>((resolve, reject) => {
      const s = createReadStream(path, { highWaterMark: 256 * 1024 });
      s.once('error', (err) => reject(readFailure(sha256, err)));
      s.once('open', (fd: number) => {
        if (expectedSize === undefined) return resolve(s);
        // a file cut short (or grown) would be sent under the index's Content-Length: refuse it before any byte
        fstat(fd, (err, st) => {
          if (err) return s.destroy(err);
          if (st.size !== expectedSize) {
            s.destroy();
            return reject(damaged(sha256, st.size, expectedSize));
          }
          resolve(s);
        });
      });
    });
    this.readers.set(sha256, (this.readers.get(sha256) ?? 0) + 1);
    stream.once('close', () => {
      const n = (this.readers.get(sha256) ?? 1) - 1;
      if (n <= 0) this.readers.delete(sha256);
      else this.readers.set(sha256, n);
    });
    return stream;
  }

  private keep(sha256: string, data: Buffer): void {
    if (data.length > RECENT_MAX_BYTES / 64 || this.recent.has(sha256)) return;
    this.recent.set(sha256, data);
    this.recentBytes += data.length;
    for (const [k, v] of this.recent) {
      if (this.recentBytes <= RECENT_MAX_BYTES) break;
      this.recent.delete(k);
      this.recentBytes -= v.length;
    }
  }

  /** Is this blob being streamed to someone or being stored (pinned)? Then this process never removes it. */
  inUse(sha256: string): boolean {
    return this.readers.has(sha256) || this.pins.has(sha256);
  }

  /**
   * A small stored blob, whole; throws STORE_IO when it is missing or not the expected size. Recently read
   * small blobs are kept in memory (bounded in bytes): a blob's name is its hash, so a kept copy can never be
   * another content, and a hit costs no file system call.
   */
  async readSmall(sha256: string, expectedSize: number): Promise<Buffer> {
    const kept = this.recent.get(sha256);
    if (kept !== undefined && kept.length === expectedSize) {
      this.recent.delete(sha256);
      this.recent.set(sha256, kept);
      return kept;
    }
    let data: Buffer;
    try {
      data = await readFile(this.pathOf(sha256));
    } catch (err) {
      throw readFailure(sha256, err);
    }
    if (data.length !== expectedSize) throw damaged(sha256, data.length, expectedSize);
    this.keep(sha256, data);
    return data;
  }

  /** Drops a kept copy: after a blob is removed, reading it fails as it would from disk. */
  private forget(sha256: string): void {
    const kept = this.recent.get(sha256);
    if (kept === undefined) return;
    this.recent.delete(sha256);
    this.recentBytes -= kept.length;
  }

  async remove(sha256: string): Promise<void> {
    this.forget(sha256);
    await rm(this.pathOf(sha256), { force: true });
  }

  /** Removes a blob file now (eviction and repair never await). False when it could not be removed. */
  removeSync(sha256: string): boolean {
    this.forget(sha256);
    try {
      rmSync(this.pathOf(sha256), { force: true });
      return true;
    } catch {
      return false;
    }
  }
}
