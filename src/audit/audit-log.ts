// The audit trail: one row per Go request (and per refused or passed-through connection), answering
// "which module versions came in, for which client, when, from cache or upstream". Rows are queued and
// inserted in batches inside one transaction (every 250 ms or 200 rows), and flushed on shutdown. A batch the
// database refuses (locked by another process, disk full, read-only) stays queued and is tried again, less and
// less often (1 s to 30 s), up to MAX_KEPT_ROWS rows; only rows beyond that, or queued when the process dies,
// are lost, and the error line says how many.
// Never stores credentials, cookies or query strings (paths, upstream URLs and reasons pass through redactUrl).
// The same transaction counts each served module@version per client and matches a version served for the first
// time against the vulnerability database (src/vulndb/vuln-match.ts), once per module@version and client of
// the batch rather than once per row.
// Subscribers (the console's live tail) see each batch once it is committed, with its row ids; they only read
// what they are given and never record rows themselves, so no call ever loops back into the writer.
import { DEFERRED_WRITE_BUSY_MS, withBusyTimeout, type Db } from '../store/database.js';
import { redactUrl, redactUrlsInText } from '../redact.js';
import { FETCH_KINDS, SERVED_OUTCOMES, fetchedVersionRecorder, type ServedVersion } from '../vulndb/vuln-match.js';

export const AUDIT_OUTCOMES = [
  'hit',
  'miss',
  'stale',
  'not-found',
  'error',
  'forwarded',
  'passthrough',
  'refused',
  'tampered',
  'private',
  'denied',
  // the web console's own events (kind 'console'): sign-ins, failed sign-ins, exports
  'signed-in',
  'sign-in-failed',
  'exported',
  'prefetch', // fetched ahead by the gateway itself (service/prefetch.ts), not a client request
] as const;

/** Outcomes of the console's own rows, which are not Go requests (no metrics, no hit ratio). */
export const CONSOLE_OUTCOMES: readonly AuditOutcome[] = ['signed-in', 'sign-in-failed', 'exported'];

export type AuditOutcome = (typeof AUDIT_OUTCOMES)[number];

export interface AuditRecord {
  ts: number;
  client: string | null;
  origDst: string | null;
  host: string | null;
  method: string | null;
  path: string | null;
  module: string | null;
  version: string | null;
  kind: string | null;
  outcome: AuditOutcome;
  status: number | null;
  bytes: number | null;
  durationMs: number | null;
  sha256: string | null;
  upstreamUrl: string | null;
  reason: string | null;
}

/** A row as written: its record and the id the audit table gave it. */
export type StoredAuditRecord = AuditRecord & { id: number };

/** Rows kept while the database refuses them (about 300 bytes each): beyond this, the oldest are dropped. */
const MAX_KEPT_ROWS = 100_000;
const FIRST_RETRY_MS = 1000;
const LAST_RETRY_MS = 30_000;

/** Sees every committed batch, oldest first. Must not call AuditLog.record (it would loop back into the writer). */
export type AuditListener = (rows: readonly StoredAuditRecord[]) => void;

export class AuditLog {
  private readonly listeners = new Set<AuditListener>();
  private queue: StoredAuditRecord[] = [];
  private timer: NodeJS.Timeout | null = null;
  private waiters: (() => void)[] = [];
  /** While inserts fail: the wait before the next try (doubling up to LAST_RETRY_MS); 0 when they succeed. */
  private retryMs = 0;
  private readonly insertMany: (rows: StoredAuditRecord[]) => StoredAuditRecord[];
  private readonly db: Db;

  constructor(
    db: Db,
    private readonly onError: (err: unknown) => void = () => undefined,
    private readonly batchMs = 250,
    private readonly batchSize = 200,
    /** Sees every record as it is queued (metrics). */
    private readonly onRecord: ((r: AuditRecord) => void) | null = null,
  ) {
    this.db = db;
    // positional parameters: binding sixteen named ones from an object cost ~1.5 µs more per row
    const insert = db.prepare<[number, ...(string | number | null)[]]>(
      `INSERT INTO audit (ts, client, orig_dst, host, method, path, module, version, kind, outcome, status, bytes, duration_ms, sha256, upstream_url, reason)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    const noteFetched = fetchedVersionRecorder(db);
    this.insertMany = db.transaction((rows: StoredAuditRecord[]) => {
      const served: ServedVersion[] = [];
      for (const r of rows) {
        r.id = Number(
          insert.run(r.ts, r.client, r.origDst, r.host, r.method, r.path, r.module, r.version, r.kind, r.outcome, r.status, r.bytes, r.durationMs, r.sha256, r.upstreamUrl, r.reason)
            .lastInsertRowid,
        );
        if (r.module !== null && r.version !== null && r.kind !== null && FETCH_KINDS.includes(r.kind) && SERVED_OUTCOMES.includes(r.outcome)) {
          served.push({ module: r.module, version: r.version, client: r.client, ts: r.ts });
        }
      }
      noteFetched(served);
      return rows;
    });
  }

  record(record: AuditRecord): void {
    // the queued copy gets its id when it is inserted
    // a path is a URL when the client sent one in absolute form (`GET https://user:pw@host/...`)
    const r: StoredAuditRecord = {
      ...record,
      path: record.path && redactUrl(record.path),
      upstreamUrl: record.upstreamUrl && redactUrl(record.upstreamUrl),
      reason: record.reason && redactUrlsInText(record.reason),
      id: 0,
    };
    this.onRecord?.(r);
    this.queue.push(r);
    if (this.queue.length >= this.batchSize && this.retryMs === 0) this.flush();
    else if (!this.timer) {
      this.timer = setTimeout(() => this.flush(), this.batchMs);
      this.timer.unref();
    }
  }

  /** Writes every queued row now (one transaction); insert errors go to onError. */
  flush(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.queue.length === 0) return this.settleWaiters();
    const rows = this.queue;
    this.queue = [];
    let stored: StoredAuditRecord[] = [];
    try {
      // one transaction: all of the batch or none of it; a lock held elsewhere is waited for briefly, then retried
      stored = withBusyTimeout(this.db, DEFERRED_WRITE_BUSY_MS, () => this.insertMany(rows));
      this.retryMs = 0;
    } catch (err) {
      this.keepForRetry(rows, err);
    }
    this.settleWaiters();
    if (stored.length) this.publish(stored);
  }

  /** Rows waiting for the database (after a refused insert). */
  get pending(): number {
    return this.queue.length;
  }

  /** Puts a refused batch back in front of what was queued since, and tries again later. */
  private keepForRetry(rows: StoredAuditRecord[], err: unknown): void {
    const all = rows.concat(this.queue);
    const dropped = Math.max(0, all.length - MAX_KEPT_ROWS);
    this.queue = dropped ? all.slice(dropped) : all;
    this.retryMs = Math.min(LAST_RETRY_MS, this.retryMs ? this.retryMs * 2 : FIRST_RETRY_MS);
    const why = err instanceof Error ? err.message : String(err);
    this.onError(
      new Error(`cannot write ${rows.length} audit rows (${why}); ${this.queue.length} kept, next try in ${this.retryMs / 1000} s${dropped ? `; ${dropped} oldest dropped` : ''}`, { cause: err }),
    );
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => this.flush(), this.retryMs);
    this.timer.unref();
  }

  /** Adds a listener of committed rows; returns the function that removes it. */
  subscribe(listener: AuditListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private publish(rows: readonly StoredAuditRecord[]): void {
    for (const l of [...this.listeners]) {
      try {
        l(rows);
      } catch (err) {
        this.onError(err);
      }
    }
  }

  /**
   * Resolves once every row recorded before the call has been written (or its insert failed, was reported and
   * kept for a retry):
   * at once when nothing is queued, else at the next batch. For tests and shutdown: wait on this, never on time.
   */
  whenFlushed(): Promise<void> {
    if (this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private settleWaiters(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }
}
