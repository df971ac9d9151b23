// What the console reads from gomodgate.db beyond the audit rows themselves (those come from AuditQuery, the
// same code as `gomodgate audit`): traffic per time bucket for the overview chart, the latest security events,
// module@version listings for search, per-client and per-module@version summaries, and the cached objects of a
// module@version (h1 hash, verification). Every statement is served by an index (see migration 6 in
// src/store/database.ts and bench/scenarios/console.ts, which checks the plans on 10 million rows). Read-only;
// the console runs it on a thread of its own (console-reads.ts).
import type { Db } from '../store/database.js';
import { AUDIT_ROW_COLUMNS, AuditQuery, auditWhere, type AuditFilter, type AuditRow } from '../tools/audit-query.js';
import { CONSOLE_OUTCOMES } from '../audit/audit-log.js';
import {
  advisoriesFor, affectedFetches, getAdvisory, listAdvisories, type AdvisoryForVersion, type AdvisoryRecord, type AdvisorySummary, type AffectedFetch,
} from '../vulndb/vuln-queries.js';

/** The outcomes the overview lists as security events, and the audit's names for them. */
export const SECURITY_OUTCOMES = ['tampered', 'denied', 'private', 'refused'] as const;

/** Outcomes that are not Go requests: connections and the console's own rows. */
const NOT_REQUESTS = ['passthrough', 'refused', 'prefetch', ...CONSOLE_OUTCOMES]; // prefetch: the gateway's own fetch ahead

export interface TrafficBucket {
  start: number;
  requests: number;
  hits: number; // hit + stale: served from the cache
  misses: number; // fetched upstream
  savedBytes: number; // bytes served from the cache: what did not cross the upstream link
}

export interface VersionListing {
  module: string;
  version: string;
  fetches: number;
  last: number;
}

export interface ClientSummary {
  client: string | null;
  fetches: number;
  first: number;
  last: number;
}

export interface ObjectFacts {
  kind: string;
  status: number;
  sha256: string | null;
  h1: string | null;
  size: number;
  storedAt: number;
}

export class ConsoleQueries {
  readonly audit: AuditQuery;

  constructor(private readonly db: Db) {
    this.audit = new AuditQuery(db); // also registers the SQL functions the module and client filters use
  }

  /** Requests per bucket of `bucketMs` in [since, until), every bucket present (zeros included). */
  traffic(since: number, until: number, bucketMs: number): TrafficBucket[] {
    const rows = this.db
      .prepare(
        `SELECT (ts - CAST(? AS INTEGER)) / CAST(? AS INTEGER) AS b, COUNT(*) AS requests, SUM(outcome IN ('hit', 'stale')) AS hits, SUM(outcome = 'miss') AS misses,
           SUM(CASE WHEN outcome IN ('hit', 'stale') THEN bytes ELSE 0 END) AS savedBytes
         FROM audit
         WHERE ts >= ? AND ts < ? AND outcome NOT IN (${NOT_REQUESTS.map(() => '?').join(', ')})
         GROUP BY b`,
      )
      .all(since, bucketMs, since, until, ...NOT_REQUESTS) as Array<{ b: number; requests: number; hits: number; misses: number; savedBytes: number }>;
    const n = Math.ceil((until - since) / bucketMs);
    const out: TrafficBucket[] = Array.from({ length: n }, (_, i) => ({ start: since + i * bucketMs, requests: 0, hits: 0, misses: 0, savedBytes: 0 }));
    for (const r of rows) {
      const b = out[Math.floor(r.b)];
      if (b) Object.assign(b, { requests: r.requests, hits: r.hits ?? 0, misses: r.misses ?? 0, savedBytes: r.savedBytes ?? 0 });
    }
    return out;
  }

  /** The latest `limit` rows with a security outcome, newest first: one indexed read per outcome, merged. */
  securityEvents(limit: number): AuditRow[] {
    const all = SECURITY_OUTCOMES.flatMap((o) => this.audit.page({ outcomes: [o] }, limit));
    return all.sort((a, b) => b.ts - a.ts || b.id - a.id).slice(0, limit);
  }

  /**
   * Module@version pairs seen in the audit, in path order, with their requests and last request, from an index
   * alone: by module pattern (GOPRIVATE syntax, as `audit --module`), optionally with a version; or by version
   * only, which lists the modules whose zip of that version was downloaded (audit_zips_by_version_module).
   */
  versions(filter: { modules?: string[]; versions?: string[] }, limit: number, offset: number): VersionListing[] {
    if (!filter.modules?.length) {
      const versions = filter.versions ?? [];
      return this.db
        .prepare(
          `SELECT module, version, COUNT(*) AS fetches, MAX(ts) AS last FROM audit
           WHERE version IN (${versions.map(() => '?').join(', ')}) AND kind = 'zip' AND module IS NOT NULL
           GROUP BY version, module ORDER BY version, module LIMIT ? OFFSET ?`,
        )
        .all(...versions, limit, offset) as VersionListing[];
    }
    // the glob's exact test once per module@version group, not once per row of the index range
    const w = auditWhere({ modules: filter.modules, versions: filter.versions }, true, true);
    const sql = `SELECT module, version, COUNT(*) AS fetches, MAX(ts) AS last FROM audit
      WHERE ${w.sql} AND version IS NOT NULL GROUP BY module, version ${w.having ? `HAVING ${w.having.sql}` : ''}
      ORDER BY module, version LIMIT ? OFFSET ?`;
    return this.db.prepare(sql).all(...w.params, ...(w.having?.params ?? []), limit, offset) as VersionListing[];
  }

  /** Who fetched module@version: per client, most recent first. */
  clientsOf(module: string, version: string, limit: number): ClientSummary[] {
    return this.db
      .prepare(
        `SELECT client, COUNT(*) AS fetches, MIN(ts) AS first, MAX(ts) AS last FROM audit
         WHERE module = ? AND version = ? GROUP BY client ORDER BY last DESC LIMIT ?`,
      )
      .all(module, version, limit) as ClientSummary[];
  }

  /** What one client fetched: per module@version, most recent first. */
  versionsOfClient(client: string, limit: number): Array<VersionListing & { first: number }> {
    return this.db
      .prepare(
        `SELECT module, version, COUNT(*) AS fetches, MIN(ts) AS first, MAX(ts) AS last FROM audit
         WHERE client = ? AND module IS NOT NULL GROUP BY module, version ORDER BY last DESC LIMIT ?`,
      )
      .all(client, limit) as Array<VersionListing & { first: number }>;
  }

  /** The cache's objects of module@version (.info, .mod, .zip): hashes and whether they were verified. */
  objects(module: string, version: string): ObjectFacts[] {
    return this.db
      .prepare(`SELECT kind, status, sha256, h1, size, stored_at AS storedAt FROM objects WHERE module = ? AND version = ? ORDER BY kind`)
      .all(module, version) as ObjectFacts[];
  }

  /** Every request for exactly module@version, newest first, one page (keyset: older than `before`). */
  fetchesOf(module: string, version: string, limit: number, before?: { ts: number; id: number }): AuditRow[] {
    const keyset = before ? ' AND (ts < ? OR (ts = ? AND id < ?))' : '';
    return this.db
      .prepare(`SELECT ${AUDIT_ROW_COLUMNS} FROM audit WHERE module = ? AND version = ?${keyset} ORDER BY ts DESC, id DESC LIMIT ?`)
      .all(module, version, ...(before ? [before.ts, before.ts, before.id] : []), limit) as AuditRow[];
  }

  // ---- the vulnerability database: the query API shared with `gomodgate vulns` (src/vulndb/vuln-queries.ts)

  advisories(q: { search?: string; includeWithdrawn?: boolean; limit: number; offset: number }): AdvisorySummary[] {
    return listAdvisories(this.db, q);
  }

  advisory(id: string): AdvisoryRecord | null {
    return getAdvisory(this.db, id);
  }

  /** Which clients fetched a version the advisory affects, and when. */
  affected(q: { advisory?: string; module?: string; client?: string; since?: number; until?: number; limit: number }): AffectedFetch[] {
    return affectedFetches(this.db, q);
  }

  advisoriesOf(module: string, version: string): AdvisoryForVersion[] {
    return advisoriesFor(this.db, module, version);
  }

  /** Groups by module@version, the most fetched first (`gomodgate audit --group --limit N`). */
  groups(filter: AuditFilter, limit: number): ReturnType<AuditQuery['groups']> {
    return this.audit.groups(filter, limit);
  }

  /**
   * Rows newest first, one page (see AuditQuery.page). An exact client, an outcome, or a module with a version
   * have an index whose rows come in time order; a glob, a CIDR or a bare module path read in time order
   * instead (audit_by_ts), stopping at the page's last row (bench/scenarios/console.ts measured both).
   */
  rows(filter: AuditFilter, limit: number, before?: { ts: number; id: number }): AuditRow[] {
    const list = (v: readonly string[] | undefined) => (v ?? []).flatMap((x) => x.split(',')).map((x) => x.trim()).filter(Boolean);
    const clients = list(filter.clients);
    const exactClient = clients.length > 0 && clients.every((c) => !c.includes('/'));
    const outcomes = list(filter.outcomes).length > 0;
    const moduleVersion = list(filter.modules).length > 0 && list(filter.versions).length > 0 && list(filter.modules).every((m) => !/[*?[\\]/.test(m));
    const ranged = list(filter.modules).length > 0 || clients.length > 0;
    return this.audit.page(filter, limit, before, ranged && !exactClient && !outcomes && !moduleVersion);
  }
}
