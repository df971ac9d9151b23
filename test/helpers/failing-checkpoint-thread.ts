// A WAL checkpoint thread whose scheduled checkpoint fails at once (as on a full disk): it reports the failure
// the way wal-checkpoint-worker.ts does, then waits to be ended.
import { parentPort } from 'node:worker_threads';
import type { CheckpointReply } from '../../src/store/wal-checkpoint-worker.js';

parentPort?.postMessage({ type: 'round-failed', message: 'database or disk is full' } satisfies CheckpointReply);
setInterval(() => undefined, 60_000);
