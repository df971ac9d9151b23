// The cache index: one row per cached Go-module object (by goproxy cacheKey), pointing at a blob by sha256,
// or remembering an upstream 404/410 for a while. Statements are prepared once. A row is written only after
// its blob is complete on disk (BlobStore.commit), in one statement, so a row never points at a half file.
// Cache hits record their last access in memory and write them in batches (every 250 ms or 512 keys): an
// UPDATE per hit was the largest cost of a hit. A batch is written in chunks, one per turn of the event loop
// that DeferredWrites gives it, each sized by ChunkSizer to take about DEFERRED_WRITE_CHUNK_MS (512 access
// times on 400,000 objects took 11-15 ms in one transaction). Whoever reads last_access in this process
// (eviction) calls flushTouches() first; the gateway's shutdown does too.
// The hit SELECT names its columns and returns them as an array (better-sqlite3's raw mode), which costs
// about a third less than an object per row.
// Rows of immutable objects (no expiry: a version's .info/.mod/.zip, a checksum lookup or tile) are kept in
// memory once read, so that hits skip the SELECT. A kept row is answered only while nothing can have changed it:
// - put and delete through this index drop it at once, and so does this process's eviction (forgetKept);
// - another connection's commit (a worker, `gomodgate cache prune` or `cache verify`) shows in SQLite's
//   `PRAGMA data_version`, which the first lookup of each event-loop turn reads (half a SELECT's cost, paid
//   once per turn rather than per request); a change drops every kept row;
// - and none is older than keepRowsMs (10 minutes), whatever happens: a last bound, as every change above is
//   reported. It was 1 s, which a warm build's hits outlived: the go command asks for each object once per
//   build, so every hit of the next build paid the SELECT again.
import { DEFERRED_WRITE_BUSY_MS, withBusyTimeout, type Db } from './database.js';
import { ChunkSizer, DeferredWrites } from './deferred-writes.js';
import { removeBlobFile } from './eviction.js';
import type { BlobStore } from './blob-store.js';
import { GateError } from '../errors.js';
import { redactUrl } from '../redact.js';

export interface CachedObject {
  key: string;
  kind: string;
  module: string | null;
  version: string | null;
  status: number;
  sha256: string | null;
  /** h1: hash verified against the checksum database (null when not verified) */
  h1: string | null;
  size: number;
  contentType: string;
  bodyInline: Buffer | null;
  upstreamUrl: string | null;
  storedAt: number;
  expiresAt: number | null; // null = immutable
}

interface Row {
  key: string;
  kind: string;
  module: string | null;
  version: string | null;
  status: number;
  sha256: string | null;
  h1: string | null;
  size: number;
  content_type: string;
  body_inline: Buffer | null;
  upstream_url: string | null;
  stored_at: number;
  expires_at: number | null;
}

/** The columns of a CachedObject, in the order fromColumns reads them. */
const COLUMNS = 'key, kind, module, version, status, sha256, h1, size, content_type, body_inline, upstream_url, stored_at, expires_at';
type Columns = [string, string, string | null, string | null, number, string | null, string | null, number, string, Buffer | null, string | null, number, number | null];

function fromColumns(c: Columns): CachedObject {
  return {
    key: c[0],
    kind: c[1],
    module: c[2],
    version: c[3],
    status: c[4],
    sha256: c[5],
    h1: c[6],
    size: c[7],
    contentType: c[8],
    bodyInline: c[9],
    upstreamUrl: c[10],
    storedAt: c[11],
    expiresAt: c[12],
  };
}

function fromRow(r: Row): CachedObject {
  return {
    key: r.key,
    kind: r.kind,
    module: r.module,
    version: r.version,
    status: r.status,
    sha256: r.sha256,
    h1: r.h1,
    size: r.size,
    contentType: r.content_type,
    bodyInline: r.body_inline,
    upstreamUrl: r.upstream_url,
    storedAt: r.stored_at,
    expiresAt: r.expires_at,
  };
}

/**
 * A prune of remembered 404/410s leaves this share of the bound, so the next one is max/50 404s away: at 10,000,
 * one prune of 200 rows every 200 404s (a prune of 1,000 held the event loop 26 ms).
 */
const NEGATIVES_LOW_WATER = 0.98;

export interface CacheIndexOptions {
  /** Longest a hit's last access waits in memory before it is written (ms). */
  touchBatchMs?: number;
  /** Written at once when this many keys wait. */
  touchBatchSize?: number;
  /** Longest an immutable object's row is answered from memory after it was read (ms; 0: never kept). */
  keepRowsMs?: number;
  /** At most this many rows are kept (the least recently used go first). */
  keepRowsMax?: number;
  /** The clock of keepRowsMs (default Date.now; tests advance their own). */
  now?: () => number;
  /** The turns a batch's chunks run in, shared with the gateway's other deferred writes (default: its own). */
  writes?: DeferredWrites;
  /** The clock chunks are timed with (ms; default performance.now; tests give one that moves at each reading). */
  chunkClock?: () => number;
}

/** A batch of access times being written in chunks: what is left of it is `rest`. */
interface TouchBatch {
  times: Map<string, number>;
  rest: Iterator<[string, number]>;
}

/** An immutable object's row as read from the index, and when it was read. */
interface KeptRow {
  object: CachedObject;
  readAt: number;
}

export class CacheIndex {
  /** key → last access (ms) not yet written. */
  private pendingTouches = new Map<string, number>();
  /** The batch being written; put and delete take their key out of it as well (its iterator skips them). */
  private touching: TouchBatch | null = null;
  private touchTimer: NodeJS.Timeout | null = null;
  private readonly touchBatchMs: number;
  private readonly touchBatchSize: number;
  /** Writes at most `n` access times from `rest` in one transaction; returns how many (fewer: it ran out). */
  private readonly touchChunk: (rest: Iterator<[string, number]>, n: number) => number;
  private readonly writes: DeferredWrites;
  private readonly touchSizer: ChunkSizer;
  private readonly db: Db;
  /** key → an immutable object's row, least recently used first. */
  private readonly keptRows = new Map<string, KeptRow>();
  private readonly keepRowsMs: number;
  private readonly keepRowsMax: number;
  private readonly now: () => number;
  private readonly dataVersionStmt;
  private dataVersion = -1;
  /** true once this event-loop turn read data_version (reset by setImmediate). */
  private checkedThisTurn = false;
  private readonly getStmt;
  private readonly putStmt;
  /** The upsert, with the blob it left no row pointing at (see put). */
  private readonly putRow: (row: CachedObject) => string | null;
  private readonly touchStmt;
  private readonly deleteStmt;
  private readonly deleteNamingStmt;
  private readonly allStmt;
  private readonly countNegativeStmt;
  /** Remembered 404/410s as last counted, plus those stored here since; null: count at the next call. */
  private negativesEstimate: number | null = null;
  private readonly pruneNegativeStmt;

  constructor(db: Db, options: CacheIndexOptions = {}) {
    this.db = db;
    this.touchBatchMs = options.touchBatchMs ?? 250;
    this.touchBatchSize = options.touchBatchSize ?? 512;
    this.keepRowsMs = options.keepRowsMs ?? 10 * 60_000;
    this.keepRowsMax = options.keepRowsMax ?? 4096;
    this.now = options.now ?? Date.now;
    this.writes = options.writes ?? new DeferredWrites();
    this.touchSizer = new ChunkSizer(this.touchBatchSize, options.chunkClock);
    this.dataVersionStmt = db.prepare<[], number>('PRAGMA data_version').pluck(true);
    this.getStmt = db.prepare<[string], Columns>(`SELECT ${COLUMNS} FROM objects WHERE key = ?`).raw(true);
    this.putStmt = db.prepare(
      `INSERT INTO objects (key, kind, module, version, status, sha256, h1, size, content_type, body_inline, upstream_url, stored_at, expires_at, last_access)
       VALUES (@key, @kind, @module, @version, @status, @sha256, @h1, @size, @contentType, @bodyInline, @upstreamUrl, @storedAt, @expiresAt, @storedAt)
       ON CONFLICT(key) DO UPDATE SET kind=excluded.kind, module=excluded.module, version=excluded.version,
         status=excluded.status, sha256=excluded.sha256, h1=excluded.h1, size=excluded.size, content_type=excluded.content_type,
         body_inline=excluded.body_inline, upstream_url=excluded.upstream_url, stored_at=excluded.stored_at,
         expires_at=excluded.expires_at, last_access=excluded.last_access`,
    );
    const shaOfKey = db.prepare<[string], string | null>('SELECT sha256 FROM objects WHERE key = ?').pluck(true);
    const anyRowOf = db.prepare<[string], number>('SELECT 1 FROM objects WHERE sha256 = ? LIMIT 1').pluck(true);
    // BEGIN IMMEDIATE: a transaction that reads first holds a snapshot, and its write then fails at once
    // (SQLITE_BUSY, no busy wait) when another connection (a worker) committed since; this one waits its turn
    this.putRow = db.transaction((row: CachedObject): string | null => {
      const before = shaOfKey.get(row.key) ?? null;
      this.putStmt.run(row);
      return before !== null && before !== row.sha256 && anyRowOf.get(before) === undefined ? before : null;
    }).immediate;
    this.touchStmt = db.prepare('UPDATE objects SET last_access = ? WHERE key = ?');
    this.touchChunk = db.transaction((rest: Iterator<[string, number]>, n: number) => {
      let i = 0;
      for (; i < n; i++) {
        const e = rest.next();
        if (e.done) break;
        this.touchStmt.run(e.value[1], e.value[0]);
      }
      return i;
    });
    this.deleteStmt = db.prepare('DELETE FROM objects WHERE key = ?');
    this.deleteNamingStmt = db.prepare('DELETE FROM objects WHERE key = ? AND sha256 = ?');
    this.allStmt = db.prepare<[], Row>('SELECT * FROM objects');
    this.countNegativeStmt = db.prepare<[], { n: number }>('SELECT count(*) AS n FROM objects WHERE sha256 IS NULL AND status <> 200');
    this.pruneNegativeStmt = db.prepare(
      `DELETE FROM objects WHERE key IN (SELECT key FROM objects WHERE sha256 IS NULL AND status <> 200
         ORDER BY (expires_at > @now), stored_at LIMIT @n)`,
    );
  }

  /** Returns null when absent; throws STORE_IO when the index cannot be read. */
  get(key: string): CachedObject | null {
    try {
      const kept = this.keptRow(key);
      if (kept) return kept;
      // with nothing kept, the version to compare later is the one before this SELECT, never a later one
      const versionBefore = this.keepRowsMs > 0 && this.keptRows.size === 0 ? this.dataVersionStmt.get()! : null;
      const columns = this.getStmt.get(key);
      const object = columns ? fromColumns(columns) : null;
      if (object !== null && object.expiresAt === null && this.keepRowsMs > 0) {
        if (versionBefore !== null) this.dataVersion = versionBefore;
        this.keep(object);
      }
      return object;
    } catch (err) {
      throw new GateError('STORE_IO', 'cannot read the cache index', { cause: err });
    }
  }

  /** The kept row of `key` if nothing can have changed it since it was read (see the header), else null. */
  private keptRow(key: string): CachedObject | null {
    if (this.keptRows.size === 0) return null;
    if (!this.checkedThisTurn) {
      this.checkedThisTurn = true;
      setImmediate(() => {
        this.checkedThisTurn = false;
      });
      const version = this.dataVersionStmt.get()!;
      if (version !== this.dataVersion) {
        this.keptRows.clear();
        this.dataVersion = version;
        return null;
      }
    }
    const kept = this.keptRows.get(key);
    if (kept === undefined) return null;
    this.keptRows.delete(key);
    if (this.now() - kept.readAt >= this.keepRowsMs) return null;
    this.keptRows.set(key, kept); // most recently used last
    return kept.object;
  }

  private keep(object: CachedObject): void {
    this.keptRows.set(object.key, { object, readAt: this.now() });
    if (this.keptRows.size > this.keepRowsMax) this.keptRows.delete(this.keptRows.keys().next().value as string);
  }

  /** This process deleted the row by SQL outside this index (the gateway's eviction): read it from the table again. */
  forgetKept(key: string): void {
    this.keptRows.delete(key);
  }

  /**
   * Stores (or replaces) the row of obj.key. Returns the blob the key pointed at before when no row points at
   * it any more (a list or @latest refreshed with new content, a 200 replaced by a remembered 404): the caller
   * removes that file, which nothing would count or evict again. Else null.
   */
  put(obj: CachedObject): string | null {
    this.pendingTouches.delete(obj.key); // put writes last_access itself (storedAt), as it always did
    this.touching?.times.delete(obj.key);
    this.keptRows.delete(obj.key);
    try {
      return this.putRow({ ...obj, bodyInline: obj.bodyInline ?? null, upstreamUrl: obj.upstreamUrl === null ? null : redactUrl(obj.upstreamUrl) });
    } catch (err) {
      throw new GateError('STORE_IO', 'cannot write the cache index', { cause: err });
    }
  }

  /** Records a hit's access time; written with the next batch (see flushTouches). */
  touch(key: string, at = Date.now()): void {
    this.pendingTouches.set(key, at);
    if (this.touching) return; // the batch being written takes these when it is done
    if (this.pendingTouches.size >= this.touchBatchSize) this.startTouches();
    else this.scheduleTouches();
  }

  /** Writes every waiting last access now, a batch being written included. Call before reading last_access (eviction). */
  flushTouches(): void {
    // a batch finished here may hand what waited behind it to a new batch (startTouches): that one too
    while (this.touching || this.pendingTouches.size > 0) this.writeTouches(this.touching ?? this.takeTouches(), true);
    this.clearTouchTimer();
  }

  private clearTouchTimer(): void {
    if (this.touchTimer) {
      clearTimeout(this.touchTimer);
      this.touchTimer = null;
    }
  }

  private scheduleTouches(): void {
    if (this.touchTimer || this.pendingTouches.size === 0) return;
    this.touchTimer = setTimeout(() => {
      this.touchTimer = null;
      this.startTouches();
    }, this.touchBatchMs);
    this.touchTimer.unref();
  }

  /** Takes the waiting access times as a batch, written chunk by chunk in the turns DeferredWrites gives it. */
  private startTouches(): void {
    this.clearTouchTimer();
    if (this.touching || this.pendingTouches.size === 0) return;
    const t = this.takeTouches();
    this.writes.run(() => this.writeTouches(t));
  }

  private takeTouches(): TouchBatch {
    const times = this.pendingTouches;
    this.pendingTouches = new Map();
    this.touching = { times, rest: times.entries() };
    return this.touching;
  }

  /** One transaction of batch `t` (all of what is left when `all`); what remains is handed in for a later turn. */
  private writeTouches(t: TouchBatch, all = false): void {
    if (this.touching !== t) return; // flushTouches finished it meanwhile
    let done = true;
    const n = all ? Infinity : this.touchSizer.rows;
    try {
      done = this.touchSizer.time(() => withBusyTimeout(this.db, DEFERRED_WRITE_BUSY_MS, () => this.touchChunk(t.rest, n))) < n;
    } catch {
      // last_access is advisory (eviction order): a failed update (another process holds the write lock) must
      // neither fail a hit nor hold the event loop for the connection's whole busy timeout; the batch is dropped
    }
    if (!done) {
      this.writes.run(() => this.writeTouches(t));
      return;
    }
    this.touching = null;
    if (this.pendingTouches.size >= this.touchBatchSize) this.startTouches();
    else this.scheduleTouches();
  }

  delete(key: string): void {
    this.forgetKey(key);
    this.deleteStmt.run(key);
  }

  /**
   * Deletes key's row only while it still names this blob: a blob found gone or bad says nothing of a row another
   * process has written for the key since (a fresh copy), and deleting that one would orphan its file.
   */
  deleteIfNames(key: string, sha256: string): void {
    this.forgetKey(key);
    this.deleteNamingStmt.run(key, sha256);
  }

  /**
   * Removes the file of a blob no row points at any more (what put returned), as eviction removes one: rows
   * another process wrote for the same content meanwhile go with it (removeBlobFile).
   */
  removeBlob(blobs: BlobStore, sha256: string): void {
    for (const row of removeBlobFile(this.db, blobs, sha256) ?? []) this.forgetKey(row.key);
  }

  /** What this process holds of key's row in memory: waiting access times, a kept row. */
  private forgetKey(key: string): void {
    this.pendingTouches.delete(key);
    this.touching?.times.delete(key);
    this.keptRows.delete(key);
  }

  /**
   * Keeps at most `max` remembered 404/410 answers, called after each one is stored: past `max`, expired ones
   * go first, then the oldest, down to a fiftieth below `max`. Counting and sorting them cost 1.6-3.3 ms at 10,000,
   * at every 404 once the bound was reached; now the count is kept in memory between two prunes (404s stored by
   * another process are seen at the next count, so the bound may be passed by what they stored meanwhile).
   */
  pruneNegatives(max: number, now = Date.now()): number {
    try {
      if (this.negativesEstimate !== null && ++this.negativesEstimate <= max) return 0;
      const { n } = this.countNegativeStmt.get()!;
      this.negativesEstimate = n;
      if (n <= max) return 0;
      const removed = this.pruneNegativeStmt.run({ now, n: n - Math.floor(max * NEGATIVES_LOW_WATER) }).changes;
      this.negativesEstimate = n - removed;
      return removed;
    } catch {
      this.negativesEstimate = null;
      return 0; // bounded again at the next remembered 404
    }
  }

  *all(): IterableIterator<CachedObject> {
    for (const row of this.allStmt.iterate()) yield fromRow(row);
  }
}
