// Read-only questions over the stored vulnerability database and its matches (the contract shared by
// `gomodgate vulns` and the console): advisories with how many fetched versions and clients they affect, the
// affected fetches (advisory × module@version × the clients that fetched it), the advisories of one
// module@version, and one advisory's full record. All times are ms since epoch.
// Every query starts from vuln_matches (small) and reads the per-client counts the audit writer keeps
// (vuln_fetch_clients); only a time window (since/until) reaches the audit trail itself, through
// audit_by_module_version_ts, never by scanning it. Never writes.
import type { Statement } from 'better-sqlite3';
import { schemaVersion, type Db } from '../store/database.js';
import { GateError } from '../errors.js';
import { matchRanges, FETCH_KINDS, SERVED_OUTCOMES } from './vuln-match.js';
import type { OsvAdvisory } from './osv.js';

export interface AdvisorySummary {
  id: string;
  aliases: string[];
  summary: string;
  published: number | null;
  modified: number;
  withdrawn: number | null;
  /** Module paths the advisory names (sorted). */
  modules: string[];
  /** Distinct fetched module@versions it affects. */
  affectedVersions: number;
  /** Distinct clients that fetched one of them. */
  affectedClients: number;
  /** The latest fetch of an affected version, or null. */
  lastFetch: number | null;
}

export interface AffectedFetch {
  advisory: string;
  aliases: string[];
  module: string;
  version: string;
  /** Client addresses that fetched it (sorted). */
  clients: string[];
  /** Requests answered for it (.info, .mod and .zip each count). */
  fetches: number;
  firstFetch: number;
  lastFetch: number;
  /** The version that fixes it ("v0.17.0"), or null when there is none. */
  fixed: string | null;
}

export interface AdvisoryForVersion {
  id: string;
  aliases: string[];
  summary: string;
  fixed: string | null;
  withdrawn: number | null;
}

/** A stored advisory: what osv.ts parsed of it (without its ranges), and the OSV file as the database served it. */
export type AdvisoryRecord = Omit<OsvAdvisory, 'affected'> & { osv: string };

/** The schema version (src/store/database.ts) that has the vulnerability tables. */
const VULNDB_SCHEMA = 5;

/**
 * Throws STORE_IO with what to do when a read-only index predates the vulnerability tables (a gateway of an
 * older version wrote it and no newer one has opened it for writing yet).
 */
export function assertVulnSchema(db: Db): void {
  const version = schemaVersion(db);
  if (version < VULNDB_SCHEMA) {
    throw new GateError('STORE_IO', `the cache index predates the vulnerability database (schema ${version}): run \`gomodgate vulndb sync\` (or import) once, or restart the gateway with this version`);
  }
}

const IN_KINDS = FETCH_KINDS.map((k) => `'${k}'`).join(', ');
const IN_SERVED = SERVED_OUTCOMES.map((o) => `'${o}'`).join(', ');
/** The audit rows that brought a matched module@version to a client. */
// CROSS JOIN keeps vuln_matches the outer loop and the unary + keeps kind, outcome and client from choosing an
// index of their own (audit_by_outcome_ts would walk most of the table): each match is one index range.
const FETCH_JOIN = `CROSS JOIN audit a ON a.module = m.module AND a.version = m.version AND +a.kind IN (${IN_KINDS}) AND +a.outcome IN (${IN_SERVED})`;
/** Without a time window: the same counts, kept per client by the audit writer. */
const COUNTS_JOIN = 'JOIN vuln_fetch_clients c ON c.module = m.module AND c.version = m.version';

function likePattern(s: string): string {
  return `%${s.replace(/[\\%_]/g, (c) => '\\' + c)}%`;
}

function parseAliases(json: string): string[] {
  return JSON.parse(json) as string[];
}

/**
 * Advisories, most recently fetched first (never-fetched ones last), then by ID. `search` matches the ID, an
 * alias, the summary or a module path (substring, ASCII case-insensitive). Withdrawn ones only when asked.
 */
export function listAdvisories(db: Db, q: { search?: string; includeWithdrawn?: boolean; limit: number; offset: number }): AdvisorySummary[] {
  const where: string[] = [];
  const params: Record<string, unknown> = { limit: q.limit, offset: q.offset };
  if (!q.includeWithdrawn) where.push('v.withdrawn IS NULL');
  if (q.search !== undefined && q.search.trim() !== '') {
    params.search = likePattern(q.search.trim());
    where.push(`(v.id LIKE @search ESCAPE '\\' OR v.aliases LIKE @search ESCAPE '\\' OR v.summary LIKE @search ESCAPE '\\'
      OR EXISTS (SELECT 1 FROM vuln_ranges r WHERE r.advisory = v.id AND r.module LIKE @search ESCAPE '\\'))`);
  }
  const rows = db
    .prepare(
      `WITH agg AS (
         SELECT m.advisory, count(DISTINCT nullif(c.client, '')) AS clients, max(c.last_ts) AS last
         FROM vuln_matches m ${COUNTS_JOIN} GROUP BY m.advisory)
       SELECT v.id, v.aliases, v.summary, v.published, v.modified, v.withdrawn,
         (SELECT json_group_array(module) FROM (SELECT DISTINCT module FROM vuln_ranges WHERE advisory = v.id ORDER BY module)) AS modules,
         (SELECT count(*) FROM vuln_matches WHERE advisory = v.id) AS affectedVersions,
         coalesce(agg.clients, 0) AS affectedClients, agg.last AS lastFetch
       FROM vuln_advisories v LEFT JOIN agg ON agg.advisory = v.id
       ${where.length ? 'WHERE ' + where.join(' AND ') : ''}
       ORDER BY agg.last IS NULL, agg.last DESC, v.id
       LIMIT @limit OFFSET @offset`,
    )
    .all(params) as (Omit<AdvisorySummary, 'aliases' | 'modules'> & { aliases: string; modules: string })[];
  return rows.map((r) => ({ ...r, aliases: parseAliases(r.aliases), modules: JSON.parse(r.modules) as string[] }));
}

/**
 * Fetches of affected versions, one row per advisory × module@version, latest fetch first. `advisory` is an
 * ID or an alias (then withdrawn advisories are included; otherwise they are left out). `module` matches that
 * path and every module below it; `client` is one address; since (inclusive) / until (exclusive) bound the
 * fetches counted. A negative `limit` returns every row.
 */
export function affectedFetches(
  db: Db,
  q: { advisory?: string; module?: string; client?: string; since?: number; until?: number; limit: number },
): AffectedFetch[] {
  const where: string[] = [];
  const params: Record<string, unknown> = { limit: q.limit };
  if (q.advisory !== undefined) {
    params.advisory = q.advisory;
    where.push('m.advisory IN (SELECT id FROM vuln_advisories WHERE id = @advisory UNION SELECT advisory FROM vuln_aliases WHERE alias = @advisory)');
  } else {
    where.push('v.withdrawn IS NULL');
  }
  if (q.module !== undefined) {
    params.module = q.module.replace(/\/+$/, '');
    params.below = likePattern(params.module as string).slice(1, -1) + '/%';
    where.push(`(m.module = @module OR m.module LIKE @below ESCAPE '\\')`);
  }
  const windowed = q.since !== undefined || q.until !== undefined;
  if (q.client !== undefined) {
    params.client = q.client;
    where.push(windowed ? '+a.client = @client' : 'c.client = @client');
  }
  if (q.since !== undefined) {
    params.since = q.since;
    where.push('a.ts >= @since');
  }
  if (q.until !== undefined) {
    params.until = q.until;
    where.push('a.ts < @until');
  }
  const counts = windowed
    ? `json_group_array(DISTINCT a.client) AS clients, count(*) AS fetches, min(a.ts) AS firstFetch, max(a.ts) AS lastFetch
       FROM vuln_matches m JOIN vuln_advisories v ON v.id = m.advisory ${FETCH_JOIN}`
    : `json_group_array(c.client) AS clients, sum(c.fetches) AS fetches, min(c.first_ts) AS firstFetch, max(c.last_ts) AS lastFetch
       FROM vuln_matches m JOIN vuln_advisories v ON v.id = m.advisory ${COUNTS_JOIN}`;
  const rows = db
    .prepare(
      `SELECT m.advisory, v.aliases, m.module, m.version, m.fixed, ${counts}
       WHERE ${where.join(' AND ')}
       GROUP BY m.advisory, m.module, m.version
       ORDER BY lastFetch DESC, m.advisory, m.module, m.version
       LIMIT @limit`,
    )
    .all(params) as (Omit<AffectedFetch, 'aliases' | 'clients'> & { aliases: string; clients: string })[];
  return rows.map((r) => ({
    ...r,
    aliases: parseAliases(r.aliases),
    clients: (JSON.parse(r.clients) as (string | null)[]).filter((c): c is string => c !== null && c !== '').sort(),
  }));
}

const advisoriesForStatements = new WeakMap<Db, { ranges: Statement; get: Statement }>();

/** The advisories (withdrawn ones included, marked) whose ranges contain module@version, fetched or not, by ID. */
export function advisoriesFor(db: Db, module: string, version: string): AdvisoryForVersion[] {
  // asked by the policy for every .info/.mod/.zip while a vulnerability rule exists: statements prepared once per Db
  let stmts = advisoriesForStatements.get(db);
  if (!stmts) {
    stmts = {
      ranges: db.prepare('SELECT advisory, introduced, fixed, last_affected FROM vuln_ranges WHERE module = ?'),
      get: db.prepare('SELECT id, aliases, summary, withdrawn FROM vuln_advisories WHERE id = ?'),
    };
    advisoriesForStatements.set(db, stmts);
  }
  const matches = matchRanges(stmts.ranges.all(module) as Parameters<typeof matchRanges>[0], version);
  if (matches.size === 0) return [];
  const get = stmts.get;
  const out: AdvisoryForVersion[] = [];
  for (const [id, fixed] of matches) {
    const r = get.get(id) as { id: string; aliases: string; summary: string; withdrawn: number | null } | undefined;
    if (r) out.push({ id: r.id, aliases: parseAliases(r.aliases), summary: r.summary, fixed, withdrawn: r.withdrawn });
  }
  return out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/** One advisory by ID (or, failing that, by alias); null when unknown. */
export function getAdvisory(db: Db, id: string): AdvisoryRecord | null {
  const r = db
    .prepare(
      `SELECT id, aliases, summary, details, published, modified, withdrawn, osv FROM vuln_advisories
       WHERE id = @id OR id = (SELECT advisory FROM vuln_aliases WHERE alias = @id ORDER BY advisory LIMIT 1)
       ORDER BY id = @id DESC LIMIT 1`,
    )
    .get({ id }) as (Omit<AdvisoryRecord, 'aliases' | 'osv'> & { aliases: string; osv: Buffer }) | undefined;
  if (!r) return null;
  return { ...r, aliases: parseAliases(r.aliases), osv: r.osv.toString('utf8') };
}
