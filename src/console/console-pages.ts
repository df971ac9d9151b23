// The console's pages as HTML bodies, from data already read (console-queries.ts, AuditQuery): overview,
// search, module@version, client, events, sign-in. Pure: no database, no request; console-server.ts reads the
// data and frames the body (console-html.ts escapes every value).
import type { AuditRow } from '../tools/audit-query.js';
import type { UpstreamHealth } from '../admin/metrics.js';
import type { ModuleClassification } from '../policy/module-policy.js';
import { formatDuration, formatTime } from '../tools/audit-format.js';
import type { ClientSummary, ObjectFacts, TrafficBucket, VersionListing } from './console-queries.js';
import type { AdvisoryForVersion, AdvisoryRecord, AdvisorySummary, AffectedFetch } from '../vulndb/vuln-queries.js';
import {
  bytes, clientLink, escapeHtml, exportLinks, h, link, moduleLink, olderLink, outcomeBadge, pager, raw, table, tableRow, time, trafficChart, url,
  type Fragment,
} from './console-html.js';

export const PAGE_SIZE = 50;

function lastOf(rows: readonly AuditRow[]): { ts: number; id: number } | undefined {
  const r = rows.at(-1);
  return r ? { ts: r.ts, id: r.id } : undefined;
}

function auditRowCells(r: Pick<AuditRow, 'ts' | 'client' | 'module' | 'version' | 'host' | 'path' | 'kind' | 'outcome' | 'status' | 'bytes' | 'reason'>): Fragment[] {
  return [time(r.ts), clientLink(r.client), r.module ? moduleLink(r.module, r.version) : `${r.host ?? ''}${r.path ?? ''}` || '-', r.kind ?? '-', outcomeBadge(r.outcome), r.status ?? '-', bytes(r.bytes), r.reason ?? ''];
}

/** One audit row as the <tr> of the events table (the live tail sends exactly this). */
export function auditRowHtml(r: Parameters<typeof auditRowCells>[0]): string {
  return tableRow(auditRowCells(r));
}

export function auditRowsTable(rows: readonly AuditRow[], opts: { id?: string; empty?: string } = {}): string {
  return table(['Time', 'Client', 'Module@version', 'Kind', 'Outcome', 'Status', 'Bytes', 'Reason'], rows.map(auditRowCells), { empty: 'No matching audit rows.', ...opts });
}

// ---- sign-in

export function signInBody(csrf: string, message: string | null, ssoHint: boolean): string {
  return `${message ? `<p class="error" role="alert">${h(message)}</p>` : ''}
<form method="post" action="/sign-in" class="sign-in">
<input type="hidden" name="csrf" value="${escapeHtml(csrf)}">
<label>User <input name="user" autocomplete="username" required maxlength="64"></label>
<label>Password <input name="password" type="password" autocomplete="current-password" required maxlength="1024"></label>
<button type="submit">Sign in</button>
</form>
<p class="hint">Read-only access for the users an administrator added with <code>gomodgate console add-user</code>${ssoHint ? ', or through the single sign-on proxy' : ''}.</p>`;
}

// ---- overview

export interface OverviewData {
  range: '24h' | '7d';
  buckets: TrafficBucket[];
  bucketLabel: (start: number) => string;
  labelEvery: number;
  upstreams: UpstreamHealth[];
  events: AuditRow[];
}

export function overviewBody(d: OverviewData): string {
  const total = d.buckets.reduce((a, b) => ({ requests: a.requests + b.requests, hits: a.hits + b.hits, misses: a.misses + b.misses, saved: a.saved + b.savedBytes }), { requests: 0, hits: 0, misses: 0, saved: 0 });
  const ratio = total.hits + total.misses ? `${((100 * total.hits) / (total.hits + total.misses)).toFixed(1)} %` : '-';
  const ranges = (['24h', '7d'] as const).map((r) => (r === d.range ? `<strong>${r}</strong>` : link(url('/', { range: r }), r).html)).join(' · ');
  return `<p class="ranges">Last ${ranges}</p>
<dl class="cards">
<div><dt>Requests</dt><dd id="stat-requests">${total.requests}</dd></div>
<div><dt>Hit ratio</dt><dd id="stat-ratio">${ratio}</dd></div>
<div><dt>Fetched upstream</dt><dd>${total.misses}</dd></div>
<div><dt>Bytes saved</dt><dd>${h(bytes(total.saved))}</dd></div>
</dl>
${trafficChart(d.buckets, d.labelEvery, d.bucketLabel)}
<h2>Upstream health</h2>
${table(
  ['Upstream', 'Requests', 'Failures', 'Last status', 'Last answer', 'Took'],
  d.upstreams.map((u) => [u.host, u.requests, u.failures, raw(`<span class="${u.lastStatus === 'error' || u.lastStatus.startsWith('5') ? 'bad' : 'good'}">${escapeHtml(u.lastStatus)}</span>`), time(u.lastAt), formatDuration(Math.round(u.lastSeconds * 1000))]),
  { empty: 'No upstream was asked since the gateway started.' },
)}
<h2>Latest security events</h2>
<p class="hint">Tampered (refused by the checksum database), denied (policy), private (kept from public services) and refused connections. ${link(url('/events', { outcome: 'tampered,denied,private,refused' }), 'All of them').html}</p>
${auditRowsTable(d.events, { id: 'security-events', empty: 'No security events.' })}`;
}

// ---- search

export interface SearchData {
  module: string;
  version: string;
  error: string | null;
  results: VersionListing[] | null;
  pageNo: number;
}

export function searchBody(d: SearchData): string {
  const form = `<form method="get" action="/search" class="search">
<label>Module path <input name="module" value="${escapeHtml(d.module)}" placeholder="golang.org/x/* (GOPRIVATE globs)"></label>
<label>Version <input name="version" value="${escapeHtml(d.version)}" placeholder="v1.2.3"></label>
<button type="submit">Search</button></form>`;
  if (d.error) return `${form}<p class="error" role="alert">${h(d.error)}</p>`;
  if (!d.results) return `${form}<p class="hint">A module path matches that module and every module below it; <code>*</code>, <code>?</code> and <code>[...]</code> work as in GOPRIVATE.</p>`;
  const params = { module: d.module, version: d.version };
  return `${form}
${table(['Module@version', 'Requests', 'Last fetched'], d.results.map((r) => [moduleLink(r.module, r.version), r.fetches, time(r.last)]), { id: 'results', empty: 'Nothing matches.' })}
${pager('/search', params, d.pageNo, d.results.length === PAGE_SIZE)}
${exportLinks('/export/groups', { module: d.module, version: d.version })}`;
}

// ---- module@version


export interface ModuleData {
  module: string;
  version: string;
  objects: ObjectFacts[];
  clients: ClientSummary[];
  rows: AuditRow[];
  policy: ModuleClassification;
  advisories: AdvisoryForVersion[];
}

function policyText(p: ModuleClassification): Fragment {
  switch (p.kind) {
    case 'private':
      return raw(`<span class="bad">private</span> (matches ${escapeHtml(p.pattern)}): never sent to public services`);
    case 'denied':
      return raw(`<span class="bad">denied</span>${p.rule === null ? ' by the default' : ` by rule ${p.rule + 1}`}: ${escapeHtml(p.reason)}`);
    case 'allowed':
      return raw(`<span class="good">allowed</span>${p.checkSumdb ? ', subject to checksum-database verification' : ', exempt from checksum-database verification (--nosumdb)'}`);
  }
}

export function moduleBody(d: ModuleData, before: string | null): string {
  const adv = table(
    ['Advisory', 'Aliases', 'Summary', 'Fixed in'],
    d.advisories.map((a) => [
      raw(`${link(url('/advisory', { id: a.id }), a.id).html}${a.withdrawn === null ? '' : ' <span class="hint">(withdrawn)</span>'}`),
      a.aliases.join(', '),
      a.summary,
      a.fixed ?? 'no fix',
    ]),
    { id: 'advisories', empty: 'No known advisory affects this version (vulnerability database: gomodgate vulndb sync).' },
  );
  return `<p class="subject path">${h(`${d.module}@${d.version}`)}</p>
<h2>Policy decision</h2><p id="policy">${h(policyText(d.policy))}</p>
<h2>Advisories</h2>${adv}
<h2>Cached objects</h2>
${table(
  ['Kind', 'Status', 'Size', 'SHA-256', 'h1 hash', 'Verification', 'Stored'],
  d.objects.map((o) => [o.kind, o.status, bytes(o.size), raw(`<code>${escapeHtml(o.sha256 ?? '-')}</code>`), raw(`<code>${escapeHtml(o.h1 ?? '-')}</code>`), o.h1 ? raw('<span class="good">matches the checksum database</span>') : o.kind === 'info' ? 'not applicable' : 'not checked', time(o.storedAt)]),
  { id: 'objects', empty: 'Not in the cache (never fetched, evicted, or refused).' },
)}
<h2>Clients</h2>
${table(['Client', 'Requests', 'First', 'Last'], d.clients.map((c) => [clientLink(c.client), c.fetches, time(c.first), time(c.last)]), { id: 'clients', empty: 'No client fetched it.' })}
<h2>Every fetch</h2>
${auditRowsTable(d.rows, { id: 'fetches' })}
${olderLink('/module', { path: d.module, version: d.version }, lastOf(d.rows), d.rows.length === PAGE_SIZE)}${before ? `<p class="pager">${link(url('/module', { path: d.module, version: d.version }), 'Newest').html}</p>` : ''}
${exportLinks('/export/rows', { module: d.module, version: d.version })}`;
}

// ---- client

export function clientBody(address: string, versions: Array<VersionListing & { first: number }>, rows: AuditRow[]): string {
  return `<p class="subject">${h(address)}</p>
<h2>Module versions fetched</h2>
${table(['Module@version', 'Requests', 'First', 'Last'], versions.map((v) => [moduleLink(v.module, v.version), v.fetches, time(v.first), time(v.last)]), { id: 'client-versions', empty: 'This address fetched no module.' })}
<h2>Latest requests</h2>
${auditRowsTable(rows, { id: 'client-rows' })}
${olderLink('/client', { address }, lastOf(rows), rows.length === PAGE_SIZE)}
${exportLinks('/export/rows', { client: address })}`;
}

// ---- events

export interface EventFilterText {
  module: string;
  version: string;
  client: string;
  outcome: string;
  since: string;
}

export function eventsBody(f: EventFilterText, rows: AuditRow[] | null, error: string | null, outcomes: readonly string[]): string {
  const params = { ...f };
  const form = `<form method="get" action="/events" class="filters">
<label>Module <input name="module" value="${escapeHtml(f.module)}" placeholder="golang.org/x/*"></label>
<label>Version <input name="version" value="${escapeHtml(f.version)}"></label>
<label>Client <input name="client" value="${escapeHtml(f.client)}" placeholder="10.1.0.0/16"></label>
<label>Outcome <input name="outcome" value="${escapeHtml(f.outcome)}" placeholder="${escapeHtml(outcomes.slice(0, 4).join(','))}" list="outcomes"></label>
<datalist id="outcomes">${outcomes.map((o) => `<option value="${escapeHtml(o)}">`).join('')}</datalist>
<label>Since <input name="since" value="${escapeHtml(f.since)}" placeholder="24h or 2026-11-24"></label>
<button type="submit">Filter</button></form>`;
  if (error) return `${form}<p class="error" role="alert">${h(error)}</p>`;
  return `${form}
<p class="live"><span id="live-state" data-stream="${escapeHtml(url('/events/stream', { module: f.module, version: f.version, client: f.client, outcome: f.outcome }))}">Live: connecting…</span> New rows appear at the top as the gateway records them.</p>
${auditRowsTable(rows ?? [], { id: 'events', empty: '' })}
${olderLink('/events', params, rows ? lastOf(rows) : undefined, (rows?.length ?? 0) === PAGE_SIZE)}
${exportLinks('/export/rows', params)}`;
}

// ---- advisories

export function advisoriesBody(search: string, withdrawn: boolean, list: AdvisorySummary[], pageNo: number): string {
  const params = { search, withdrawn: withdrawn ? '1' : '' };
  return `<form method="get" action="/advisories" class="search">
<label>Advisory, alias, summary or module <input name="search" value="${escapeHtml(search)}" placeholder="GO-2024-… or CVE-…"></label>
<button type="submit">Search</button></form>
${table(
  ['Advisory', 'Aliases', 'Summary', 'Modules', 'Affected versions fetched', 'Clients', 'Last fetch'],
  list.map((a) => [
    raw(`${link(url('/advisory', { id: a.id }), a.id).html}${a.withdrawn === null ? '' : ' <span class="hint">(withdrawn)</span>'}`),
    a.aliases.join(', '),
    a.summary,
    raw(a.modules.map((m) => `<span class="path">${escapeHtml(m)}</span>`).join('<br>')),
    a.affectedVersions,
    a.affectedClients,
    time(a.lastFetch),
  ]),
  { id: 'advisory-list', empty: 'No advisory matches (the database is filled by gomodgate vulndb sync or import).' },
)}
${pager('/advisories', params, pageNo, list.length === PAGE_SIZE)}
<p>${withdrawn ? link(url('/advisories', { search }), 'Hide withdrawn advisories').html : link(url('/advisories', { search, withdrawn: '1' }), 'Show withdrawn advisories too').html}</p>`;
}

export function advisoryBody(a: AdvisoryRecord, affected: AffectedFetch[], limit: number): string {
  const clients = new Map<string, { versions: Set<string>; first: number; last: number }>();
  for (const f of affected) {
    for (const c of f.clients) {
      const e = clients.get(c) ?? { versions: new Set<string>(), first: f.firstFetch, last: f.lastFetch };
      e.versions.add(`${f.module}@${f.version}`);
      e.first = Math.min(e.first, f.firstFetch);
      e.last = Math.max(e.last, f.lastFetch);
      clients.set(c, e);
    }
  }
  const byClient = [...clients.entries()].sort((x, y) => y[1].last - x[1].last);
  return `<p class="subject">${h(a.summary)}</p>
${a.withdrawn === null ? '' : `<p class="error">Withdrawn ${h(formatTime(a.withdrawn))}: it no longer counts for policy.</p>`}
<dl class="facts"><dt>Aliases</dt><dd>${h(a.aliases.join(', ') || '-')}</dd><dt>Published</dt><dd>${h(time(a.published))}</dd><dt>Modified</dt><dd>${h(time(a.modified))}</dd></dl>
<h2>Clients that fetched an affected version</h2>
${table(['Client', 'Affected versions', 'First fetch', 'Last fetch'], byClient.map(([c, e]) => [clientLink(c), raw([...e.versions].sort().map((v) => `<span class="path">${escapeHtml(v)}</span>`).join('<br>')), time(e.first), time(e.last)]), { id: 'affected-clients', empty: 'No client fetched an affected version.' })}
<h2>Affected fetches</h2>
${table(
  ['Module@version', 'Clients', 'Requests', 'First fetch', 'Last fetch', 'Fixed in'],
  affected.map((f) => [moduleLink(f.module, f.version), raw(f.clients.map((c) => clientLink(c)).map((l) => h(l)).join(', ')), f.fetches, time(f.firstFetch), time(f.lastFetch), f.fixed ?? 'no fix']),
  { id: 'affected-fetches', empty: 'No fetched version is affected.' },
)}
${affected.length === limit ? `<p class="hint">Showing the latest ${limit} affected module@versions.</p>` : ''}
${exportLinks('/export/affected', { advisory: a.id })}
<details><summary>Details</summary><p class="details">${h(a.details)}</p></details>`;
}

export function errorBody(message: string): string {
  return `<p class="error" role="alert">${h(message)}</p><p>${link('/', 'Overview').html}</p>`;
}

export { formatTime };
