// The audit trail: one row per Go request (and per refused or passed-through connection), answering
// "which module versions came in, for which client, when, from cache or upstream". Rows are queued and
// written in batches (every 250 ms or 200 rows), and flushed on shutdown. A batch is written in chunks, one per
// turn of the event loop that DeferredWrites gives it, each sized by ChunkSizer to take about
// DEFERRED_WRITE_CHUNK_MS: on a large trail every row lands in other pages of the module- and client-keyed
// indexes, and a whole batch in one turn held every request 6-19 ms. A batch the database refuses (locked by
// another process, disk full, read-only) stays queued and is tried again, less and less often (1 s to 30 s), up
// to MAX_KEPT_ROWS rows; only rows beyond that, or queued when the process dies, are lost, and the error line
// says how many.
// Never stores credentials, cookies or query strings (paths, upstream URLs and reasons pass through redactUrl).
// The same transaction counts each served module@version per client and matches a version served for the first
// time against the vulnerability database (src/vulndb/vuln-match.ts), once per module@version and client of
// the batch rather than once per row.
// Subscribers (the console's live tail) see each batch once it is committed, with its row ids; they only read
// what they are given and never record rows themselves, so no call ever loops back into the writer.
import { DEFERRED_WRITE_BUSY_MS, withBusyTimeout, type Db } from '../store/database.js';
import { ChunkSizer, DeferredWrites } from '../store/deferred-writes.js';
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
  /** Answered by an upstream fetch another request had started (a miss that caused no fetch of its own). */
  joined: boolean;
}

/** A row as written: its record and the id the audit table gave it. */
export type StoredAuditRecord = AuditRecord & { id: number };

/** Rows kept while the database refuses them (about 300 bytes each): beyond this, the oldest are dropped. */
const MAX_KEPT_ROWS = 100_000;
const FIRST_RETRY_MS = 1000;
const LAST_RETRY_MS = 30_000;

/** A batch being written: its rows, and the first one not written yet. */
interface BatchWrite {
  rows: StoredAuditRecord[];
  next: number;
  /** Settled when the batch is written, or refused and kept: they wait for rows this batch holds. */
  waiters: (() => void)[];
}

/** Sees every committed batch, oldest first. Must not call AuditLog.record (it would loop back into the writer). */
export type AuditListener = (rows: readonly StoredAuditRecord[]) => void;

export class AuditLog {
  private readonly listeners = new Set<AuditListener>();
  private queue: StoredAuditRecord[] = [];
  private timer: NodeJS.Timeout | null = null;
  /** Wait for rows still in the queue: they move to the batch that takes the queue. */
  private waiters: (() => void)[] = [];
  private writing: BatchWrite | null = null;
  /** While inserts fail: the wait before the next try (doubling up to LAST_RETRY_MS); 0 when they succeed. */
  private retryMs = 0;
  /** Inserts rows[from, to) in one transaction, with their fetch counts; returns how many. */
  private readonly insertChunk: (rows: StoredAuditRecord[], from: number, to: number) => number;
  private readonly db: Db;
  private readonly writes: DeferredWrites;
  private readonly sizer: ChunkSizer;

  constructor(
    db: Db,
    private readonly onError: (err: unknown) => void = () => undefined,
    private readonly batchMs = 250,
    private readonly batchSize = 200,
    /** Sees every record as it is queued (metrics). */
    private readonly onRecord: ((r: AuditRecord) => void) | null = null,
    chunks: {
      /** The turns the chunks run in, shared with the gateway's other deferred writes (default: its own). */
      writes?: DeferredWrites;
      /** The clock chunks are timed with (ms; tests give one that moves at each reading). */
      clock?: () => number;
    } = {},
  ) {
    this.db = db;
    this.writes = chunks.writes ?? new DeferredWrites();
    this.sizer = new ChunkSizer(batchSize, chunks.clock);
    // positional parameters: binding sixteen named ones from an object cost ~1.5 µs more per row
    const insert = db.prepare<[number, ...(string | number | null)[]]>(
      `INSERT INTO audit (ts, client, orig_dst, host, method, path, module, version, kind, outcome, status, bytes, duration_ms, sha256, upstream_url, reason, joined)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    const noteFetched = fetchedVersionRecorder(db);
    this.insertChunk = db.transaction((rows: StoredAuditRecord[], from: number, to: number) => {
      const served: ServedVersion[] = [];
      for (let i = from; i < to; i++) {
        const r = rows[i]!;
        r.id = Number(
          insert.run(r.ts, r.client, r.origDst, r.host, r.method, r.path, r.module, r.version, r.kind, r.outcome, r.status, r.bytes, r.durationMs, r.sha256, r.upstreamUrl, r.reason, r.joined ? 1 : 0)
            .lastInsertRowid,
        );
        if (r.module !== null && r.version !== null && r.kind !== null && FETCH_KINDS.includes(r.kind) && SERVED_OUTCOMES.includes(r.outcome)) {
          served.push({ module: r.module, version: r.version, client: r.client, ts: r.ts });
        }
      }
      noteFetched(served);
      return to - from;
    });
  }

  record(record: AuditRecord): void {
    // the queued copy gets its id when it is inserted; it is written field by field, not as `{ ...record }`:
    // Node 20's V8 gives a spread's result a hidden class of its own at every call (see http/exchange.ts)
    // a path is a URL when the client sent one in absolute form (`GET https://user:pw@host/...`)
    const r: StoredAuditRecord = {
      ts: record.ts,
      client: record.client,
      origDst: record.origDst,
      host: record.host,
      method: record.method,
      path: record.path && redactUrl(record.path),
      module: record.module,
      version: record.version,
      kind: record.kind,
      outcome: record.outcome,
      status: record.status,
      bytes: record.bytes,
      durationMs: record.durationMs,
      sha256: record.sha256,
      upstreamUrl: record.upstreamUrl && redactUrl(record.upstreamUrl),
      reason: record.reason && redactUrlsInText(record.reason),
      joined: record.joined,
      id: 0,
    };
    this.onRecord?.(r);
    this.queue.push(r);
    if (this.writing) return; // the batch being written takes the queue when it is done
    if (this.queue.length >= this.batchSize && this.retryMs === 0) this.startBatch();
    else this.scheduleBatch(this.batchMs);
  }

  /** Writes every queued row now, whatever the time it takes (shutdown, tests); insert errors go to onError. */
  flush(): void {
    for (;;) {
      this.clearTimer();
      if (!this.writing) this.takeQueue();
      const w = this.writing;
      if (!w) return;
      this.writeChunk(w, true);
      if (this.writing === null && this.retryMs > 0) return; // refused: kept, and a retry scheduled
    }
  }

  private clearTimer(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
  }

  private scheduleBatch(ms: number): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.startBatch();
    }, ms);
    this.timer.unref();
  }

  /** Takes the queue as a batch, written chunk by chunk in the turns DeferredWrites gives it (none of them this one). */
  private startBatch(): void {
    this.clearTimer();
    if (this.writing) return;
    this.takeQueue();
    const w = this.writing as BatchWrite | null;
    if (w) this.writes.run(() => this.writeChunk(w));
  }

  /** The queue becomes the batch being written, with the waiters for its rows; with an empty queue they are settled. */
  private takeQueue(): void {
    const waiters = this.waiters;
    this.waiters = [];
    if (this.queue.length === 0) return settle(waiters);
    this.writing = { rows: this.queue, next: 0, waiters };
    this.queue = [];
  }

  /**
   * One transaction of batch `w` (all of what is left when `all`); a lock held elsewhere is waited for briefly.
   * What remains is handed in for a later turn; a refused chunk puts the batch's unwritten rows back for a retry.
   */
  private writeChunk(w: BatchWrite, all = false): void {
    if (this.writing !== w) return; // flush() finished it meanwhile
    const from = w.next;
    const to = all ? w.rows.length : Math.min(w.rows.length, from + this.sizer.rows);
    try {
      this.sizer.time(() => withBusyTimeout(this.db, DEFERRED_WRITE_BUSY_MS, () => this.insertChunk(w.rows, from, to)));
      w.next = to;
      this.retryMs = 0;
    } catch (err) {
      this.writing = null;
      this.keepForRetry(w.rows.slice(from), err);
      settle(w.waiters);
      return;
    }
    const written = w.rows.slice(from, w.next);
    if (w.next < w.rows.length) {
      this.writes.run(() => this.writeChunk(w));
    } else {
      this.writing = null;
      settle(w.waiters);
      if (this.queue.length >= this.batchSize) this.startBatch();
      else if (this.queue.length > 0) this.scheduleBatch(this.batchMs);
    }
    this.publish(written);
  }

  /** Rows not written yet: queued, kept after a refused insert, or in the rest of a batch being written. */
  get pending(): number {
    return this.queue.length + (this.writing ? this.writing.rows.length - this.writing.next : 0);
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
    this.clearTimer();
    this.scheduleBatch(this.retryMs);
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
    if (this.queue.length > 0) return new Promise((resolve) => this.waiters.push(resolve));
    if (this.writing) return new Promise((resolve) => this.writing!.waiters.push(resolve));
    return Promise.resolve();
  }
}

function settle(waiters: readonly (() => void)[]): void {
  for (const w of waiters) w();
}
