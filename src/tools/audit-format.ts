// Renders audit rows, groups and affected fetches (`gomodgate vulns`) for people (an aligned table) and for tools
// (JSON, JSON lines, CSV with RFC 4180 quoting). Pure: strings in, strings out; it never reads the database or writes to a stream.
import type { AuditGroup, AuditRow } from './audit-query.js';

export type OutputFormat = 'table' | 'json' | 'csv';

// ---- cells

/** 1536 → "1.5 KiB"; below 1024 the plain byte count. */
export function humanBytes(n: number | null | undefined): string {
  if (n === null || n === undefined) return '-';
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[u]}`;
}

/** ms since epoch → "2026-11-24T10:00:01Z" (UTC, whole seconds). */
export function formatTime(ts: number | null | undefined): string {
  if (ts === null || ts === undefined) return '-';
  return new Date(ts).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '-';
  return ms < 10_000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`;
}

/** What the row was about: module@version, the module (lists), or host + path (tiles, connections). */
export function subjectOf(row: Pick<AuditRow, 'module' | 'version' | 'host' | 'path'>): string {
  if (row.module) return row.version ? `${row.module}@${row.version}` : row.module;
  if (row.path) return `${row.host ?? ''}${row.path}`;
  return row.host ?? '-';
}

// ---- aligned tables

export interface Column {
  title: string;
  align?: 'left' | 'right';
}

function pad(s: string, width: number, align: 'left' | 'right' | undefined): string {
  return align === 'right' ? s.padStart(width) : s.padEnd(width);
}

/** Columns separated by two spaces, each as wide as its widest cell; no trailing blanks. */
export function formatTable(columns: readonly Column[], rows: readonly (readonly string[])[]): string {
  const widths = columns.map((c) => c.title.length);
  for (const r of rows) r.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  const line = (cells: readonly string[]) => cells.map((cell, i) => pad(cell, widths[i]!, columns[i]!.align)).join('  ').trimEnd() + '\n';
  return line(columns.map((c) => c.title)) + rows.map(line).join('');
}

export const AUDIT_TABLE_COLUMNS: readonly Column[] = [
  { title: 'TIME' },
  { title: 'CLIENT' },
  { title: 'MODULE@VERSION' },
  { title: 'KIND' },
  { title: 'OUTCOME' },
  { title: 'STATUS', align: 'right' },
  { title: 'BYTES', align: 'right' },
  { title: 'DURATION', align: 'right' },
];

export function auditTableCells(r: AuditRow): string[] {
  return [
    formatTime(r.ts),
    r.client ?? '-',
    subjectOf(r),
    r.kind ?? '-',
    r.outcome,
    r.status === null ? '-' : String(r.status),
    humanBytes(r.bytes),
    formatDuration(r.durationMs),
  ];
}

export function auditRowsTable(rows: readonly AuditRow[]): string {
  return formatTable(AUDIT_TABLE_COLUMNS, rows.map(auditTableCells));
}

/**
 * A table printed a few lines at a time (audit tail): columns start at fixed widths and only ever grow, so
 * earlier lines stay where they were printed.
 */
export class StreamingTable {
  private readonly widths: number[];
  private headerDone = false;

  constructor(private readonly columns: readonly Column[], minWidths: readonly number[]) {
    this.widths = columns.map((c, i) => Math.max(c.title.length, minWidths[i] ?? 0));
  }

  lines(rows: readonly (readonly string[])[]): string {
    for (const r of rows) r.forEach((cell, i) => (this.widths[i] = Math.max(this.widths[i] ?? 0, cell.length)));
    const line = (cells: readonly string[]) => cells.map((cell, i) => pad(cell, this.widths[i]!, this.columns[i]!.align)).join('  ').trimEnd() + '\n';
    let out = '';
    if (!this.headerDone) {
      out += line(this.columns.map((c) => c.title));
      this.headerDone = true;
    }
    return out + rows.map(line).join('');
  }
}

export function auditStreamingTable(): StreamingTable {
  return new StreamingTable(AUDIT_TABLE_COLUMNS, [20, 15, 36, 6, 9, 6, 9, 8]);
}

export const GROUP_TABLE_COLUMNS: readonly Column[] = [
  { title: 'MODULE@VERSION' },
  { title: 'CLIENTS', align: 'right' },
  { title: 'FETCHES', align: 'right' },
  { title: 'UPSTREAM', align: 'right' },
  { title: 'BYTES', align: 'right' },
  { title: 'FIRST' },
  { title: 'LAST' },
];

export function groupsTable(groups: readonly AuditGroup[]): string {
  return formatTable(
    GROUP_TABLE_COLUMNS,
    groups.map((g) => [
      g.version ? `${g.module}@${g.version}` : g.module,
      String(g.clients),
      String(g.fetches),
      String(g.upstream),
      humanBytes(g.bytes),
      formatTime(g.first),
      formatTime(g.last),
    ]),
  );
}

// ---- JSON

/** One audit row for tools: every column, plus `time` (ISO 8601, UTC, with milliseconds). */
export function auditRowJson(r: AuditRow): Record<string, unknown> {
  return {
    id: r.id,
    ts: r.ts,
    time: new Date(r.ts).toISOString(),
    client: r.client,
    origDst: r.origDst,
    host: r.host,
    method: r.method,
    path: r.path,
    module: r.module,
    version: r.version,
    kind: r.kind,
    outcome: r.outcome,
    status: r.status,
    bytes: r.bytes,
    durationMs: r.durationMs,
    sha256: r.sha256,
    upstreamUrl: r.upstreamUrl,
    reason: r.reason,
  };
}

export function groupJson(g: AuditGroup): Record<string, unknown> {
  return { ...g, first: new Date(g.first).toISOString(), last: new Date(g.last).toISOString(), firstTs: g.first, lastTs: g.last };
}

// ---- CSV (RFC 4180: CRLF line ends; a field with a comma, quote, CR or LF is quoted, quotes doubled)
// Text from clients and upstreams (paths, versions such as `=1+2`, reasons) is data, never a spreadsheet
// formula: as OWASP's CSV-injection advice says, a text cell starting with = + - @, tab or CR gets a leading
// single quote and is quoted. Numbers are ours and stay as they are.

const FORMULA_START = /^[=+\-@\t\r]/;

export function csvField(value: unknown): string {
  if (value === null || value === undefined) return '';
  const s = String(value);
  if (typeof value !== 'number' && typeof value !== 'bigint' && FORMULA_START.test(s)) return `"'${s.replace(/"/g, '""')}"`;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function csvLine(values: readonly unknown[]): string {
  return values.map(csvField).join(',') + '\r\n';
}

export const AUDIT_CSV_HEADER = [
  'id', 'time', 'ts', 'client', 'module', 'version', 'kind', 'outcome', 'status', 'bytes', 'duration_ms',
  'host', 'method', 'path', 'orig_dst', 'sha256', 'upstream_url', 'reason',
] as const;

export function auditCsvRecord(r: AuditRow): string {
  return csvLine([
    r.id, new Date(r.ts).toISOString(), r.ts, r.client, r.module, r.version, r.kind, r.outcome, r.status, r.bytes, r.durationMs,
    r.host, r.method, r.path, r.origDst, r.sha256, r.upstreamUrl, r.reason,
  ]);
}

export const GROUP_CSV_HEADER = ['module', 'version', 'clients', 'fetches', 'upstream', 'bytes', 'first', 'last'] as const;

export function groupCsvRecord(g: AuditGroup): string {
  return csvLine([g.module, g.version, g.clients, g.fetches, g.upstream, g.bytes, new Date(g.first).toISOString(), new Date(g.last).toISOString()]);
}

// ---- affected fetches (`gomodgate vulns`): the same table, JSON and CSV conventions as the audit rows

/** What `gomodgate vulns` prints per advisory × module@version (src/vulndb/vuln-queries.ts AffectedFetch). */
export interface AffectedFetchRow {
  advisory: string;
  aliases: readonly string[];
  module: string;
  version: string;
  clients: readonly string[];
  fetches: number;
  firstFetch: number;
  lastFetch: number;
  fixed: string | null;
}

export const AFFECTED_TABLE_COLUMNS: readonly Column[] = [
  { title: 'ADVISORY' },
  { title: 'MODULE@VERSION' },
  { title: 'FIXED' },
  { title: 'CLIENTS' },
  { title: 'FETCHES', align: 'right' },
  { title: 'FIRST' },
  { title: 'LAST' },
];

export function affectedFetchesTable(rows: readonly AffectedFetchRow[]): string {
  return formatTable(
    AFFECTED_TABLE_COLUMNS,
    rows.map((r) => [r.advisory, `${r.module}@${r.version}`, r.fixed ?? '-', r.clients.join(',') || '-', String(r.fetches), formatTime(r.firstFetch), formatTime(r.lastFetch)]),
  );
}

export function affectedFetchJson(r: AffectedFetchRow): Record<string, unknown> {
  return {
    advisory: r.advisory,
    aliases: r.aliases,
    module: r.module,
    version: r.version,
    fixed: r.fixed,
    clients: r.clients,
    fetches: r.fetches,
    first: new Date(r.firstFetch).toISOString(),
    last: new Date(r.lastFetch).toISOString(),
    firstTs: r.firstFetch,
    lastTs: r.lastFetch,
  };
}

export const AFFECTED_CSV_HEADER = ['advisory', 'aliases', 'module', 'version', 'fixed', 'clients', 'fetches', 'first', 'last'] as const;

/** Aliases and clients are space-separated inside their cell. */
export function affectedFetchCsvRecord(r: AffectedFetchRow): string {
  return csvLine([r.advisory, r.aliases.join(' '), r.module, r.version, r.fixed, r.clients.join(' '), r.fetches, new Date(r.firstFetch).toISOString(), new Date(r.lastFetch).toISOString()]);
}

// ---- whole documents: what `gomodgate audit --json/--csv` and `gomodgate vulns --json/--csv` print and the
// console exports, byte for byte

/** Affected fetches as a JSON array, one a line (`gomodgate vulns --json`). */
export function affectedFetchesJsonDocument(rows: readonly AffectedFetchRow[]): string {
  return rows.length ? `[\n${rows.map((r) => JSON.stringify(affectedFetchJson(r))).join(',\n')}\n]\n` : '[]\n';
}

/** Affected fetches as CSV with the header line (`gomodgate vulns --csv`). */
export function affectedFetchesCsvDocument(rows: readonly AffectedFetchRow[]): string {
  return csvLine(AFFECTED_CSV_HEADER) + rows.map(affectedFetchCsvRecord).join('');
}

/** Rows as a JSON array, one row a line. */
export function auditRowsJsonDocument(rows: readonly AuditRow[]): string {
  return rows.length ? `[\n${rows.map((r) => JSON.stringify(auditRowJson(r))).join(',\n')}\n]\n` : '[]\n';
}

/** Rows as CSV with the header line. */
export function auditRowsCsvDocument(rows: readonly AuditRow[]): string {
  return csvLine(AUDIT_CSV_HEADER) + rows.map(auditCsvRecord).join('');
}

/** Groups as an indented JSON array. */
export function groupsJsonDocument(groups: readonly AuditGroup[]): string {
  return JSON.stringify(groups.map(groupJson), null, 2) + '\n';
}

/** Groups as CSV with the header line. */
export function groupsCsvDocument(groups: readonly AuditGroup[]): string {
  return csvLine(GROUP_CSV_HEADER) + groups.map(groupCsvRecord).join('');
}
