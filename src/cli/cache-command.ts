// `gomodgate cache`: stats (objects, bytes, blobs on disk, hit ratio), ls (index rows, by module pattern),
// verify (re-hash every blob; --repair), prune (--older-than, --max-bytes) and warm FILE (fetch what a go.sum or
// go.mod names through a running gateway). stats, ls and verify open the index read-only; prune and
// verify --repair delete index rows first, then the blob files no row points at. Progress bars go to stderr and
// only when it is a terminal; reports go to stdout. Exit 1 when something is corrupt or failed, 2 for bad arguments.
import { readFileSync } from 'node:fs';
import type { Argv, CommandModule } from 'yargs';
import { GateError } from '../errors.js';
import { parseByteSize, parseDuration } from '../config/load.js';
import type { Db } from '../store/database.js';
import { BlobStore } from '../store/blob-store.js';
import { evictToLimit, pruneOlderThan, type RemovedObject } from '../store/eviction.js';
import { parseTimeArgument } from '../tools/audit-query.js';
import { csvLine, formatTable, formatTime, humanBytes } from '../tools/audit-format.js';
import { cacheStats, listCache, type CacheEntry, type HitRatio } from '../tools/cache-report.js';
import { isCorrupt, repairCache, verifyCache, type RepairResult, type VerifyReport } from '../tools/cache-verify.js';
import { parseModuleList } from '../tools/go-sum-file.js';
import { warmCache } from '../tools/cache-warm.js';
import { ProgressBar } from '../tools/progress-bar.js';
import { withOptions } from './config-options.js';
import { exitQuietlyOnClosedStdout, openIndex, reportFailure } from './audit-command.js';
import { shownNumber } from './cli-errors.js';

type Args = Record<string, unknown>;

function out(s: string): void {
  process.stdout.write(s);
}

function durationMs(value: unknown, flag: string): number {
  const s = parseDuration(value);
  if (s === null) throw new GateError('CONFIG_INVALID', `${flag} must be a duration such as 30d, 12h or 10m (got ${JSON.stringify(value)})`);
  return Math.round(s * 1000);
}

function withDataDir(y: Argv): Argv {
  return withOptions(y, ['dataDir']);
}

// ---- stats

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/**
 * "12.5% (1 hit + 0 stale of 8 requests served from the cache or upstream; 3 others: 2 error, 1 not-found)";
 * requests that failed count as others, never as "of 0 requests".
 */
export function formatHitRatio(r: HitRatio): string {
  const otherCount = Object.values(r.other).reduce((a, n) => a + n, 0);
  const others = otherCount
    ? `${plural(otherCount, 'other request')}: ${Object.entries(r.other).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).map(([o, n]) => `${n} ${o}`).join(', ')}`
    : '';
  const since = r.since === null ? '' : ` since ${formatTime(r.since)}`;
  const served = r.hits + r.stale + r.misses;
  if (served === 0) {
    return `- (${otherCount ? `no request served from the cache or upstream${since}; ${others}` : `no Go requests recorded${since}`})`;
  }
  return `${(r.ratio! * 100).toFixed(1)}% (${plural(r.hits, 'hit')} + ${r.stale} stale of ${plural(served, 'request')} served from the cache or upstream${since}${others ? `; ${others}` : ''})`;
}

function printStats(args: Args): void {
  let db: Db | null = null;
  try {
    const since = args.since === undefined ? null : parseTimeArgument(String(args.since), Date.now(), '--since');
    const opened = openIndex(args, { readonly: true });
    db = opened.db;
    const s = cacheStats(db, opened.dataDir, since);
    if (args.json) {
      out(JSON.stringify(s, null, 2) + '\n');
      return;
    }
    out(
      (s.kinds.length
        ? formatTable(
            [{ title: 'KIND' }, { title: 'OBJECTS', align: 'right' }, { title: 'BYTES', align: 'right' }, { title: 'NOT FOUND', align: 'right' }],
            s.kinds.map((k) => [k.kind, String(k.objects), humanBytes(k.bytes), String(k.negative)]),
          )
        : 'the cache is empty\n') +
        `\nobjects:     ${s.objects} (${humanBytes(s.bytes)}), ${s.negative} remembered not-found\n` +
        `blobs:       ${s.blobs} indexed (${humanBytes(s.blobBytes)}); on disk ${s.disk.blobFiles} files (${humanBytes(s.disk.blobBytes)})` +
        (s.disk.tempFiles ? `, ${s.disk.tempFiles} temp files (${humanBytes(s.disk.tempBytes)})` : '') +
        '\n' +
        `hit ratio:   ${formatHitRatio(s.hitRatio)}\n`,
    );
  } catch (err) {
    reportFailure(err);
  } finally {
    db?.close();
  }
}

// ---- ls

const LS_COLUMNS = [
  { title: 'KEY' },
  { title: 'MODULE' },
  { title: 'VERSION' },
  { title: 'KIND' },
  { title: 'SIZE', align: 'right' as const },
  { title: 'STORED' },
  { title: 'LAST ACCESS' },
  { title: 'SHA256' },
];

function entryCells(e: CacheEntry): string[] {
  return [
    e.key,
    e.module ?? '-',
    e.version ?? '-',
    e.kind,
    humanBytes(e.size),
    formatTime(e.storedAt),
    formatTime(e.lastAccess),
    e.sha256 ? e.sha256.slice(0, 12) : `(${e.status})`,
  ];
}

function printList(args: Args): void {
  let db: Db | null = null;
  try {
    if (args.json && args.csv) throw new GateError('CONFIG_INVALID', '--json and --csv cannot be used together');
    const modules = ((args.module as string[] | undefined) ?? []).map(String);
    db = openIndex(args, { readonly: true }).db;
    const entries = listCache(db, modules);
    if (args.json) out(JSON.stringify(entries, null, 2) + '\n');
    else if (args.csv) {
      out(csvLine(['key', 'module', 'version', 'kind', 'status', 'size', 'stored_at', 'last_access', 'expires_at', 'sha256']));
      for (const e of entries) {
        out(csvLine([e.key, e.module, e.version, e.kind, e.status, e.size, new Date(e.storedAt).toISOString(), new Date(e.lastAccess).toISOString(), e.expiresAt === null ? null : new Date(e.expiresAt).toISOString(), e.sha256]));
      }
    } else if (entries.length) out(formatTable(LS_COLUMNS, entries.map(entryCells)));
    else process.stderr.write(modules.length ? 'no cached objects match\n' : 'the cache is empty\n');
  } catch (err) {
    reportFailure(err);
  } finally {
    db?.close();
  }
}

// ---- verify

function verifyText(r: VerifyReport): string {
  let s = `checked ${r.rows} index rows pointing at ${r.blobs} blobs; hashed ${humanBytes(r.bytesHashed)}\n`;
  for (const m of r.missing) s += `missing blob    ${m.key}  ${m.sha256 ?? '(no sha256)'}\n`;
  for (const h of r.hashMismatches) s += `hash mismatch   ${h.sha256} hashes to ${h.actual}  (${h.keys.join(', ')})\n`;
  for (const z of r.sizeMismatches) s += `size mismatch   ${z.key}  index ${z.expected} bytes, blob ${z.actual} bytes\n`;
  for (const u of r.unreadable) s += `unreadable      ${u.sha256}: ${u.error}  (${u.keys.join(', ')})\n`;
  for (const o of r.orphans) s += `orphan blob     ${o.path}  ${humanBytes(o.size)}\n`;
  for (const t of r.tempFiles) s += `temp file       ${t.path}  ${humanBytes(t.size)}\n`;
  for (const d of r.database) s += `damaged index   ${d}\n`;
  const corrupt = r.missing.length + r.hashMismatches.reduce((a, h) => a + h.keys.length, 0) + r.sizeMismatches.length + r.unreadable.reduce((a, u) => a + u.keys.length, 0);
  if (corrupt > 0) s += `CORRUPT: ${corrupt} index rows\n`;
  else s += `${r.database.length ? 'rows OK' : 'index OK'}: every row points at a blob with its sha256 and size\n`;
  if (r.database.length) {
    s += `DAMAGED: SQLite's quick_check of the index file found ${r.database.length} problem(s): stop the gateway, move gomodgate.db (and its -wal, -shm) away and start it (an empty index); then \`cache verify --repair\` removes the blobs it no longer knows\n`;
  }
  if (r.orphans.length || r.tempFiles.length) s += `${r.orphans.length} orphan blobs and ${r.tempFiles.length} temp files (not corruption; --repair removes them)\n`;
  return s;
}

function repairText(x: RepairResult, graceMs: number): string {
  return (
    `repaired: removed ${x.removedRows} index rows, ${x.removedBlobs} corrupt or unreferenced blobs, ${x.removedOrphans} orphan blobs, ${x.removedTempFiles} temp files` +
    (x.keptRecent ? `; kept ${x.keptRecent} files younger than ${Math.round(graceMs / 1000)} s (a running gateway may own them)` : '') +
    '\n'
  );
}

async function runVerify(args: Args): Promise<void> {
  let db: Db | null = null;
  try {
    const graceMs = durationMs(args.grace, '--grace');
    const repair = Boolean(args.repair);
    const opened = openIndex(args, { readonly: !repair });
    db = opened.db;
    let bar: ProgressBar | null = null;
    const report = await verifyCache(db, opened.dataDir, {
      onTotal: (bytes) => {
        bar = new ProgressBar(process.stderr, { label: 'verifying', total: bytes, unit: 'bytes' });
      },
      onProgress: (done) => bar?.update(done),
    });
    (bar as ProgressBar | null)?.finish();
    const corrupt = isCorrupt(report);
    const repaired = repair ? repairCache(db, opened.dataDir, report, { graceMs }) : null;
    if (args.json) out(JSON.stringify({ ...report, corrupt, repaired }, null, 2) + '\n');
    else out(verifyText(report) + (repaired ? repairText(repaired, graceMs) : corrupt ? 'run with --repair to remove the corrupt rows and blobs\n' : ''));
    process.exitCode = corrupt && !repaired ? 1 : 0;
  } catch (err) {
    reportFailure(err);
  } finally {
    db?.close();
  }
}

// ---- prune

function runPrune(args: Args): void {
  let db: Db | null = null;
  try {
    if (args['older-than'] === undefined && args['max-bytes'] === undefined) {
      throw new GateError('CONFIG_INVALID', 'prune needs --older-than DURATION and/or --max-bytes SIZE');
    }
    const cutoff = args['older-than'] === undefined ? null : Date.now() - durationMs(args['older-than'], '--older-than');
    const maxBytes = args['max-bytes'] === undefined ? null : parseByteSize(args['max-bytes'], '--max-bytes');
    const dryRun = Boolean(args['dry-run']);
    const opened = openIndex(args, { readonly: false });
    db = opened.db;
    const blobs = new BlobStore(opened.dataDir);
    const removed: Array<RemovedObject & { why: string }> = [];
    let objects = 0;
    let bytes = 0;
    const options = (why: string) => ({ dryRun, onRemove: (o: RemovedObject) => removed.push({ ...o, why }) });
    if (cutoff !== null) {
      const r = pruneOlderThan(db, blobs, cutoff, () => false, options('older-than'));
      objects += r.removedObjects;
      bytes += r.removedBytes;
    }
    if (maxBytes !== null) {
      const r = evictToLimit(db, blobs, maxBytes, () => false, options('max-bytes'));
      objects += r.removedObjects;
      bytes += r.removedBytes;
    }
    const blobCount = new Set(removed.filter((o) => o.blobRemoved && o.sha256).map((o) => o.sha256)).size;
    if (args.json) {
      out(JSON.stringify({ dryRun, removedObjects: objects, removedBlobs: blobCount, removedBytes: bytes, removed }, null, 2) + '\n');
      return;
    }
    if (removed.length) {
      out(
        formatTable(
          [{ title: 'KEY' }, { title: 'SIZE', align: 'right' }, { title: 'LAST ACCESS' }, { title: 'BLOB' }, { title: 'WHY' }],
          removed.map((o) => [o.key, humanBytes(o.size), formatTime(o.lastAccess), o.sha256 ? (o.blobRemoved ? `${o.sha256.slice(0, 12)} removed` : `${o.sha256.slice(0, 12)} kept (shared)`) : '-', o.why]),
        ),
      );
    }
    out(dryRun
      ? `would remove ${objects} objects and ${blobCount} blobs, freeing ${humanBytes(bytes)}\n`
      : `removed ${objects} objects and ${blobCount} blobs, ${humanBytes(bytes)} freed\n`);
  } catch (err) {
    reportFailure(err);
  } finally {
    db?.close();
  }
}

// ---- warm

async function runWarm(args: Args): Promise<void> {
  try {
    const file = String(args.file);
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new GateError('CONFIG_INVALID', `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    const concurrency = Number(args.concurrency);
    if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 64) {
      throw new GateError('CONFIG_INVALID', `--concurrency must be an integer from 1 to 64 (got ${shownNumber(args.concurrency)})`);
    }
    let gateway: URL;
    try {
      gateway = new URL(String(args.gateway));
      if (gateway.protocol !== 'http:' && gateway.protocol !== 'https:') throw new Error('not http');
    } catch {
      throw new GateError('CONFIG_INVALID', `--gateway must be the gateway's GOPROXY URL such as http://127.0.0.1:3128 (got ${JSON.stringify(args.gateway)})`);
    }
    const list = parseModuleList(text, file);
    for (const p of list.problems) process.stderr.write(`gomodgate: ${file}: ${p}\n`);
    if (list.modules.length === 0) throw new GateError('CONFIG_INVALID', `${file} names no module versions (read as ${list.format})`);
    const files = list.modules.reduce((n, m) => n + (m.mod ? 1 : 0) + (m.zip ? 1 : 0), 0);
    const bar = new ProgressBar(process.stderr, { label: 'warming', total: files, unit: 'count' });
    const result = await warmCache(list.modules, {
      gateway: gateway.toString(),
      concurrency,
      onItemDone: (done, _total, item) => bar.update(done, `${item.module}@${item.version}.${item.file}`),
    });
    bar.finish();
    const failed = result.failed.length + list.problems.length;
    if (args.json) {
      out(JSON.stringify({ format: list.format, modules: list.modules.length, ...result, problems: list.problems }, null, 2) + '\n');
    } else {
      let s = `${file} (${list.format}): ${list.modules.length} module versions, ${result.items} files through ${gateway.origin}${gateway.pathname.replace(/\/$/, '')}\n`;
      for (const f of result.failed) s += `failed  ${f.item.module}@${f.item.version} .${f.item.file}: ${f.reason}\n`;
      s += `fetched ${result.fetched}, already cached ${result.cached}, failed ${failed}${list.problems.length ? ` (${list.problems.length} unreadable lines)` : ''}; ${humanBytes(result.bytes)} received\n`;
      out(s);
    }
    process.exitCode = failed > 0 ? 1 : 0;
  } catch (err) {
    reportFailure(err);
  }
}

// ---- the command tree

export const cacheCommand: CommandModule = {
  command: 'cache',
  describe: 'Inspect and maintain the module cache: stats, ls, verify, prune, warm',
  builder: (y) =>
    y
      .command({
        command: 'stats',
        describe: 'Objects by kind, bytes, blobs on disk and the hit ratio from the audit trail',
        builder: (yy) =>
          withDataDir(yy)
            .option('since', { type: 'string', describe: 'Hit ratio over requests since (24h, 7d or an ISO time); default: all' })
            .option('json', { type: 'boolean', describe: 'Print JSON' }),
        handler: (argv) => printStats(argv as Args),
      })
      .command({
        command: 'ls',
        describe: 'List cached objects (key, module, version, kind, size, stored, last access, sha256)',
        builder: (yy) =>
          withDataDir(yy)
            .option('module', { type: 'string', array: true, describe: 'Only modules matching these patterns (GOPRIVATE syntax: golang.org/x/*)' })
            .option('json', { type: 'boolean', describe: 'Print JSON' })
            .option('csv', { type: 'boolean', describe: 'Print CSV (RFC 4180)' }),
        handler: (argv) => printList(argv as Args),
      })
      .command({
        command: 'verify',
        describe: 'Re-hash every blob: each index row must point at a blob whose sha256 matches its name and whose size matches the row; exit 1 if not',
        builder: (yy) =>
          withDataDir(yy)
            .option('repair', { type: 'boolean', default: false, describe: 'Remove corrupt rows and their blobs, orphan blobs and leftover temp files' })
            .option('grace', { type: 'string', default: '10m', describe: 'With --repair: leave orphans and temp files younger than this (a running gateway may be writing them)' })
            .option('json', { type: 'boolean', describe: 'Print JSON' }),
        handler: (argv) => runVerify(argv as Args),
      })
      .command({
        command: 'prune',
        describe: 'Remove objects not used for a while (--older-than) and/or least recently used ones above a size (--max-bytes)',
        builder: (yy) =>
          withDataDir(yy)
            .option('older-than', { type: 'string', describe: 'Remove objects whose last access is older than this (30d, 12h)' })
            .option('max-bytes', { type: 'string', describe: 'Remove least recently used blobs until the cache holds at most this much (500M, 10G)' })
            .option('dry-run', { type: 'boolean', default: false, describe: 'Only print what would be removed' })
            .option('json', { type: 'boolean', describe: 'Print JSON' })
            .example('$0 cache prune --older-than 90d', 'forget what nobody used for three months')
            .example('$0 cache prune --max-bytes 50G --dry-run', 'what a 50 GiB limit would remove'),
        handler: (argv) => runPrune(argv as Args),
      })
      .command({
        command: 'warm <file>',
        describe: 'Fetch every module version of a go.sum or go.mod through a running gateway (.mod, and .zip where needed)',
        builder: (yy) =>
          yy
            .positional('file', { type: 'string', describe: 'A go.sum (zip and /go.mod lines) or go.mod (require directives)' })
            .option('gateway', { type: 'string', default: 'http://127.0.0.1:3128', describe: "The gateway's plain GOPROXY endpoint" })
            .option('concurrency', { type: 'number', default: 4, describe: 'Requests in flight at once' })
            .option('json', { type: 'boolean', describe: 'Print JSON' })
            .example('$0 cache warm go.sum', 'prefetch a project through the local gateway'),
        handler: (argv) => runWarm(argv as Args),
      })
      .demandCommand(1, 'cache needs a subcommand: stats, ls, verify, prune or warm')
      .middleware(() => exitQuietlyOnClosedStdout()),
  handler: () => undefined,
};
