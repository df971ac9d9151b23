// The stored copy of the Go vulnerability database (tables vuln_* of gomodgate.db): advisories with their OSV
// file verbatim, aliases, affected modules' version intervals, the index files as served, and per source the
// database's `modified` time and the last sync's result.
// Owns: writing those tables. Each advisory is written in one transaction together with its re-matched
// fetches, so a reader sees the old or the new advisory, never half of one. Never does network I/O.
import type { Statement } from 'better-sqlite3';
import type { Db } from '../store/database.js';
import type { OsvAdvisory } from './osv.js';
import { rematchAdvisory } from './vuln-match.js';

export interface SyncState {
  source: string;
  dbModified: number | null;
  lastAttempt: number | null;
  lastSuccess: number | null;
  lastResult: string | null;
}

export class VulnStore {
  private readonly writeOne: (adv: OsvAdvisory, osv: Buffer) => void;
  private readonly fileStmt: Statement<[string], { body: Buffer; modified: number }>;
  private readonly osvStmt: Statement<[string], { body: Buffer; modified: number }>;

  constructor(private readonly db: Db) {
    this.fileStmt = db.prepare('SELECT body, modified FROM vuln_files WHERE path = ?');
    this.osvStmt = db.prepare('SELECT osv AS body, modified FROM vuln_advisories WHERE id = ?');
    const upsert = db.prepare(
      `INSERT INTO vuln_advisories (id, aliases, summary, details, published, modified, withdrawn, osv)
       VALUES (@id, @aliases, @summary, @details, @published, @modified, @withdrawn, @osv)
       ON CONFLICT(id) DO UPDATE SET aliases = excluded.aliases, summary = excluded.summary, details = excluded.details,
         published = excluded.published, modified = excluded.modified, withdrawn = excluded.withdrawn, osv = excluded.osv`,
    );
    const dropAliases = db.prepare('DELETE FROM vuln_aliases WHERE advisory = ?');
    const addAlias = db.prepare('INSERT OR IGNORE INTO vuln_aliases (alias, advisory) VALUES (?, ?)');
    const dropRanges = db.prepare('DELETE FROM vuln_ranges WHERE advisory = ?');
    const addRange = db.prepare('INSERT INTO vuln_ranges (advisory, module, introduced, fixed, last_affected) VALUES (?, ?, ?, ?, ?)');
    this.writeOne = db.transaction((adv: OsvAdvisory, osv: Buffer) => {
      upsert.run({ ...adv, aliases: JSON.stringify(adv.aliases), osv });
      dropAliases.run(adv.id);
      for (const a of adv.aliases) addAlias.run(a, adv.id);
      dropRanges.run(adv.id);
      for (const a of adv.affected) {
        for (const iv of a.intervals) addRange.run(adv.id, a.module, iv.introduced, iv.fixed, iv.lastAffected);
      }
      rematchAdvisory(db, adv.id);
    });
  }

  /** Stores (or replaces) one advisory and re-matches its fetches, in one transaction. */
  putAdvisory(adv: OsvAdvisory, osv: Buffer): void {
    this.writeOne(adv, osv);
  }

  /** id → modified (ms) of every stored advisory, to decide what a sync must fetch. */
  modifiedTimes(): Map<string, number> {
    const rows = this.db.prepare('SELECT id, modified FROM vuln_advisories').all() as { id: string; modified: number }[];
    return new Map(rows.map((r) => [r.id, r.modified]));
  }

  advisoryCount(): number {
    return this.db.prepare('SELECT count(*) FROM vuln_advisories').pluck().get() as number;
  }

  /** An index file (index/db.json, ...) as last served by the database, or null. */
  file(path: string): { body: Buffer; modified: number } | null {
    return this.fileStmt.get(path) ?? null;
  }

  /** The OSV file of one advisory, verbatim, with its modified time; null when unknown. */
  osvFile(id: string): { body: Buffer; modified: number } | null {
    return this.osvStmt.get(id) ?? null;
  }

  /** Stores the index files and the source's new state in one transaction (after every advisory is in). */
  finishSync(files: ReadonlyMap<string, Buffer>, state: SyncState, now: number): void {
    const putFile = this.db.prepare(
      'INSERT INTO vuln_files (path, body, modified) VALUES (?, ?, ?) ON CONFLICT(path) DO UPDATE SET body = excluded.body, modified = excluded.modified',
    );
    this.db.transaction(() => {
      for (const [path, body] of files) putFile.run(path, body, now);
      this.putState(state);
    })();
  }

  /** Records an attempt's result for a source without touching the data (a failed or unchanged sync). */
  putState(state: SyncState): void {
    this.db
      .prepare(
        `INSERT INTO vuln_sync (source, db_modified, last_attempt, last_success, last_result) VALUES (@source, @dbModified, @lastAttempt, @lastSuccess, @lastResult)
         ON CONFLICT(source) DO UPDATE SET db_modified = excluded.db_modified, last_attempt = excluded.last_attempt,
           last_success = excluded.last_success, last_result = excluded.last_result`,
      )
      .run(state);
  }

  state(source: string): SyncState | null {
    const row = this.db
      .prepare('SELECT source, db_modified AS dbModified, last_attempt AS lastAttempt, last_success AS lastSuccess, last_result AS lastResult FROM vuln_sync WHERE source = ?')
      .get(source) as SyncState | undefined;
    return row ?? null;
  }

  states(): SyncState[] {
    return this.db
      .prepare('SELECT source, db_modified AS dbModified, last_attempt AS lastAttempt, last_success AS lastSuccess, last_result AS lastResult FROM vuln_sync ORDER BY last_success DESC')
      .all() as SyncState[];
  }
}
