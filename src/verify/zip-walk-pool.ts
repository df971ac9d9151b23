// Where a downloading zip is walked and hashed (zip-stream-hash.ts): on the calling thread (InThreadZipWalks,
// for tests and unit callers) or on a small pool of worker threads (ZipWalkThreads, the gateway's), so the
// event loop only moves bytes while entries are inflated, SHA-256'd and CRC-checked elsewhere. Both give the
// same ZipWalk: bytes in, in order; how far the walk has vouched for; and, once ended, the same digests (the
// walk's result crosses the thread as one packed buffer and is proven against the central directory by the
// same function). Bytes cross in fixed batch buffers that the thread hands back once walked, kept in a small
// free list, so a download makes no garbage per batch on either side (freed only at a late collection, it
// raised a 100 MB stream's RSS by 100 MiB and more). On a thread, the whole-file check that follows
// (dirhash.ts's hash1ModuleZip with those digests) runs there too (KnownDigests.moduleZipHash), its VerifyError carried back as it was. Bounded: at
// most MAX_QUEUED_BYTES of one download wait for its thread (write() then waits: back-pressure on the
// download), `threads` threads in all, a walk stays on its thread. A thread that dies fails the downloads it
// was walking (their calls reject with GateError UPSTREAM_UNAVAILABLE: the caller answers 502 and stores
// nothing) and is replaced by the next start(); close() ends the pool.
import { Worker } from 'node:worker_threads';
import { GateError } from '../errors.js';
import { ZipStreamHash, provenDigests, unpackWalk, type PackedWalk, type WalkResult } from './zip-stream-hash.js';
import type { KnownDigests } from './dirhash.js';
import type { ZipReader } from './zip-reader.js';
import { VerifyError } from './verify-error.js';
import type { WalkReply, WalkRequest } from './zip-walk-worker.js';

/** One download's walk. */
export interface ZipWalk extends KnownDigests {
  /** Bytes from the start of the zip the walk has passed as local entries (may lag what was written). */
  readonly walkedBytes: number;
  /** Feeds the next bytes, in order. Resolves when more may be fed; rejects only when the walk's thread died. */
  write(chunk: Buffer): Promise<void>;
  /** No more bytes: resolves once the walk is finished; rejects only when the walk's thread died. */
  end(): Promise<void>;
  /** The download failed or was abandoned: stop and forget the walk. */
  destroy(): void;
}

export interface ZipWalkPool {
  start(): ZipWalk;
  /** Ends the pool: walks still running fail. */
  close(): Promise<void>;
}

/** Walks on the calling thread (the event loop). */
export class InThreadZipWalks implements ZipWalkPool {
  start(): ZipWalk {
    return new ZipStreamHash();
  }

  async close(): Promise<void> {}
}

/** Bytes gathered before they go to the thread in one message (the walk's own batch size). */
const SEND_BYTES = 256 * 1024;
/** Batch buffers kept for reuse once their thread hands them back (4 MiB). */
const FREE_BUFFERS_MAX = 16;
/** Bytes of one download sent to its thread and not yet walked, beyond which write() waits. */
const MAX_QUEUED_BYTES = 4 << 20;

export interface ZipWalkThreadsOptions {
  /** Threads at most (the first started with the pool, the others when first needed). */
  threads: number;
  /** The thread's script (default zip-walk-worker.js beside this module; tests give one that fails on cue). */
  workerUrl?: URL;
}

interface Thread {
  worker: Worker;
  jobs: Map<number, ThreadWalk>;
}

/** The batch buffers: reused once a thread hands one back, new while none is free. */
class BatchBuffers {
  private readonly free: ArrayBuffer[] = [];

  take(): Buffer {
    const b = this.free.pop();
    return b ? Buffer.from(b) : Buffer.allocUnsafeSlow(SEND_BYTES);
  }

  give(b: ArrayBuffer): void {
    if (b.byteLength === SEND_BYTES && this.free.length < FREE_BUFFERS_MAX) this.free.push(b);
  }
}

/** Walks on worker threads. */
export class ZipWalkThreads implements ZipWalkPool {
  private readonly threads: Thread[] = [];
  private readonly buffers = new BatchBuffers();
  private readonly max: number;
  private readonly workerUrl: URL;
  private nextJob = 1;
  private closed = false;

  constructor(options: ZipWalkThreadsOptions) {
    this.max = Math.max(1, Math.floor(options.threads));
    this.workerUrl = options.workerUrl ?? new URL('./zip-walk-worker.js', import.meta.url);
    this.spawn(); // ready before the first download: a thread takes a while to start
  }

  start(): ZipWalk {
    if (this.closed) throw new Error('the zip hashing threads are shut down');
    const thread = this.pick();
    const walk = new ThreadWalk(this.nextJob++, thread, this.buffers, () => {
      thread.jobs.delete(walk.id);
      if (thread.jobs.size === 0) thread.worker.unref();
    });
    thread.jobs.set(walk.id, walk);
    thread.worker.ref(); // a walk waiting for its thread keeps the process alive; an idle thread does not
    return walk;
  }

  async close(): Promise<void> {
    this.closed = true;
    const threads = this.threads.splice(0);
    for (const t of threads) for (const job of [...t.jobs.values()]) job.fail(new Error('the gateway is shutting down'));
    await Promise.all(threads.map((t) => t.worker.terminate()));
  }

  /** The thread with the fewest walks; a new one while there are fewer than `max`. */
  private pick(): Thread {
    const idle = this.threads.find((t) => t.jobs.size === 0);
    if (idle) return idle;
    if (this.threads.length < this.max) return this.spawn();
    return this.threads.reduce((a, b) => (b.jobs.size < a.jobs.size ? b : a));
  }

  private spawn(): Thread {
    const worker = new Worker(this.workerUrl);
    worker.unref();
    const thread: Thread = { worker, jobs: new Map() };
    this.threads.push(thread);
    let gone = false;
    const die = (why: string) => {
      if (gone) return;
      gone = true;
      const at = this.threads.indexOf(thread);
      if (at >= 0) this.threads.splice(at, 1);
      const failure = new GateError('UPSTREAM_UNAVAILABLE', "the gateway's zip hashing thread stopped while it checked this zip; nothing was cached, try again", { cause: new Error(`zip hashing thread: ${why}`) });
      for (const job of [...thread.jobs.values()]) job.fail(failure);
      thread.jobs.clear();
    };
    worker.on('message', (reply: WalkReply) => {
      if (reply.type === 'progress') this.buffers.give(reply.chunk);
      thread.jobs.get(reply.job)?.receive(reply);
    });
    worker.on('error', (err) => die(err.message));
    worker.on('exit', (code) => die(`exit code ${code}`));
    worker.on('messageerror', (err) => die(err.message));
    return thread;
  }
}

class ThreadWalk implements ZipWalk {
  private walked = 0;
  /**
   * The walk's result as it crossed the thread. Unpacked only if digestsFor is asked: the gateway's verdict
   * runs on the thread (moduleZipHash), and unpacking thousands of entries here held the event loop for
   * 4-17 ms per cold zip of 3,000 files, for nothing.
   */
  private packed: PackedWalk | null = null;
  private unpacked: WalkResult | null = null;
  private verdict: { h1: string } | { error: Error } | null = null;
  private failure: Error | null = null;
  /** Done with: the thread forgot it, or it failed. */
  private finished = false;
  private queued = 0;
  /** The batch buffer being filled, and how far. */
  private filling: Buffer | null = null;
  private filled = 0;
  private ending = false;
  private judging = false;
  /** Woken on every reply or failure. */
  private wake: (() => void)[] = [];

  constructor(
    readonly id: number,
    private readonly thread: Thread,
    private readonly buffers: BatchBuffers,
    private readonly forget: () => void,
  ) {}

  get walkedBytes(): number {
    return this.walked;
  }

  async write(chunk: Buffer): Promise<void> {
    if (this.failure) throw this.failure;
    if (this.ending) return;
    // Bounded: each pass copies at least one byte (send() always empties the buffer).
    for (let at = 0; at < chunk.length && !this.failure; ) {
      this.filling ??= this.buffers.take();
      const n = chunk.copy(this.filling, this.filled, at);
      at += n;
      this.filled += n;
      if (this.filled === this.filling.length) this.send();
    }
    // Bounded: each pass waits for a reply or a failure, and replies only lower `queued`.
    while (this.queued > MAX_QUEUED_BYTES && !this.failure) await this.next();
    if (this.failure) throw this.failure;
  }

  async end(): Promise<void> {
    if (this.failure) throw this.failure;
    if (!this.ending) {
      this.ending = true;
      this.send();
      this.post({ type: 'end', job: this.id });
    }
    // Bounded: each pass waits for a reply or a failure; the thread answers 'end' with 'done'.
    while (!this.packed && !this.failure) await this.next();
    if (this.failure) throw this.failure;
  }

  /** dirhash's hash1ModuleZip of the finished file with this walk's digests, run on the walk's thread (once). */
  async moduleZipHash(zipPath: string, module: string, version: string): Promise<string> {
    await this.end();
    if (!this.judging) {
      this.judging = true;
      this.post({ type: 'verdict', job: this.id, file: zipPath, module, version });
    }
    // Bounded: each pass waits for a reply or a failure; the thread answers 'verdict' once.
    while (!this.verdict && !this.failure) await this.next();
    if (this.failure) throw this.failure;
    const v = this.verdict!;
    if ('error' in v) throw v.error;
    return v.h1;
  }

  destroy(): void {
    if (this.finished) return;
    this.post({ type: 'destroy', job: this.id });
    this.fail(new Error('the walk was abandoned'));
  }

  digestsFor(zip: ZipReader): Buffer[] | null {
    if (!this.packed) return null;
    this.unpacked ??= unpackWalk(this.packed);
    return provenDigests(this.unpacked, zip);
  }

  receive(reply: WalkReply): void {
    this.walked = Math.max(this.walked, reply.walked);
    if (reply.type === 'progress') this.queued -= reply.bytes;
    else if (reply.type === 'done') {
      this.packed = reply.result;
    } else {
      const e = reply.error;
      this.verdict = e ? { error: e.code ? new VerifyError(e.code, e.message) : new Error(e.message) } : { h1: reply.h1! };
      this.finish(); // the thread has forgotten the walk
    }
    this.wakeAll();
  }

  fail(err: Error): void {
    if (this.finished) return;
    this.failure = err;
    this.filling = null;
    this.filled = 0;
    this.finish();
    this.wakeAll();
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.forget();
  }

  private next(): Promise<void> {
    return new Promise<void>((resolve) => this.wake.push(resolve));
  }

  private wakeAll(): void {
    const waiting = this.wake;
    this.wake = [];
    for (const w of waiting) w();
  }

  /**
   * Sends the filled batch buffer, transferred (the one copy is write()'s: the caller's chunks are still being
   * written to disk); the thread hands it back with its answer.
   */
  private send(): void {
    const out = this.filling;
    const length = this.filled;
    this.filling = null;
    this.filled = 0;
    if (!out || length === 0 || this.failure) return;
    this.queued += length;
    const chunk = out.buffer as ArrayBuffer;
    this.post({ type: 'write', job: this.id, chunk, length }, [chunk]);
  }

  private post(message: WalkRequest, transfer: ArrayBuffer[] = []): void {
    try {
      this.thread.worker.postMessage(message, transfer);
    } catch (err) {
      this.fail(err as Error);
    }
  }
}
