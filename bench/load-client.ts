// The bench's load generator: a fixed number of GETs, `concurrency` at a time, over the agent it is given
// (keep-alive or not, plain, TLS or a CONNECT tunnel), each body read to the end and counted. Bounded twice:
// by the request count and by a deadline, after which no new request starts. Measures; never judges timing.
import { createHash } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';

export const MiB = 1024 * 1024;

export interface Target {
  /** http or https */
  transport: typeof http | typeof https;
  options: https.RequestOptions; // host, port, path, agent, servername, ca, ...
}

export interface LoadOptions {
  target: Target;
  total: number;
  concurrency: number;
  /** Every answer must have this status and this many body bytes, else it counts as failed. */
  expectStatus?: number;
  expectBytes: number;
  /** No request starts after this many ms from the start. */
  budgetMs: number;
  /** Per request. */
  timeoutMs?: number;
}

export interface LoadResult {
  started: number;
  ok: number;
  failed: number;
  firstError: string | null;
  bytes: number;
  elapsedMs: number;
  /** Time to the last body byte of each successful request, ms, sorted ascending. */
  latenciesMs: number[];
}

export interface GetResult {
  status: number;
  bytes: number;
  sha256?: string;
}

/** One GET, body drained (and hashed when asked). Rejects on socket errors and on timeout. */
export function getOnce(target: Target, opts: { timeoutMs?: number; hash?: boolean } = {}): Promise<GetResult> {
  return new Promise((resolve, reject) => {
    const req = target.transport.request({ ...target.options, method: 'GET' }, (res) => {
      let bytes = 0;
      const hash = opts.hash ? createHash('sha256') : null;
      res.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
        hash?.update(chunk);
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes, sha256: hash?.digest('hex') }));
      res.on('error', reject);
      res.on('aborted', () => reject(new Error('response aborted')));
    });
    req.setTimeout(opts.timeoutMs ?? 60_000, () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
    req.end();
  });
}

/** One GET of a short text answer from a loopback port (a control path, /metrics); rejects on errors and on timeout. */
export function getText(port: number, path: string, timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent: false, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve(body));
    });
    req.on('timeout', () => req.destroy(new Error(`127.0.0.1:${port}${path}: no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
  });
}

export async function runLoad(opts: LoadOptions): Promise<LoadResult> {
  const expectStatus = opts.expectStatus ?? 200;
  const result: LoadResult = { started: 0, ok: 0, failed: 0, firstError: null, bytes: 0, elapsedMs: 0, latenciesMs: [] };
  const start = performance.now();
  const deadline = start + opts.budgetMs;
  const worker = async (): Promise<void> => {
    while (result.started < opts.total && performance.now() < deadline) {
      result.started++;
      const t0 = performance.now();
      try {
        const r = await getOnce(opts.target, { timeoutMs: opts.timeoutMs });
        result.bytes += r.bytes;
        if (r.status !== expectStatus || r.bytes !== opts.expectBytes) {
          result.failed++;
          result.firstError ??= `status ${r.status}, ${r.bytes} bytes (expected ${expectStatus}, ${opts.expectBytes})`;
        } else {
          result.ok++;
          result.latenciesMs.push(performance.now() - t0);
        }
      } catch (err) {
        result.failed++;
        result.firstError ??= (err as Error).message;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, opts.concurrency) }, worker));
  result.elapsedMs = performance.now() - start;
  result.latenciesMs.sort((a, b) => a - b);
  return result;
}

/** The q-quantile (0..1) of ascending values, nearest rank; NaN when empty. */
export function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank]!;
}

export function median(values: number[]): number {
  return quantile([...values].sort((a, b) => a - b), 0.5);
}
