// The body of one zip hashing thread (started by zip-walk-pool.ts): runs a ZipStreamHash per download it is
// given, in the order its bytes arrive, and answers each batch with how far the walk got, each end with the
// walk's result, and a verdict request with dirhash.ts's hash1ModuleZip of the finished file (with the walk's
// digests) or its error. Each batch's buffer goes back with its answer, walked and no longer referenced, to be
// filled again (no garbage per batch on either thread). Decides nothing of its own: no sockets, no writes, no policy.
import { parentPort } from 'node:worker_threads';
import { ZipStreamHash, packWalk, type PackedWalk } from './zip-stream-hash.js';
import { hash1ModuleZip } from './dirhash.js';
import { isVerifyError, type VerifyErrorCode } from './verify-error.js';

export type WalkRequest =
  | { type: 'write'; job: number; chunk: ArrayBuffer; length: number }
  | { type: 'end'; job: number }
  | { type: 'verdict'; job: number; file: string; module: string; version: string }
  | { type: 'destroy'; job: number };

export type WalkReply =
  | { type: 'progress'; job: number; walked: number; bytes: number; chunk: ArrayBuffer }
  | { type: 'done'; job: number; walked: number; result: PackedWalk }
  | { type: 'verdict'; job: number; walked: number; h1: string | null; error: { code: VerifyErrorCode | null; message: string } | null };

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
        await j.walk.walkNow(Buffer.from(m.chunk, 0, m.length));
        port.postMessage({ type: 'progress', job: m.job, walked: j.walk.walkedBytes, bytes: m.length, chunk: m.chunk } satisfies WalkReply, [m.chunk]);
      } else if (m.type === 'end') {
        await j.walk.end();
        const result = packWalk(j.walk.result());
        port.postMessage({ type: 'done', job: m.job, walked: j.walk.walkedBytes, result } satisfies WalkReply, [result.bytes]);
      } else {
        jobs.delete(m.job);
        let reply: WalkReply;
        try {
          const h1 = await hash1ModuleZip(m.file, m.module, m.version, j.walk);
          reply = { type: 'verdict', job: m.job, walked: j.walk.walkedBytes, h1, error: null };
        } catch (err) {
          const code = isVerifyError(err) ? err.code : null;
          reply = { type: 'verdict', job: m.job, walked: j.walk.walkedBytes, h1: null, error: { code, message: err instanceof Error ? err.message : String(err) } };
        }
        port.postMessage(reply);
      }
    });
  });
}
