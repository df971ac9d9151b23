// The body of the WAL checkpoint thread (started by wal-checkpointer.ts): its own connection to gomodgate.db,
// a PASSIVE checkpoint every intervalMs and whenever it is asked. The result of one asked for is posted back;
// a scheduled one is posted only when it failed (the gateway then gives up the thread). PASSIVE never waits
// for readers or writers: it copies what it can and leaves the rest for the next round. A checkpoint is not a
// commit, so the gateway's connection sees no change in PRAGMA data_version (its kept index rows stay valid).
// Decides nothing of its own: it never writes rows, only moves committed pages from the WAL into the file.
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';

export interface CheckpointResult {
  /** 1 when a writer or reader kept the checkpoint from finishing (SQLite's "busy"). */
  busy: number;
  /** Frames in the WAL. */
  log: number;
  /** Frames copied into the database file (all of them when equal to log). */
  checkpointed: number;
}

export type CheckpointRequest = { type: 'now'; id: number } | { type: 'stop' };
/** An asked-for checkpoint's result or failure, or the failure of a scheduled one (whose successes are not posted). */
export type CheckpointReply =
  | { type: 'checkpointed'; id: number; result: CheckpointResult }
  | { type: 'failed'; id: number; message: string }
  | { type: 'round-failed'; message: string };

const port = parentPort;
if (port) {
  const { file, intervalMs } = workerData as { file: string; intervalMs: number };
  const db = new Database(file, { fileMustExist: true });
  db.pragma('busy_timeout = 0');
  const checkpoint = db.prepare<[], CheckpointResult>('PRAGMA wal_checkpoint(PASSIVE)');
  const run = (id: number | null): void => {
    try {
      const result = checkpoint.get()!;
      if (id !== null) port.postMessage({ type: 'checkpointed', id, result } satisfies CheckpointReply);
    } catch (err) {
      const message = (err as Error).message;
      port.postMessage((id === null ? { type: 'round-failed', message } : { type: 'failed', id, message }) satisfies CheckpointReply);
    }
  };
  const timer = setInterval(() => run(null), intervalMs);
  port.on('message', (m: CheckpointRequest) => {
    if (m.type === 'now') run(m.id);
    else {
      clearInterval(timer);
      db.close();
      port.close();
    }
  });
}
