// `gomodgate vulns`: which fetched module versions the vulnerability database says are affected, and which
// clients fetched them when — one line per advisory × module@version, latest fetch first. Filters and output
// formats are those of `gomodgate audit` (--since/--until, --module patterns, --client, --json, --csv), plus
// --advisory (an ID or alias: then withdrawn advisories are shown too). Opens the index read-only.
import type { CommandModule } from 'yargs';
import { GateError } from '../errors.js';
import type { Db } from '../store/database.js';
import { affectedFetches, assertVulnSchema } from '../vulndb/vuln-queries.js';
import { moduleMatchesPattern, parseModulePatterns, parseTimeArgument } from '../tools/audit-query.js';
import { affectedFetchesCsvDocument, affectedFetchesJsonDocument, affectedFetchesTable } from '../tools/audit-format.js';
import { isIP } from 'node:net';
import { withOptions } from './config-options.js';
import { exitQuietlyOnClosedStdout, openIndex, reportFailure } from './audit-command.js';
import { shownNumber } from './cli-errors.js';

type Args = Record<string, unknown>;

function list(v: unknown): string[] {
  if (v === undefined || v === null) return [];
  return (Array.isArray(v) ? v : [v]).map(String);
}

function runVulns(args: Args): void {
  let db: Db | null = null;
  exitQuietlyOnClosedStdout();
  try {
    const now = Date.now();
    const since = args.since === undefined ? undefined : parseTimeArgument(String(args.since), now, '--since');
    const until = args.until === undefined ? undefined : parseTimeArgument(String(args.until), now, '--until');
    if (since !== undefined && until !== undefined && since >= until) throw new GateError('CONFIG_INVALID', '--since must be before --until');
    const clients = list(args.client).flatMap((c) => c.split(',')).map((c) => c.trim()).filter((c) => c !== '');
    if (clients.length > 1 || (clients.length === 1 && !isIP(clients[0]!))) {
      throw new GateError('CONFIG_INVALID', `vulns --client takes one client address such as 10.0.0.5 (got "${clients.join(',')}"); for a subnet use gomodgate audit --client CIDR`);
    }
    const modules = parseModulePatterns(list(args.module));
    const limit = Number(args.limit);
    if (!Number.isInteger(limit) || limit < 0) throw new GateError('CONFIG_INVALID', `--limit must be a non-negative integer (got ${shownNumber(args.limit)})`);
    if (args.json && args.csv) throw new GateError('CONFIG_INVALID', '--json and --csv cannot be used together');
    const advisory = args.advisory === undefined ? undefined : String(args.advisory).trim();
    db = openIndex(args, { readonly: true }).db;
    assertVulnSchema(db);
    // module patterns do not change a row's counts, so they filter the rows; --limit applies after them
    let rows = affectedFetches(db, { advisory, client: clients[0], since, until, limit: modules.length ? -1 : limit === 0 ? -1 : limit });
    if (modules.length) rows = rows.filter((r) => modules.some((p) => moduleMatchesPattern(p, r.module)));
    if (limit > 0) rows = rows.slice(0, limit);
    if (args.json) process.stdout.write(affectedFetchesJsonDocument(rows));
    else if (args.csv) process.stdout.write(affectedFetchesCsvDocument(rows));
    else if (rows.length) process.stdout.write(affectedFetchesTable(rows));
    else process.stderr.write(advisory ? `no fetched version is affected by ${advisory}\n` : 'no fetched version is affected by a known advisory\n');
  } catch (err) {
    reportFailure(err);
  } finally {
    db?.close();
  }
}

export const vulnsCommand: CommandModule = {
  command: 'vulns',
  describe: 'Fetched module versions affected by the vulnerability database: advisory, module@version, clients, first and last fetch, fixed version',
  builder: (y) =>
    withOptions(y, ['dataDir'])
      .option('advisory', { type: 'string', describe: 'Only this advisory: an ID (GO-2023-2402) or an alias (CVE-2023-48795)' })
      .option('module', { type: 'string', array: true, describe: 'Module path patterns, GOPRIVATE syntax (golang.org/x/*): a pattern matches the module and every module below it' })
      .option('client', { type: 'string', describe: 'Only fetches by this client address' })
      .option('since', { type: 'string', describe: 'Count fetches from this time: a duration before now (24h, 30m, 7d) or an ISO time (2026-11-24T10:00, local unless it has a zone)' })
      .option('until', { type: 'string', describe: 'Count fetches before this time (same forms as --since)' })
      .option('limit', { type: 'number', default: 100, describe: 'Show the N most recently fetched lines; 0 = all' })
      .option('json', { type: 'boolean', describe: 'Print JSON (an array)' })
      .option('csv', { type: 'boolean', describe: 'Print CSV (RFC 4180, with a header line)' })
      .example('$0 vulns --advisory GO-2023-2402', 'which machines fetched a version affected by GO-2023-2402, and when')
      .example('$0 vulns --since 30d --csv > affected.csv', 'affected fetches of the last month for a spreadsheet'),
  handler: (argv) => runVulns(argv as Args),
};
