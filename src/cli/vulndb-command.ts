// `gomodgate vulndb sync | import DIR|ZIP | status`: bring the Go vulnerability database into DATA_DIR/gomodgate.db
// from --vulndb-url through the same upstream client as modules (egress proxy, trusted roots, timeouts), or from
// an offline copy (a directory or a zip with index/ and ID/ at the top), and say what is stored. A running
// gateway may be writing meanwhile: SQLite's WAL and busy timeout share the file. Exit 1 when the sync fails
// (one line: which file and why), 2 for bad arguments.
import { statSync } from 'node:fs';
import { join } from 'node:path';
import type { CommandModule } from 'yargs';
import { GateError } from '../errors.js';
import { openDatabase, type Db } from '../store/database.js';
import { UpstreamClient, loadTrustedRoots } from '../upstream/upstream-client.js';
import { isLocalAddress } from '../intercept/own-addresses.js';
import { VulnStore } from '../vulndb/vuln-store.js';
import { syncVulnDb, type SyncResult } from '../vulndb/vuln-sync.js';
import { directoryVulnSource, upstreamVulnSource, zipVulnSource, type VulnSource } from '../vulndb/vuln-source.js';
import { formatTime } from '../tools/audit-format.js';
import { assertVulnSchema } from '../vulndb/vuln-queries.js';
import { configFromArgv, withOptions } from './config-options.js';
import { openIndex, reportFailure } from './audit-command.js';
import { ensureDataDirectory } from '../store/data-directory.js';

type Args = Record<string, unknown>;

/** The index of the configured data dir, created (with the directory) when the gateway has never run there. */
function openWritableIndex(args: Args): Db {
  const { dataDir } = configFromArgv(args);
  ensureDataDirectory(dataDir);
  return openDatabase(join(dataDir, 'gomodgate.db'));
}

function report(r: SyncResult): string {
  if (!r.changed) return `${r.source}: unchanged since the last sync (database modified ${formatTime(r.dbModified)}); ${r.total} advisories stored\n`;
  return `${r.source}: ${r.updated} advisories added or updated; ${r.total} stored (database modified ${formatTime(r.dbModified)})\n`;
}

/** An unreachable vulnerability database, with what the admin can do about it (every command error has one). */
function withNextStep(err: unknown): unknown {
  if (!(err instanceof GateError) || (err.code !== 'UPSTREAM_UNAVAILABLE' && err.code !== 'UPSTREAM_TIMEOUT')) return err;
  return new GateError(err.code, `${err.message}: check the gateway's DNS and route with \`gomodgate doctor\`, set --egress-proxy, or load an offline copy with \`gomodgate vulndb import <dir|zip>\``, { cause: err });
}

async function runSync(args: Args, source: (args: Args) => Promise<{ source: VulnSource; close?: () => void }>): Promise<void> {
  let db: Db | null = null;
  let opened: { source: VulnSource; close?: () => void } | null = null;
  try {
    opened = await source(args);
    db = openWritableIndex(args);
    const r = await syncVulnDb(new VulnStore(db), opened.source);
    process.stdout.write(report(r));
  } catch (err) {
    reportFailure(withNextStep(err));
  } finally {
    await opened?.source.close();
    opened?.close?.();
    db?.close();
  }
}

async function liveSource(args: Args): Promise<{ source: VulnSource; close: () => void }> {
  const config = configFromArgv(args);
  if (config.offline) throw new GateError('CONFIG_INVALID', 'the gateway is configured offline (--offline): use `gomodgate vulndb import DIR|ZIP` instead');
  const upstream = new UpstreamClient({
    trustedRoots: loadTrustedRoots(config.upstreamCa),
    timeoutMs: config.upstreamTimeout * 1000,
    egress: { egressProxy: config.egressProxy, env: process.env },
    isGatewayAddress: isLocalAddress,
  });
  return { source: upstreamVulnSource(upstream, new URL(config.vulndbUrl), config.upstreamDeadline * 1000), close: () => upstream.close() };
}

async function offlineSource(args: Args): Promise<{ source: VulnSource }> {
  const path = String(args.path);
  let isDir: boolean;
  try {
    isDir = statSync(path).isDirectory();
  } catch (err) {
    throw new GateError('CONFIG_INVALID', `${path}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (err as Error).message} (give a directory or a zip with index/ and ID/ in it)`);
  }
  return { source: isDir ? directoryVulnSource(path) : await zipVulnSource(path) };
}

function runStatus(args: Args): void {
  let db: Db | null = null;
  try {
    db = openIndex(args, { readonly: true }).db;
    assertVulnSchema(db);
    const store = new VulnStore(db);
    const counts = db
      .prepare(
        `SELECT (SELECT count(*) FROM vuln_advisories) AS advisories,
                (SELECT count(*) FROM vuln_advisories WHERE withdrawn IS NOT NULL) AS withdrawn,
                (SELECT count(*) FROM (SELECT DISTINCT module, version FROM vuln_matches)) AS affected,
                (SELECT count(*) FROM vuln_fetched) AS fetched`,
      )
      .get() as { advisories: number; withdrawn: number; affected: number; fetched: number };
    const lines = [`advisories        ${counts.advisories} (${counts.withdrawn} withdrawn)`, `affected versions ${counts.affected} of ${counts.fetched} module versions fetched`];
    const states = store.states();
    if (states.length === 0) lines.push('synced            never (gomodgate vulndb sync, or vulndb import DIR|ZIP)');
    for (const s of states) {
      lines.push(`source            ${s.source}`);
      lines.push(`  database modified ${formatTime(s.dbModified)}`);
      lines.push(`  last success      ${formatTime(s.lastSuccess)}`);
      lines.push(`  last attempt      ${formatTime(s.lastAttempt)}: ${s.lastResult ?? '-'}`);
    }
    process.stdout.write(lines.join('\n') + '\n');
  } catch (err) {
    reportFailure(err);
  } finally {
    db?.close();
  }
}

const SYNC_OPTIONS = ['dataDir', 'vulndbUrl', 'offline', 'upstreamCa', 'upstreamTimeout', 'egressProxy'];

export const vulndbCommand: CommandModule = {
  command: 'vulndb',
  describe: 'The Go vulnerability database: sync it, import an offline copy, show what is stored',
  builder: (y) =>
    y
      .command({
        command: 'sync',
        describe: 'Fetch what changed in the vulnerability database (--vulndb-url) through the upstream path of modules',
        builder: (s) => withOptions(s, SYNC_OPTIONS).example('$0 vulndb sync', 'once, or from cron; `serve --vulndb-sync 6h` does it in the gateway'),
        handler: (argv) => runSync(argv as Args, liveSource),
      })
      .command({
        command: 'import <path>',
        describe: 'Load an offline copy: a directory or a zip (vuln.zip) with index/db.json, index/vulns.json, index/modules.json and ID/*.json',
        builder: (s) => withOptions(s, ['dataDir']).positional('path', { type: 'string', describe: 'Directory or zip file' }),
        handler: (argv) => runSync(argv as Args, offlineSource),
      })
      .command({
        command: 'status',
        describe: 'Advisories stored, affected fetched versions, and each source\'s last sync',
        builder: (s) => withOptions(s, ['dataDir']),
        handler: (argv) => runStatus(argv as Args),
      })
      .demandCommand(1, 'vulndb needs a subcommand: sync, import or status'),
  handler: () => undefined,
};
