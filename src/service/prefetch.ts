// Prefetch: fetches ahead, in the background, what the go command asks for next, so that its next request is a
// cache hit: after a version's .info its .mod (step info-mod), after its .mod its .zip (step mod-zip) and its
// .info (step mod-info: `go mod download` reads every go.mod of the build list first, then asks each module's
// .info one at a time, then the zips); a prefetched .mod leads on to its .zip and .info too. Bounded: a few fetches at a time and a bounded queue (when full,
// new work is dropped, never a client's). Skips what is cached, in flight or denied (ModuleService.warm decides).
// Every prefetch that reached upstream is audited as such (outcome `prefetch`, no client) through the one row
// builder; it never answers a client and is never counted as a client request. Never throws into its caller.
import { auditRow } from '../audit/audit-row.js';
import type { AuditRecord } from '../audit/audit-log.js';
import { asGateError, httpStatusFor, type GateError } from '../errors.js';
import { classify } from '../goproxy/cache-class.js';
import { parseProxyPath, type ModuleRequest } from '../goproxy/request-path.js';
import type { UpstreamChain } from '../upstream/upstream-chain.js';
import type { ModuleQuery, WarmResult } from './module-service.js';

export type PrefetchStep = 'info-mod' | 'mod-zip' | 'mod-info';

export interface PrefetchOptions {
  /** Fetches one object into the cache unless it is there or in flight (ModuleService.warm). */
  warm: (q: ModuleQuery) => Promise<WarmResult>;
  /** The steps in force, read at each request (a reload applies a change): 'info-mod', 'mod-zip', 'mod-info' or 'off'. */
  steps: () => readonly string[];
  /** Where audit rows go (AuditLog.record). */
  record: (row: AuditRecord) => void;
  /** Prefetches that failed, for the admin log (never a client's concern). */
  onFailure?: (err: GateError, key: string) => void;
  /** Prefetches running at once (default 4). */
  maxConcurrent?: number;
  /** Prefetches waiting; beyond this new ones are dropped (default 256). */
  maxQueued?: number;
  now?: () => number;
}

interface Job {
  request: ModuleRequest;
  upstream: UpstreamChain;
}

const DEFAULT_MAX_CONCURRENT = 4;
const DEFAULT_MAX_QUEUED = 256;

export class Prefetcher {
  private readonly queue: Job[] = [];
  /** Cache keys queued or running, so one object is prefetched once at a time. */
  private readonly pendingKeys = new Set<string>();
  private running = 0;
  private closed = false;
  private dropped = 0;
  private readonly now: () => number;

  constructor(private readonly opts: PrefetchOptions) {
    this.now = opts.now ?? Date.now;
  }

  /** Prefetches queued or running. */
  get pending(): number {
    return this.pendingKeys.size;
  }

  /** Prefetches dropped because the queue was full, since start. */
  get droppedTotal(): number {
    return this.dropped;
  }

  /** Tells the prefetcher a client was answered 200 for `request` along `upstream`; queues what comes next. */
  answered(request: ModuleRequest, upstream: UpstreamChain): void {
    for (const next of this.nextAfter(request)) this.enqueue({ request: next, upstream });
  }

  /** No new prefetches start; those queued are dropped (running ones finish: shutdown waits for fetches). */
  close(): void {
    this.closed = true;
    for (const job of this.queue.splice(0)) this.pendingKeys.delete(job.request.cacheKey);
  }

  /** The objects the go command asks for after this one, when a step in force covers them (the sooner needed first). */
  private nextAfter(request: ModuleRequest): ModuleRequest[] {
    const steps = this.opts.steps();
    const paths: string[] = [];
    if (request.kind === 'info' && steps.includes('info-mod') && classify(request) === 'immutable') {
      paths.push(request.upstreamPath.replace(/\.info$/, '.mod'));
    } else if (request.kind === 'mod') {
      if (steps.includes('mod-info')) paths.push(request.upstreamPath.replace(/\.mod$/, '.info'));
      if (steps.includes('mod-zip')) paths.push(request.upstreamPath.replace(/\.mod$/, '.zip'));
    }
    const next: ModuleRequest[] = [];
    for (const path of paths) {
      const parsed = parseProxyPath(path);
      // a .info is fetched ahead only where it cannot change (a canonical version)
      if (parsed.ok === true && (parsed.request.kind !== 'info' || classify(parsed.request) === 'immutable')) next.push(parsed.request);
    }
    return next;
  }

  private enqueue(job: Job): void {
    const key = job.request.cacheKey;
    if (this.closed || this.pendingKeys.has(key)) return;
    if (this.queue.length >= (this.opts.maxQueued ?? DEFAULT_MAX_QUEUED)) {
      this.dropped++;
      return;
    }
    this.pendingKeys.add(key);
    this.queue.push(job);
    this.startMore();
  }

  private startMore(): void {
    while (this.running < (this.opts.maxConcurrent ?? DEFAULT_MAX_CONCURRENT) && this.queue.length > 0) {
      const job = this.queue.shift()!;
      this.running++;
      void this.run(job).finally(() => {
        this.running--;
        this.pendingKeys.delete(job.request.cacheKey);
        this.startMore();
      });
    }
  }

  private async run(job: Job): Promise<void> {
    const { request, upstream } = job;
    const started = this.now();
    // the row of this prefetch, as one literal (not `{ ...facts, status }`: see http/exchange.ts, summarize())
    const row = (status: number, upstreamUrl: string | null, end: { bytes?: number; sha256?: string | null; reason?: string }) =>
      auditRow({
        ts: started,
        host: upstream[0]?.target.base.hostname ?? null,
        method: 'GET',
        path: request.upstreamPath,
        module: request.module ?? null,
        version: request.version ?? null,
        kind: request.kind,
        outcome: 'prefetch',
        status,
        bytes: end.bytes,
        durationMs: this.now() - started,
        sha256: end.sha256,
        upstreamUrl,
        reason: end.reason,
      });
    let result: WarmResult;
    try {
      result = await this.opts.warm({ request, upstream, method: 'GET' });
    } catch (err) {
      const gate = asGateError(err);
      // denied or private: the policy said no before anything left the gateway; nothing to audit
      if (gate.code === 'DENIED' || gate.code === 'PRIVATE') return;
      this.opts.onFailure?.(gate, request.cacheKey);
      this.opts.record(row(httpStatusFor(gate), gate.upstreamUrl ?? null, { reason: gate.message }));
      return;
    }
    if (result.done === 'skipped') return;
    const obj = result.object;
    this.opts.record(row(obj.status, obj.upstreamUrl, { bytes: obj.size, sha256: obj.sha256 }));
    if (obj.status === 200) this.answered(request, upstream); // a prefetched .mod leads on to its .zip and .info
  }
}

