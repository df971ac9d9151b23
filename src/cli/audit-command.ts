// `gomodgate audit`: query the audit trail of DATA_DIR/gomodgate.db by module pattern, version, client (address
// or CIDR), outcome and time range, as rows or grouped by module@version; `audit tail` follows new rows.
// Output: an aligned table, --json (an array; JSON lines for tail) or --csv (RFC 4180). Opens the index
// read-only (a running gateway keeps writing in WAL mode); never changes it. Exit 2 for bad arguments.
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Argv, CommandModule } from 'yargs';
import { GateError } from '../errors.js';
import { describeSqliteProblem, openDatabase, type Db } from '../store/database.js';
import { AuditQuery, AUDIT_OUTCOMES, parseTimeArgument, type AuditFilter, type AuditRow } from '../tools/audit-query.js';
import {
  AUDIT_CSV_HEADER,
  auditCsvRecord,
  auditRowJson,
  auditRowsCsvDocument,
  auditRowsJsonDocument,
  auditRowsTable,
  auditStreamingTable,
  auditTableCells,
  csvLine,
  groupsCsvDocument,
  groupsJsonDocument,
  groupsTable,
  type OutputFormat,
} from '../tools/audit-format.js';
import { configFromArgv, withOptions } from './config-options.js';
import { shownNumber } from './cli-errors.js';

type Args = Record<string, unknown>;

/** Prints `gomodgate: message` and sets the exit code (2 for bad arguments or config, else 1). */
export function reportFailure(err: unknown): void {
  const sqlite = String((err as { code?: unknown } | null)?.code ?? '').startsWith('SQLITE_');
  const msg = sqlite ? `the cache index: ${describeSqliteProblem(err)}` : err instanceof Error ? err.message : String(err);
  process.stderr.write(`gomodgate: ${msg}\n`);
  process.exitCode = err instanceof GateError && err.code === 'CONFIG_INVALID' ? 2 : 1;
}

/** `gomodgate audit | head`: when the reader goes away, stop quietly instead of failing with EPIPE. */
export function exitQuietlyOnClosedStdout(): void {
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
}

/** The cache index of the configured data dir (--data-dir, GOMODGATE_DATA_DIR, --config), read-only by default. */
export function openIndex(args: Args, options: { readonly: boolean }): { db: Db; dataDir: string } {
  const { dataDir } = configFromArgv(args);
  const file = join(dataDir, 'gomodgate.db');
  if (existsSync(dataDir) && !statSync(dataDir).isDirectory()) {
    throw new GateError('CONFIG_INVALID', `the data directory ${dataDir} (--data-dir) is not a directory`);
  }
  if (!existsSync(file)) {
    throw new GateError('STORE_IO', `no cache index at ${file}: has the gateway run with this data directory? (--data-dir, GOMODGATE_DATA_DIR or --config)`);
  }
  return { db: openDatabase(file, { readonly: options.readonly }), dataDir };
}

function filterOptions(y: Argv): Argv {
  return withOptions(y, ['dataDir'])
    .option('module', { type: 'string', array: true, describe: 'Module path patterns, GOPRIVATE syntax (golang.org/x/*): a pattern matches the module and every module below it' })
    .option('version', { type: 'string', array: true, describe: 'Module versions (exact)' })
    .option('client', { type: 'string', array: true, describe: 'Client addresses or CIDRs (10.0.0.5, 10.1.0.0/16, fd00::/8)' })
    .option('outcome', { type: 'string', array: true, describe: `Outcomes: ${AUDIT_OUTCOMES.join(', ')}` })
    .option('since', { type: 'string', describe: 'Rows from this time: a duration before now (24h, 30m, 7d) or an ISO time (2026-11-24T10:00, local unless it has a zone)' })
    .option('until', { type: 'string', describe: 'Rows before this time (same forms as --since)' })
    .option('json', { type: 'boolean', describe: 'Print JSON (an array; JSON lines for tail)' })
    .option('csv', { type: 'boolean', describe: 'Print CSV (RFC 4180, with a header line)' });
}

function list(v: unknown): string[] {
  if (v === undefined || v === null) return [];
  return (Array.isArray(v) ? v : [v]).map(String);
}

export function filterFromArgs(args: Args, now: number): AuditFilter {
  const filter: AuditFilter = {
    modules: list(args.module),
    versions: list(args.version),
    clients: list(args.client),
    outcomes: list(args.outcome),
  };
  if (args.since !== undefined) filter.since = parseTimeArgument(String(args.since), now, '--since');
  if (args.until !== undefined) filter.until = parseTimeArgument(String(args.until), now, '--until');
  if (filter.since !== undefined && filter.until !== undefined && filter.since >= filter.until) {
    throw new GateError('CONFIG_INVALID', '--since must be before --until');
  }
  return filter;
}

function formatOf(args: Args): OutputFormat {
  if (args.json && args.csv) throw new GateError('CONFIG_INVALID', '--json and --csv cannot be used together');
  return args.json ? 'json' : args.csv ? 'csv' : 'table';
}

function out(s: string): void {
  process.stdout.write(s);
}

function printRows(rows: AuditRow[], format: OutputFormat): void {
  if (format === 'json') out(auditRowsJsonDocument(rows));
  else if (format === 'csv') out(auditRowsCsvDocument(rows));
  else if (rows.length) out(auditRowsTable(rows));
  else process.stderr.write('no matching audit rows\n');
}

function runQuery(args: Args): void {
  let db: Db | null = null;
  exitQuietlyOnClosedStdout();
  try {
    const filter = filterFromArgs(args, Date.now());
    const limit = Number(args.limit);
    if (!Number.isInteger(limit) || limit < 0) throw new GateError('CONFIG_INVALID', `--limit must be a non-negative integer (got ${shownNumber(args.limit)})`);
    const format = formatOf(args);
    db = openIndex(args, { readonly: true }).db;
    const q = new AuditQuery(db);
    if (args.group) {
      const groups = q.groups(filter, limit);
      if (format === 'json') out(groupsJsonDocument(groups));
      else if (format === 'csv') out(groupsCsvDocument(groups));
      else if (groups.length) out(groupsTable(groups));
      else process.stderr.write('no matching audit rows\n');
      return;
    }
    if (limit === 0 && format !== 'table') {
      // everything, streamed oldest first
      let n = 0;
      if (format === 'csv') out(csvLine(AUDIT_CSV_HEADER));
      else out('[');
      for (const r of q.iterate(filter)) {
        out(format === 'csv' ? auditCsvRecord(r) : `${n ? ',' : ''}\n${JSON.stringify(auditRowJson(r))}`);
        n++;
      }
      if (format === 'json') out(n ? '\n]\n' : ']\n');
      return;
    }
    let rows = q.rows(filter, limit === 0 ? 0 : limit + 1);
    if (limit > 0 && rows.length > limit) {
      rows = rows.slice(rows.length - limit);
      process.stderr.write(`showing the latest ${limit} matching rows; --limit N or --limit 0 for more\n`);
    }
    printRows(rows, format);
  } catch (err) {
    reportFailure(err);
  } finally {
    db?.close();
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

async function runTail(args: Args): Promise<void> {
  let db: Db | null = null;
  let stopping = false;
  const stop = () => {
    stopping = true;
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') stop(); // the reader went away (| head)
  });
  try {
    const filter = filterFromArgs(args, Date.now());
    const lines = Number(args.lines);
    if (!Number.isInteger(lines) || lines < 0) throw new GateError('CONFIG_INVALID', `--lines must be a non-negative integer (got ${shownNumber(args.lines)})`);
    const interval = Number(args.interval);
    if (!Number.isFinite(interval) || interval < 50 || interval > 60_000) {
      throw new GateError('CONFIG_INVALID', `--interval must be between 50 and 60000 ms (got ${shownNumber(args.interval)})`);
    }
    const format = formatOf(args);
    db = openIndex(args, { readonly: true }).db;
    const q = new AuditQuery(db);
    const table = auditStreamingTable();
    let csvHeaderDone = false;
    const emit = (rows: AuditRow[]) => {
      if (rows.length === 0) return;
      if (format === 'json') out(rows.map((r) => JSON.stringify(auditRowJson(r)) + '\n').join(''));
      else if (format === 'csv') {
        out((csvHeaderDone ? '' : csvLine(AUDIT_CSV_HEADER)) + rows.map(auditCsvRecord).join(''));
        csvHeaderDone = true;
      } else out(table.lines(rows.map(auditTableCells)));
    };
    let last = q.lastId();
    if (lines > 0) {
      const backlog = q.rows(filter, lines);
      emit(backlog);
      for (const r of backlog) last = Math.max(last, r.id);
    }
    if (!args.follow) return;
    while (!stopping) {
      await sleep(interval);
      if (stopping) break;
      // take the newest id first, then read up to it: rows committed meanwhile wait for the next round
      const newest = q.lastId();
      if (newest <= last) continue;
      // at most 1000 rows a round: a burst is printed over a few rounds instead of all at once
      const { rows, next } = q.after(filter, last, newest, 1000);
      emit(rows);
      last = next;
    }
  } catch (err) {
    reportFailure(err);
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    db?.close();
  }
}

const tailCommand: CommandModule = {
  command: 'tail',
  describe: 'Print the latest audit rows, then follow new ones as the gateway writes them',
  builder: (y) =>
    filterOptions(y)
      .option('lines', { alias: 'n', type: 'number', default: 10, describe: 'Print this many latest rows first' })
      .option('follow', { alias: 'f', type: 'boolean', default: true, describe: 'Keep printing new rows (--no-follow: stop after the first ones)' })
      .option('interval', { type: 'number', default: 500, describe: 'Poll the index every this many ms' })
      .example('$0 audit tail --module golang.org/x/*', 'follow requests for golang.org/x modules')
      .example('$0 audit tail --json --outcome error', 'errors as JSON lines'),
  handler: (argv) => runTail(argv as Args),
};

export const auditCommand: CommandModule = {
  command: 'audit',
  describe: 'Query the audit trail: which module versions came in, for which client, when, from cache or upstream',
  builder: (y) =>
    filterOptions(y)
      .command(tailCommand)
      // not global: `audit tail` listed both in its help and ignored them (it has --lines)
      .option('group', { type: 'boolean', default: false, global: false, describe: 'One line per module@version: distinct clients, fetches (requests), upstream fetches, bytes' })
      .option('limit', { type: 'number', default: 100, global: false, describe: 'Show the latest N rows (or N groups, most fetched first); 0 = all' })
      .example('$0 audit --since 24h', 'the last day')
      .example('$0 audit --module golang.org/x/* --client 10.1.0.0/16 --outcome miss', 'upstream fetches of golang.org/x modules for one subnet')
      .example('$0 audit --group --since 7d --csv > week.csv', 'per module@version counts for a spreadsheet'),
  handler: (argv) => runQuery(argv as Args),
};
