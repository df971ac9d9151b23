// The body of one zip hashing thread (started by zip-walk-pool.ts): runs a ZipStreamHash per download it is
// given, in the order its bytes arrive, and answers each batch with how far the walk got, and each end with
// the walk's result. Does nothing else: no files, no sockets, no verdicts.
import { parentPort } from 'node:worker_threads';
import { ZipStreamHash, type WalkResult } from './zip-stream-hash.js';

export type WalkRequest =
  | { type: 'write'; job: number; chunk: ArrayBuffer }
  | { type: 'end'; job: number }
  | { type: 'destroy'; job: number };

export type WalkReply =
  | { type: 'progress'; job: number; walked: number; bytes: number }
  | { type: 'done'; job: number; walked: number; result: WalkResult };

interface Job {
  walk: ZipStreamHash;
  /** The job's requests run one after another (the walk takes its bytes in order). */
  chain: Promise<void>;
}

const port = parentPort;
if (port) {
  const jobs = new Map<number, Job>();
  port.on('message', (m: WalkRequest) => {
    let job = jobs.get(m.job);
    if (m.type === 'destroy') {
      job?.walk.destroy();
      jobs.delete(m.job);
      return;
    }
    if (!job) {
      job = { walk: new ZipStreamHash(), chain: Promise.resolve() };
      jobs.set(m.job, job);
    }
    const j = job;
    j.chain = j.chain.then(async () => {
      if (jobs.get(m.job) !== j) return; // destroyed meanwhile
      if (m.type === 'write') {
        await j.walk.write(Buffer.from(m.chunk));
        port.postMessage({ type: 'progress', job: m.job, walked: j.walk.walkedBytes, bytes: m.chunk.byteLength } satisfies WalkReply);
      } else {
        await j.walk.end();
        jobs.delete(m.job);
        port.postMessage({ type: 'done', job: m.job, walked: j.walk.walkedBytes, result: j.walk.result() } satisfies WalkReply);
      }
    });
  });
}
