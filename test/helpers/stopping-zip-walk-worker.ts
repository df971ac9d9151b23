// A zip hashing thread for tests (zip-walk-pool.ts's workerUrl): the real one (src/verify/zip-walk-worker.ts),
// except that a batch containing STOP_THREAD_MARK ends the thread at once (exit code 70), the way a thread that
// crashes or runs out of memory would: its walks get no answer.
import { parentPort } from 'node:worker_threads';
import '../../src/verify/zip-walk-worker.js';

/** A valid module file name too, so a zip can carry it uncompressed (in its local header). */
export const STOP_THREAD_MARK = 'gomodgate-test-stop-this-zip-hashing-thread-now';

if (parentPort) {
  const mark = Buffer.from(STOP_THREAD_MARK);
  // The real thread's listener only queues its work (it runs on a later microtask): this one ends the thread first.
  parentPort.on('message', (m: { type: string; chunk?: ArrayBuffer; length?: number }) => {
    if (m.type === 'write' && m.chunk && Buffer.from(m.chunk, 0, m.length).includes(mark)) process.exit(70);
  });
}
