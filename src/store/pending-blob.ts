// A blob being downloaded: one writer appends upstream bytes to a temp file while any number of readers
// stream it from that file as it grows (no body is ever held whole in memory, a slow or vanished reader never
// slows or stops the writer). Readers hold back the final byte until the writer has sealed the blob
// (hashed, optionally verified, fsynced, renamed, indexed): a client never receives a complete body of
// something that was not stored. A gated blob releases to readers only what its writer vouches for so far
// (releaseUpTo: e.g. the local entries of a zip walked while it streams), still never the last byte before
// the seal. If the writer fails, every reader errors. Appends are written behind: they are queued and written
// together (one writev per round), and append() waits only while more than WRITE_BEHIND_BYTES are on their way
// to the file, so the download is never paused for each chunk's disk round trip; readers get only bytes that
// are in the file. Every 8 MiB written, a flush to the disk starts in the background, so the fsync before the
// commit finds little left to do.
import { open, rm, type FileHandle } from 'node:fs/promises';
import { createHash, type Hash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { Readable } from 'node:stream';

type State = 'writing' | 'sealed' | 'failed';

/** Appended bytes not yet in the file beyond which append() waits. */
const WRITE_BEHIND_BYTES = 1 << 20;
/**
 * Written bytes not yet flushed to the disk beyond which a flush (fdatasync) starts in the background, so the
 * fsync before the commit finds little left to do (it was ~80 ms of a 100 MB download's last byte).
 */
const SYNC_BEHIND_BYTES = 8 << 20;

/** Writes all of `chunks` at `position` (writev; again for what a short write left); returns the bytes written. */
async function writeAll(handle: FileHandle, chunks: Buffer[], position: number): Promise<number> {
  let total = 0;
  let rest = chunks;
  // Bounded: every pass writes at least one byte (a write of none is an error) until `rest` is empty.
  while (rest.length > 0) {
    const { bytesWritten } = await handle.writev(rest, position + total);
    if (bytesWritten <= 0) throw Object.assign(new Error('the cache file took no bytes'), { code: 'EIO' });
    total += bytesWritten;
    let skip = bytesWritten;
    while (skip > 0 && skip >= rest[0]!.length) skip -= rest.shift()!.length;
    if (skip > 0) rest[0] = rest[0]!.subarray(skip);
  }
  return total;
}

export class PendingBlob {
  readonly tempPath: string;
  /** Total size announced by upstream (Content-Length), when known. */
  readonly expectedSize: number | null;
  private handle: FileHandle | null = null;
  /** Bytes appended; `written` of them are in the file, the rest in `queue` or being written. */
  private accepted = 0;
  private written = 0;
  private queue: Buffer[] = [];
  /** The round of writes under way, if any (it never rejects: a failure is kept in writeError). */
  private flushing: Promise<void> | null = null;
  private writeError: Error | null = null;
  /** Bytes the last background flush covered, and the flush under way (it never rejects either). */
  private synced = 0;
  private syncing: Promise<void> | null = null;
  private hash: Hash = createHash('sha256');
  private digest: string | undefined;
  private state: State = 'writing';
  private failure: Error | null = null;
  private users = 1; // the writer itself
  private readonly events = new EventEmitter();
  /** How far readers may read before the seal (besides never the last byte). */
  private releasable: number;

  private constructor(tempPath: string, handle: FileHandle, expectedSize: number | null, gated: boolean) {
    this.tempPath = tempPath;
    this.handle = handle;
    this.expectedSize = expectedSize;
    this.releasable = gated ? 0 : Infinity;
    this.events.setMaxListeners(0);
  }

  /** `gated`: readers get only what releaseUpTo allowed until the seal (default: all but the last byte). */
  static async create(tempPath: string, expectedSize: number | null, options: { gated?: boolean } = {}): Promise<PendingBlob> {
    const handle = await open(tempPath, 'w+', 0o640);
    return new PendingBlob(tempPath, handle, expectedSize, options.gated ?? false);
  }

  /** Whether the writer is still at work (neither sealed nor failed). */
  get writing(): boolean {
    return this.state === 'writing';
  }

  /** Why the download failed, once it has. */
  get failureReason(): Error | null {
    return this.state === 'failed' ? this.failure : null;
  }

  /** Bytes readers may have before the seal. */
  get releasedBytes(): number {
    return Math.max(0, Math.min(this.written - 1, this.releasable));
  }

  /** Readers may read the first `bytes` bytes (all but the last byte written, at most) before the seal. */
  releaseUpTo(bytes: number): void {
    if (bytes <= this.releasable) return;
    this.releasable = bytes;
    this.events.emit('progress');
  }

  /** Resolves once `bytes` bytes are released, or the blob is sealed or failed. */
  whenReleased(bytes: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const check = () => {
        if (this.state !== 'writing' || this.releasedBytes >= bytes) {
          this.events.off('progress', check);
          resolve();
        }
      };
      this.events.on('progress', check);
      check();
    });
  }

  /** Bytes appended so far (some may still be on their way to the file). */
  get bytesWritten(): number {
    return this.accepted;
  }

  /**
   * Appends a chunk, in call order; the caller must not change it afterwards. Resolves at once while at most
   * WRITE_BEHIND_BYTES are still to be written, else once they are; rejects when a write failed.
   */
  append(chunk: Buffer): Promise<void> {
    if (this.state !== 'writing') return Promise.resolve();
    if (this.writeError) return Promise.reject(this.writeError);
    if (chunk.length === 0) return Promise.resolve();
    this.hash.update(chunk);
    this.accepted += chunk.length;
    this.queue.push(chunk);
    this.startWriting();
    return this.writtenUpTo(this.accepted - WRITE_BEHIND_BYTES);
  }

  /** After the last append: fsync and return the sha256 of everything written. */
  async finishWriting(): Promise<{ sha256: string; size: number }> {
    await this.writtenUpTo(this.accepted);
    await this.syncing;
    if (this.writeError) throw this.writeError;
    if (this.state !== 'writing') throw this.failure ?? new Error('blob no longer writing');
    await this.handle!.sync();
    this.digest = this.hash.digest('hex');
    return { sha256: this.digest, size: this.written };
  }

  /** The SHA-256 of the whole body, once the writer has finished (before that: undefined). */
  get sha256(): string | undefined {
    return this.digest;
  }

  /** The blob is stored for good: readers may release the last byte. */
  seal(): void {
    if (this.state !== 'writing') return;
    this.state = 'sealed';
    this.events.emit('progress');
    this.release();
  }

  /** The download failed: readers error, the temp file is removed. */
  async fail(err: Error): Promise<void> {
    if (this.state !== 'writing') return;
    this.state = 'failed';
    this.failure = err;
    this.events.emit('progress');
    await this.flushing;
    await this.syncing;
    await rm(this.tempPath, { force: true });
    this.release();
  }

  /** Writes what is queued, in rounds (one writev each), until the queue is empty or a write fails. */
  private startWriting(): void {
    if (this.flushing) return;
    const rounds = async () => {
      try {
        // Bounded: each round writes the whole queue it took (or throws); append() adds at most
        // WRITE_BEHIND_BYTES beyond what is written before its caller waits.
        while (this.queue.length > 0 && this.state === 'writing') {
          const round = this.queue;
          this.queue = [];
          this.written += await writeAll(this.handle!, round, this.written);
          this.events.emit('progress');
          if (this.written - this.synced >= SYNC_BEHIND_BYTES) this.startSync();
        }
      } catch (err) {
        this.writeError = err as Error;
        this.queue = [];
        this.events.emit('progress');
      }
    };
    this.flushing = rounds().finally(() => {
      this.flushing = null;
    });
  }

  /**
   * Flushes what is written so far to the disk, in the background. Its failure is the download's: the kernel
   * reports a write-back error to one flush only, so the fsync before the commit would not see it again.
   */
  private startSync(): void {
    if (this.syncing || !this.handle) return;
    const upTo = this.written;
    this.syncing = this.handle
      .datasync()
      .then(
        () => {
          this.synced = Math.max(this.synced, upTo);
        },
        (err: Error) => {
          this.writeError ??= err;
          this.events.emit('progress');
        },
      )
      .finally(() => {
        this.syncing = null;
      });
  }

  /** Resolves once `bytes` are in the file or the blob is no longer being written; rejects when a write failed. */
  private writtenUpTo(bytes: number): Promise<void> {
    if (this.writeError) return Promise.reject(this.writeError);
    if (this.written >= bytes || this.state !== 'writing') return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const check = () => {
        if (this.writeError) reject(this.writeError);
        else if (this.written >= bytes || this.state !== 'writing') resolve();
        else return;
        this.events.off('progress', check);
      };
      this.events.on('progress', check);
    });
  }

  private release(): void {
    this.users--;
    if (this.users === 0 && this.handle) {
      const h = this.handle;
      this.handle = null;
      void h.close().catch(() => undefined);
    }
  }

  /** A stream of the blob from its first byte, following the writer; null once the blob is sealed and closed
   *  (then read it from the store). */
  createReader(): Readable | null {
    if (this.state === 'sealed' && !this.handle) return null;
    if (this.state === 'failed' || !this.handle) {
      return Readable.from((async function* () {
        throw new Error('download failed');
      })());
    }
    this.users++;
    let position = 0;
    let released = false;
    const releaseOnce = () => {
      if (!released) {
        released = true;
        this.release();
      }
    };
    const self = this;
    const chunkSize = 256 * 1024;
    const readable = new Readable({
      highWaterMark: chunkSize,
      async read() {
        try {
          for (;;) {
            const limit = self.state === 'sealed' ? self.written : self.releasedBytes;
            if (self.state === 'failed') throw self.failure ?? new Error('download failed');
            if (position < limit) {
              const len = Math.min(chunkSize, limit - position);
              const buf = Buffer.allocUnsafe(len);
              const { bytesRead } = await self.handle!.read(buf, 0, len, position);
              position += bytesRead;
              this.push(bytesRead === len ? buf : buf.subarray(0, bytesRead));
              return;
            }
            if (self.state === 'sealed') {
              releaseOnce();
              this.push(null);
              return;
            }
            await new Promise<void>((resolve) => self.events.once('progress', resolve));
          }
        } catch (err) {
          releaseOnce();
          this.destroy(err as Error);
        }
      },
      destroy(err, cb) {
        releaseOnce();
        cb(err);
      },
    });
    return readable;
  }
}
