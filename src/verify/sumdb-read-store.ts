// What the checksum-database verifier has read and authenticated, kept for the next reader: record lookups
// (`/lookup/M@V`) and hash tiles (`/tile/H/L/NNN[.p/W]`), both immutable once the log holds them. Like the go
// command's $GOPATH/pkg/sumdb cache, it saves the round trips of a restart, and it is how the gateway's worker
// processes share these reads: one worker stores, the others read. Keyed by the database's verifier key (a
// changed key starts afresh). Never trusted: the verifier authenticates what it reads back as if it came from
// upstream, and only stores what it has authenticated. Bounded: the oldest rows go first.
import type { Db } from '../store/database.js';

/** Authenticated checksum-database answers by path. get returns null when none is kept; both throw on storage failure. */
export interface SumdbReadStore {
  get(verifierKey: string, path: string): Buffer | null;
  put(verifierKey: string, path: string, body: Buffer): void;
  /** Forgets one answer (it no longer authenticates). */
  drop(verifierKey: string, path: string): void;
}

/** Rows kept: tiles are at most 8 KiB (height 8), lookups a few hundred bytes, so at most about 64 MiB. */
const DEFAULT_MAX_ROWS = 8192;

/** In gomodgate's SQLite file (table sumdb_reads, schema 8), shared by every worker. Statements prepared once. */
export class SqliteSumdbReadStore implements SumdbReadStore {
  private readonly select;
  private readonly insert;
  private readonly remove;
  private readonly prune;
  private writes = 0;

  constructor(
    db: Db,
    private readonly maxRows = DEFAULT_MAX_ROWS,
  ) {
    this.select = db.prepare('SELECT body FROM sumdb_reads WHERE verifier_key = ? AND path = ?').pluck();
    this.insert = db.prepare('INSERT OR IGNORE INTO sumdb_reads (verifier_key, path, body) VALUES (?, ?, ?)');
    this.remove = db.prepare('DELETE FROM sumdb_reads WHERE verifier_key = ? AND path = ?');
    // rowids grow with each insert: the oldest rows are the smallest ones
    this.prune = db.prepare('DELETE FROM sumdb_reads WHERE rowid <= (SELECT max(rowid) FROM sumdb_reads) - ?');
  }

  get(verifierKey: string, path: string): Buffer | null {
    return (this.select.get(verifierKey, path) as Buffer | undefined) ?? null;
  }

  put(verifierKey: string, path: string, body: Buffer): void {
    this.insert.run(verifierKey, path, body);
    // pruned every 64 inserts: the bound is exact to within that many rows
    if (++this.writes % 64 === 0) this.prune.run(this.maxRows);
  }

  drop(verifierKey: string, path: string): void {
    this.remove.run(verifierKey, path);
  }
}
