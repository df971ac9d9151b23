// Reads the audit trail (table `audit` of DATA_DIR/gomodgate.db) for `gomodgate audit`: rows filtered by module
// pattern, version, client address or CIDR, outcome and time range; per module@version groups; rows newer than
// an id (for `audit tail`). Every filter is turned into SQL that the existing indexes serve:
//   module pattern → audit_by_module_version_ts: `module = ?` plus a range over the pattern's literal prefix
//                    (`golang.org/x/*` → module >= 'golang.org/x/' AND module < 'golang.org/x0'), refined exactly
//                    by a registered SQL function with GOPRIVATE semantics;
//   version        → audit_by_module_version_ts together with a module, else audit_by_version_ts;
//   client         → audit_by_client_ts: an address by equality, an IPv4 CIDR by ranges over its dotted text
//                    prefixes (10.1.0.0/16 → client >= '10.1.' AND client < '10.1/'), refined exactly in JS;
//   outcome        → audit_by_outcome_ts;  since/until → audit_by_ts.
// Read-only: it never writes to the database.
import type { Db } from '../store/database.js';
import { parseDuration } from '../config/load.js';
import { GateError } from '../errors.js';
import { CidrSet, parseCidr, type Cidr } from '../cidr.js';
import { compileModulePatterns, patternLiteralPrefix, type ModulePatternSet } from '../policy/module-pattern.js';

import { AUDIT_OUTCOMES, type AuditRecord } from '../audit/audit-log.js';

export { AUDIT_OUTCOMES };

export interface AuditFilter {
  /** GOPRIVATE-style patterns: each matches a module and every module below it; `*`, `?`, `[...]` as in path.Match. */
  modules?: readonly string[];
  versions?: readonly string[];
  /** Addresses ("10.0.0.5", "fd00::5") or CIDRs ("10.0.0.0/8", "fd00::/16"). */
  clients?: readonly string[];
  outcomes?: readonly string[];
  /** ms since epoch, inclusive */
  since?: number;
  /** ms since epoch, exclusive */
  until?: number;
}

/** A stored audit row: what AuditLog wrote, with its id (outcome as text: older rows may predate a new one). */
export interface AuditRow extends Omit<AuditRecord, 'outcome'> {
  id: number;
  outcome: string;
}

export interface AuditGroup {
  module: string;
  version: string | null;
  clients: number;
  fetches: number; // client requests answered for this module@version (audit rows but prefetches)
  upstream: number; // fetches from upstream: client misses and the gateway's own prefetches
  bytes: number;
  first: number;
  last: number;
}

/** The audit columns as AuditRow names (for readers of the audit table that need their own WHERE). */
export const AUDIT_ROW_COLUMNS = `id, ts, client, orig_dst AS origDst, host, method, path, module, version, kind, outcome, status, bytes,
  duration_ms AS durationMs, sha256, upstream_url AS upstreamUrl, reason`;

// ---- time arguments

/** "24h", "30m", "7d", "90s" (before `now`) or an ISO date/time ("2026-11-24", "2026-11-24T10:00", with or without
 *  a zone; without one it is local time) → ms since epoch. Throws CONFIG_INVALID with what was expected. */
export function parseTimeArgument(value: string, now: number, flag: string): number {
  const v = value.trim();
  if (/^\d+(\.\d+)?\s*(ms|s|m|h|d)$/.test(v)) return now - Math.round(parseDuration(v)! * 1000);
  if (/^\d+(\.\d+)?\s*w$/.test(v)) return now - Math.round(Number(v.slice(0, -1)) * 7 * 86_400_000);
  if (/^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$/.test(v)) {
    // Date.parse treats a bare date as UTC but a date-time without zone as local: make a bare date local too.
    const t = Date.parse(/^\d{4}-\d{2}-\d{2}$/.test(v) ? `${v}T00:00` : v.replace(' ', 'T'));
    if (Number.isFinite(t)) return t;
  }
  throw new GateError('CONFIG_INVALID', `${flag} must be a duration before now such as 24h, 30m or 7d, or an ISO time such as 2026-11-24T10:00 (got "${value}")`);
}

// ---- module patterns (GOPRIVATE syntax): the policy's engine, src/policy/module-pattern.ts, so `audit --module`
// and `cache ls --module` accept and match exactly what GOPRIVATE and Go's path.Match do.

export { patternLiteralPrefix };

const patternCache = new Map<string, ModulePatternSet>();

/** The compiled set for one pattern or a comma-separated list; throws CONFIG_INVALID naming --module. */
function compiledPatterns(list: string): ModulePatternSet {
  let set = patternCache.get(list);
  if (!set) {
    try {
      set = compileModulePatterns([list]);
    } catch (err) {
      throw err instanceof GateError ? new GateError('CONFIG_INVALID', `--module ${err.message}`) : err;
    }
    if (patternCache.size > 1000) patternCache.clear();
    patternCache.set(list, set);
  }
  return set;
}

/** Whether `module` matches the GOPRIVATE-style `pattern` (the module itself or any module below it). */
export function moduleMatchesPattern(pattern: string, module: string): boolean {
  return compiledPatterns(pattern.replace(/\/+$/, '')).matches(module);
}

/** The smallest string greater than every string starting with `prefix` (null when there is none). */
export function prefixUpperBound(prefix: string): string | null {
  for (let i = prefix.length - 1; i >= 0; i--) {
    const code = prefix.charCodeAt(i);
    if (code < 0xffff) return prefix.slice(0, i) + String.fromCharCode(code + 1);
  }
  return null;
}

/** Comma-separated or repeated GOPRIVATE-style patterns, trimmed and checked; throws CONFIG_INVALID on a bad glob. */
export function parseModulePatterns(values: readonly string[]): string[] {
  return values
    .flatMap((v) => v.split(','))
    .map((v) => v.trim().replace(/\/+$/, ''))
    .filter((v) => v !== '')
    .map((p) => {
      compiledPatterns(p); // throws on an invalid glob
      return p;
    });
}

// ---- client addresses and CIDRs: parsed and matched by src/cidr.ts (node:net BlockList)

function parseClientSelector(text: string): Cidr {
  const c = parseCidr(text);
  if (!c) throw new GateError('CONFIG_INVALID', `--client must be an address or a CIDR such as 10.0.0.5, 10.0.0.0/8 or fd00::/16 (got "${text}")`);
  return c;
}

const selectorCache = new Map<string, CidrSet>();

/** Whether `client` is one of the addresses or inside one of the CIDRs of a comma-separated list. */
export function clientMatches(list: string, client: string): boolean {
  let set = selectorCache.get(list);
  if (!set) {
    set = new CidrSet(list.split(',').map(parseClientSelector));
    if (selectorCache.size > 1000) selectorCache.clear();
    selectorCache.set(list, set);
  }
  return set.has(client);
}

/** Text ranges [lo, hi) of `client` that contain every address the selector matches; null = no useful range. */
function clientTextRanges(sel: Cidr): Array<[string, string]> | 'exact' | null {
  if (sel.family === 4) {
    if (sel.prefix === 32) return 'exact';
    // Only whole leading octets make one contiguous text range ("10.1.0.0/20" → "10.1." … "10.1/"); the rest of
    // the prefix is checked exactly by gmg_client_matches. (Several ranges, one per value of a partial octet,
    // make SQLite prefer a scan by time.) Below /8 there is no fixed octet: no range.
    const full = Math.floor(sel.prefix / 8);
    if (full === 0) return null;
    const octets = sel.address.split('.').map(Number);
    const head = octets.slice(0, full).map((o) => `${o}.`).join('');
    return [[head, prefixUpperBound(head)!]];
  }
  // IPv6 text is compressed (inet_ntop): with a /16 or longer the first group is fixed and written out first,
  // unless it is 0 (then the text starts with "::" or "0:").
  if (sel.prefix < 16) return null;
  const g = parseInt(canonicalIpv6(sel.address).split(':')[0] || '0', 16);
  if (g !== 0) {
    const p = `${g.toString(16)}:`;
    return [[p, prefixUpperBound(p)!]];
  }
  return [['::', prefixUpperBound('::')!], ['0:', prefixUpperBound('0:')!]];
}

/** "fd00:0:0::5" → "fd00::5", the compressed form sockets report (RFC 5952). */
function canonicalIpv6(address: string): string {
  return new URL(`http://[${address.split('%')[0]}]/`).hostname.slice(1, -1);
}

// ---- the WHERE clause

interface Where {
  sql: string;
  params: unknown[];
  /** With `refineGroups`: the exact glob test, to put in HAVING of a query grouped by module. */
  having?: { sql: string; params: unknown[] };
}

/** Registers the SQL functions the filters use (idempotent per connection). */
function registerFunctions(db: Db): void {
  const marked = db as Db & { __gomodgateAuditFns?: boolean };
  if (marked.__gomodgateAuditFns) return;
  db.function('gmg_module_matches', { deterministic: true }, (patterns: unknown, module: unknown) =>
    typeof module === 'string' && compiledPatterns(String(patterns)).matches(module) ? 1 : 0,
  );
  db.function('gmg_client_matches', { deterministic: true }, (list: unknown, client: unknown) =>
    typeof client === 'string' && clientMatches(String(list), client) ? 1 : 0,
  );
  marked.__gomodgateAuditFns = true;
}

/**
 * SQL conditions for a filter. With `indexed` false every column is written `+col`, which keeps SQLite from
 * choosing a filter index (used by tail, whose `id > ?` range is always the narrowest). With `refineGroups`,
 * a glob's exact test is returned as `having` (for queries grouped by module) instead of being one more
 * condition on every row.
 */
export function auditWhere(filter: AuditFilter, indexed = true, refineGroups = false): Where {
  const col = (c: string) => (indexed ? c : `+${c}`);
  let having: Where['having'];
  const conds: string[] = [];
  const params: unknown[] = [];

  const modules = parseModulePatterns(filter.modules ?? []);
  const versions = (filter.versions ?? []).flatMap((v) => v.split(',')).map((v) => v.trim()).filter((v) => v !== '');
  const versionIn = (c: string) => `${c} IN (${versions.map(() => '?').join(', ')})`;
  if (modules.length) {
    // One OR term per index range; with versions, each term carries them: `module = ? AND version IN (…)` uses
    // both columns of audit_by_module_version_ts. After a range on module the version column cannot narrow the
    // index any more, so there it is written +version, which keeps SQLite from picking a version index instead.
    const terms: string[] = [];
    const addTerm = (sql: string, exact: boolean, ...values: unknown[]) => {
      terms.push(versions.length ? `(${sql} AND ${versionIn(exact ? col('version') : '+version')})` : `(${sql})`);
      params.push(...values, ...(versions.length ? versions : []));
    };
    let needsRefine = false;
    for (const p of modules) {
      const literal = patternLiteralPrefix(p);
      if (literal === p) {
        // no wildcard: the module itself, or one below it (p + "/…")
        const below = `${p}/`;
        addTerm(`${col('module')} = ?`, true, p);
        addTerm(`${col('module')} >= ? AND ${col('module')} < ?`, false, below, prefixUpperBound(below));
      } else {
        needsRefine = true;
        const hi = prefixUpperBound(literal);
        if (literal === '' || hi === null) addTerm(`${col('module')} IS NOT NULL`, false);
        else addTerm(`${col('module')} >= ? AND ${col('module')} < ?`, false, literal, hi);
      }
    }
    conds.push(`(${terms.join(' OR ')})`);
    if (needsRefine && refineGroups) {
      // once per module group instead of once per row: min() keeps SQLite from moving it back into WHERE
      having = { sql: 'gmg_module_matches(?, min(module))', params: [modules.join(',')] };
    } else if (needsRefine) {
      conds.push('gmg_module_matches(?, module)');
      params.push(modules.join(','));
    }
  } else if (versions.length) {
    conds.push(versionIn(col('version')));
    params.push(...versions);
  }

  const clients = (filter.clients ?? []).flatMap((c) => c.split(',')).map((c) => c.trim()).filter((c) => c !== '');
  if (clients.length) {
    const sels = clients.map(parseClientSelector);
    const exact: string[] = [];
    const ranges: Array<[string, string]> = [];
    let unbounded = false;
    for (const s of sels) {
      const r = clientTextRanges(s);
      if (r === 'exact') exact.push(s.address);
      else if (s.family === 6 && s.prefix === 128) exact.push(canonicalIpv6(s.address));
      else if (r === null) unbounded = true;
      else ranges.push(...r);
    }
    if (!unbounded) {
      const terms: string[] = [];
      for (const e of exact) {
        terms.push(`${col('client')} = ?`);
        params.push(e);
      }
      for (const [lo, hi] of ranges) {
        terms.push(`(${col('client')} >= ? AND ${col('client')} < ?)`);
        params.push(lo, hi);
      }
      conds.push(`(${terms.join(' OR ')})`);
    }
    if (ranges.length || unbounded) {
      conds.push('gmg_client_matches(?, client)');
      params.push(sels.map((s) => s.text).join(','));
    }
  }

  const outcomes = (filter.outcomes ?? []).flatMap((o) => o.split(',')).map((o) => o.trim()).filter((o) => o !== '');
  for (const o of outcomes) {
    if (!(AUDIT_OUTCOMES as readonly string[]).includes(o)) {
      throw new GateError('CONFIG_INVALID', `--outcome must be one of ${AUDIT_OUTCOMES.join(', ')} (got "${o}")`);
    }
  }
  if (outcomes.length) {
    conds.push(`${col('outcome')} IN (${outcomes.map(() => '?').join(', ')})`);
    params.push(...outcomes);
  }

  if (filter.since !== undefined) {
    conds.push(`${col('ts')} >= ?`);
    params.push(filter.since);
  }
  if (filter.until !== undefined) {
    conds.push(`${col('ts')} < ?`);
    params.push(filter.until);
  }
  return { sql: conds.length ? conds.join(' AND ') : '1', params, ...(having ? { having } : {}) };
}

// ---- queries

export class AuditQuery {
  constructor(private readonly db: Db) {
    registerFunctions(db);
  }

  /** SQL and parameters of `rows` (for EXPLAIN QUERY PLAN). */
  rowsSql(filter: AuditFilter, limit: number): Where {
    const w = auditWhere(filter);
    if (limit > 0) {
      return { sql: `SELECT ${AUDIT_ROW_COLUMNS} FROM audit WHERE ${w.sql} ORDER BY ts DESC, id DESC LIMIT ?`, params: [...w.params, limit] };
    }
    return { sql: `SELECT ${AUDIT_ROW_COLUMNS} FROM audit WHERE ${w.sql} ORDER BY ts, id`, params: w.params };
  }

  /** The latest `limit` matching rows, oldest first (limit 0: all of them). */
  rows(filter: AuditFilter, limit: number): AuditRow[] {
    const q = this.rowsSql(filter, limit);
    const rows = this.db.prepare(q.sql).all(...q.params) as AuditRow[];
    return limit > 0 ? rows.reverse() : rows;
  }

  /**
   * One page of matching rows, newest first: at most `limit`, strictly older than `before` (the last row of the
   * previous page) when given. A page costs the same at any depth (no OFFSET).
   * `byTime`: walk audit_by_ts from the newest row and stop at `limit` matches (the filter columns written +col),
   * instead of reading every row in a filter's index range and sorting them: the better plan when the filter is a
   * range (a glob, a CIDR) that matches many rows; the worse one when it matches almost none.
   */
  page(filter: AuditFilter, limit: number, before?: { ts: number; id: number }, byTime = false): AuditRow[] {
    const w = auditWhere(filter, !byTime);
    const keyset = before ? ' AND (ts < ? OR (ts = ? AND id < ?))' : '';
    const params = before ? [...w.params, before.ts, before.ts, before.id] : w.params;
    return this.db.prepare(`SELECT ${AUDIT_ROW_COLUMNS} FROM audit WHERE ${w.sql}${keyset} ORDER BY ts DESC, id DESC LIMIT ?`).all(...params, limit) as AuditRow[];
  }

  /** Every matching row, oldest first, without holding them all in memory. */
  iterate(filter: AuditFilter): IterableIterator<AuditRow> {
    const q = this.rowsSql(filter, 0);
    return this.db.prepare(q.sql).iterate(...q.params) as IterableIterator<AuditRow>;
  }

  groupsSql(filter: AuditFilter, limit: number): Where {
    const w = auditWhere(filter);
    const sql = `SELECT module, version, COUNT(DISTINCT client) AS clients, SUM(outcome <> 'prefetch') AS fetches,
        SUM(outcome IN ('miss', 'prefetch') AND joined = 0) AS upstream, COALESCE(SUM(bytes), 0) AS bytes, MIN(ts) AS first, MAX(ts) AS last
      FROM audit WHERE +module IS NOT NULL AND ${w.sql}
      GROUP BY +module, +version ORDER BY fetches DESC, module, version${limit > 0 ? ' LIMIT ?' : ''}`;
    return { sql, params: limit > 0 ? [...w.params, limit] : w.params };
  }

  /** Per module@version: distinct clients, requests, upstream fetches and bytes sent; most requested first. */
  groups(filter: AuditFilter, limit: number): AuditGroup[] {
    const q = this.groupsSql(filter, limit);
    return this.db.prepare(q.sql).all(...q.params) as AuditGroup[];
  }

  tailSql(filter: AuditFilter, afterId: number, upToId: number, max: number): Where {
    const w = auditWhere(filter, false);
    return {
      sql: `SELECT ${AUDIT_ROW_COLUMNS} FROM audit WHERE id > ? AND id <= ? AND ${w.sql} ORDER BY id LIMIT ?`,
      params: [afterId, upToId, ...w.params, max],
    };
  }

  /**
   * Matching rows with afterId < id <= upToId in id order (at most `max`), and the id to continue after: the last
   * row's when `max` rows came back, else upToId (rows in between did not match and need no second look).
   */
  after(filter: AuditFilter, afterId: number, upToId: number, max = 1000): { rows: AuditRow[]; next: number } {
    const q = this.tailSql(filter, afterId, upToId, max);
    const rows = this.db.prepare(q.sql).all(...q.params) as AuditRow[];
    return { rows, next: rows.length === max ? rows.at(-1)!.id : upToId };
  }

  /** The highest row id so far (0 when empty). */
  lastId(): number {
    return (this.db.prepare('SELECT COALESCE(MAX(id), 0) AS id FROM audit').get() as { id: number }).id;
  }

  /** EXPLAIN QUERY PLAN details of a statement, one string per plan step. */
  explain(q: Where): string[] {
    return (this.db.prepare(`EXPLAIN QUERY PLAN ${q.sql}`).all(...q.params) as Array<{ detail: string }>).map((r) => r.detail);
  }
}
