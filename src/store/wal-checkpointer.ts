// Moves SQLite's WAL checkpoints off the event loop. By default the connection that commits past 1,000 WAL
// pages copies them into the database file and fsyncs, on the thread that committed: for the gateway that is
// the event loop, inside an audit batch or an index write. Measured on the audit's batched inserts, those
// checkpoints were 5 to 11 µs of every row's 12 to 23 µs, and each was a stall of its own. Here the gateway's
// connection stops checkpointing (wal_autocheckpoint = 0) and a thread with its own connection checkpoints
// (wal-checkpoint-worker.ts) every intervalMs. If that thread exits, or one of its scheduled checkpoints fails
// (an I/O error, a full disk), the thread is given up: the connection checkpoints for itself again, as SQLite
// does by default, and onError is told once. The WAL never grows unchecked.
// close() stops the thread and gives checkpoints back to the connection (whose close does the last one).
import { Worker } from 'node:worker_threads';
import type { Db } from './database.js';
import type { CheckpointReply, CheckpointRequest, CheckpointResult } from './wal-checkpoint-worker.js';

export type { CheckpointResult };

/** SQLite's default wal_autocheckpoint, given back when the thread is gone. */
const SQLITE_AUTOCHECKPOINT_PAGES = 1000;

export interface WalCheckpointerOptions {
  /** The database file `db` has open. */
  file: string;
  /** Between two checkpoints of the thread (ms). */
  intervalMs?: number;
  /** The thread failed or ended on its own; the connection checkpoints for itself from now on. */
  onError?: (err: Error) => void;
  /** The thread's script (default wal-checkpoint-worker.js beside this module; tests give one that fails). */
  workerUrl?: URL;
}

export class WalCheckpointer {
  private readonly worker: Worker;
  private readonly waiting = new Map<number, { resolve: (r: CheckpointResult) => void; reject: (e: Error) => void }>();
  private nextId = 1;
  private state: 'running' | 'closing' | 'gone' = 'running';
  private readonly exited: Promise<void>;

  constructor(
    private readonly db: Db,
    private readonly options: WalCheckpointerOptions,
  ) {
    db.pragma('wal_autocheckpoint = 0');
    this.worker = new Worker(options.workerUrl ?? new URL('./wal-checkpoint-worker.js', import.meta.url), {
      workerData: { file: options.file, intervalMs: options.intervalMs ?? 500 },
    });
    this.worker.unref();
    this.worker.on('message', (m: CheckpointReply) => this.onReply(m));
    this.worker.on('error', (err) => this.lost(err));
    this.exited = new Promise((resolve) => {
      this.worker.on('exit', (code) => {
        this.lost(new Error(`the WAL checkpoint thread exited (code ${code})`));
        resolve();
      });
    });
  }

  /** Checkpoints now, on the thread; rejects when the thread is gone or the checkpoint failed. */
  checkpointNow(): Promise<CheckpointResult> {
    if (this.state !== 'running') return Promise.reject(new Error('the WAL checkpoint thread is not running'));
    const id = this.nextId++;
    this.worker.ref(); // an answer is awaited: the thread keeps the process alive until it comes
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.worker.postMessage({ type: 'now', id } satisfies CheckpointRequest);
    });
  }

  /** Stops the thread; the connection checkpoints for itself again. */
  async close(): Promise<void> {
    if (this.state === 'running') {
      this.state = 'closing';
      this.worker.ref();
      this.worker.postMessage({ type: 'stop' } satisfies CheckpointRequest);
    }
    await this.exited;
  }

  private onReply(m: CheckpointReply): void {
    if (m.type === 'round-failed') {
      this.lost(new Error(`a scheduled WAL checkpoint failed: ${m.message}`));
      void this.worker.terminate();
      return;
    }
    const w = this.waiting.get(m.id);
    this.waiting.delete(m.id);
    if (this.waiting.size === 0 && this.state === 'running') this.worker.unref();
    if (m.type === 'checkpointed') w?.resolve(m.result);
    else w?.reject(new Error(`WAL checkpoint failed: ${m.message}`));
  }

  /** The thread is gone (asked to, or not): the connection checkpoints for itself again. */
  private lost(err: Error): void {
    if (this.state === 'gone') return;
    const unexpected = this.state === 'running';
    this.state = 'gone';
    if (this.db.open) this.db.pragma(`wal_autocheckpoint = ${SQLITE_AUTOCHECKPOINT_PAGES}`);
    for (const w of this.waiting.values()) w.reject(err);
    this.waiting.clear();
    if (unexpected) this.options.onError?.(err);
  }
}
