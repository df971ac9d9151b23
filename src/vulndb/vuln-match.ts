// Which fetched module@versions each advisory affects, kept as a table (vuln_matches) rather than computed
// by scanning the audit trail: the audit writer notes each module@version the first time it is served
// (vuln_fetched) and matches that one version against the module's ranges; storing an advisory re-matches
// its modules' fetched versions (vuln-store.ts). Every lookup is by (module) or (module, version) index.
// Owns: the contents of vuln_fetched, vuln_fetch_clients and vuln_matches. Must be called inside the caller's transaction; never
// reads the audit table.
import type { Db } from '../store/database.js';
import { isValidSemver } from '../goproxy/semver.js';
import { intervalContains, type VersionInterval } from './osv.js';

/** The kinds of request that bring a module version in (a sumdb lookup or a list does not). */
export const FETCH_KINDS: readonly string[] = ['info', 'mod', 'zip'];
/** The audit outcomes of a served answer. */
export const SERVED_OUTCOMES: readonly string[] = ['hit', 'miss', 'stale'];

interface RangeRow {
  advisory: string;
  introduced: string | null;
  fixed: string | null;
  last_affected: string | null;
}

/** For each advisory whose ranges contain `version`: the fix of the first matching range. */
export function matchRanges(rows: readonly RangeRow[], version: string): Map<string, string | null> {
  const out = new Map<string, string | null>();
  for (const r of rows) {
    if (out.has(r.advisory)) continue;
    const iv: VersionInterval = { introduced: r.introduced, fixed: r.fixed, lastAffected: r.last_affected };
    if (intervalContains(iv, version)) out.set(r.advisory, r.fixed);
  }
  return out;
}

/** One served row, as the audit writer saw it. */
export interface ServedVersion {
  module: string;
  version: string;
  client: string | null;
  ts: number;
}

/**
 * Returns a function the audit writer calls with the served rows of one batch, in the order they were recorded,
 * inside its insert transaction: the rows are counted per client (vuln_fetch_clients), and the first time a
 * module@version is seen it is remembered (with the time of its first row) and matched against the stored
 * advisories. Rows of one module@version and client are written together (fetches + n, first and last time
 * over the group), which leaves the tables exactly as one write per row would: the same object hit again and
 * again costs two primary-key writes per batch, not per row.
 */
export function fetchedVersionRecorder(db: Db): (served: readonly ServedVersion[]) => void {
  const insert = db.prepare('INSERT OR IGNORE INTO vuln_fetched (module, version, first_ts) VALUES (?, ?, ?)');
  const count = db.prepare(
    `INSERT INTO vuln_fetch_clients (module, version, client, fetches, first_ts, last_ts) VALUES (@module, @version, @client, @n, @first, @last)
     ON CONFLICT(module, version, client) DO UPDATE SET fetches = fetches + excluded.fetches,
       first_ts = min(first_ts, excluded.first_ts), last_ts = max(last_ts, excluded.last_ts)`,
  );
  const ranges = db.prepare('SELECT advisory, introduced, fixed, last_affected FROM vuln_ranges WHERE module = ?');
  const addMatch = db.prepare('INSERT OR IGNORE INTO vuln_matches (advisory, module, version, fixed) VALUES (?, ?, ?, ?)');
  return (served) => {
    // module@version -> the time of its first row; module@version@client -> its count and time span
    const versions = new Map<string, { module: string; version: string; ts: number }>();
    const clients = new Map<string, { module: string; version: string; client: string; n: number; first: number; last: number }>();
    for (const r of served) {
      if (!isValidSemver(r.version)) continue;
      const mv = `${r.module}@${r.version}`;
      if (!versions.has(mv)) versions.set(mv, { module: r.module, version: r.version, ts: r.ts });
      const client = r.client ?? '';
      const key = `${mv} ${client}`;
      const c = clients.get(key);
      if (c) {
        c.n++;
        c.first = Math.min(c.first, r.ts);
        c.last = Math.max(c.last, r.ts);
      } else {
        clients.set(key, { module: r.module, version: r.version, client, n: 1, first: r.ts, last: r.ts });
      }
    }
    for (const c of clients.values()) count.run(c);
    for (const { module, version, ts } of versions.values()) {
      if (insert.run(module, version, ts).changes === 0) continue;
      const matches = matchRanges(ranges.all(module) as RangeRow[], version);
      for (const [advisory, fixed] of matches) addMatch.run(advisory, module, version, fixed);
    }
  };
}

/** Recomputes vuln_matches of one advisory against every fetched version of its modules (call in a transaction). */
export function rematchAdvisory(db: Db, advisory: string): void {
  db.prepare('DELETE FROM vuln_matches WHERE advisory = ?').run(advisory);
  const rows = db.prepare('SELECT advisory, introduced, fixed, last_affected, module FROM vuln_ranges WHERE advisory = ?').all(advisory) as (RangeRow & { module: string })[];
  const modules = [...new Set(rows.map((r) => r.module))];
  const versions = db.prepare('SELECT version FROM vuln_fetched WHERE module = ?').pluck();
  const addMatch = db.prepare('INSERT OR IGNORE INTO vuln_matches (advisory, module, version, fixed) VALUES (?, ?, ?, ?)');
  for (const module of modules) {
    const own = rows.filter((r) => r.module === module);
    for (const version of versions.all(module) as string[]) {
      const m = matchRanges(own, version);
      if (m.has(advisory)) addMatch.run(advisory, module, version, m.get(advisory) ?? null);
    }
  }
}
