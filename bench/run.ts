// `npm run bench`: measures gomodgate next to baselines measured in the same run on the same machine (nginx
// serving the same files statically, Squid as a caching forward proxy, direct fetches from the upstream, the Go
// test proxy for the real go command) and prints a table of absolute figures and ratios gomodgate/baseline.
// Loopback only; every process it starts is stopped by PID and its temp directory removed, also on SIGINT/SIGTERM.
// It asserts nothing about timing: a figure is printed, never judged. Not part of `npm test`.
//
//   node dist/bench/run.js [--only LIST] [--without LIST] [--json FILE] [--keep] [--rounds N] [--help]  (bench/args.ts)
// `redirect` (the go command through iptables REDIRECT in network namespaces, next to Squid ssl-bump and direct;
// root, about 5 minutes a round, default 1 round) and `scale` (cache hits on an empty and on a large generated
// index; about 2.5 minutes with its default 2 rounds) run only when named in --only.
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '../test/helpers/gateway.js';
import { Cleanup } from './cleanup.js';
import { BenchContext } from './context.js';
import { BENCH_USAGE, BenchUsageError, parseBenchArgs, type ScenarioName } from './args.js';
import { toolPath, treatAsMissing } from './tools.js';
import { formatFacts, formatTable, machineFacts } from './report.js';
import { startWorld } from './world.js';
import { runCachedZipScenario } from './scenarios/cached-zip.js';
import { runColdMissScenario } from './scenarios/cold-miss.js';
import { runTlsScenario } from './scenarios/tls-connect.js';
import { runGoDownloadScenario } from './scenarios/go-download.js';
import { runLargeZipScenario } from './scenarios/large-zip.js';
import { runConsoleScenario } from './scenarios/console.js';
import { runWorkersScenario } from './scenarios/workers.js';
import { DEFAULT_SCALE_ROUNDS, runScaleScenario, scaleBudgetMs } from './scenarios/scale.js';
import { DEFAULT_REDIRECT_ROUNDS, runRedirectScenario } from './scenarios/redirect.js';

/** The whole run stops starting measurements after this; each measurement has its own smaller bound too. */
const RUN_BUDGET_MS = 450_000; // the last scenarios overrun it a little: under 10 minutes in all
/** The scenarios' default rounds, which RUN_BUDGET_MS is for: --rounds N scales it. */
const BUDGETED_ROUNDS = 3;
/** What the opt-in redirect scenario adds to the budget per round (a round takes about 5 minutes); scale: scaleBudgetMs. */
const REDIRECT_ROUND_BUDGET_MS = 330_000;

async function main(): Promise<number> {
  const args = parseBenchArgs(process.argv.slice(2));
  if (args.help) {
    process.stdout.write(BENCH_USAGE);
    return 0;
  }
  for (const tool of args.without) treatAsMissing(tool);
  const redirectRounds = args.rounds ?? DEFAULT_REDIRECT_ROUNDS;
  const started = Date.now();
  const cleanup = new Cleanup();
  cleanup.installSignalHandlers();
  const workDir = mkdtempSync(join(tmpdir(), 'gmgbench-'));
  chmodSync(workDir, 0o755); // nginx workers and squid run as unprivileged users and read files below it
  if (!args.keep) cleanup.add('work directory', () => rmSync(workDir, { recursive: true, force: true }));
  const budget =
    RUN_BUDGET_MS * Math.max(1, (args.rounds ?? BUDGETED_ROUNDS) / BUDGETED_ROUNDS) +
    (args.only.has('redirect') ? redirectRounds * REDIRECT_ROUND_BUDGET_MS : 0) +
    (args.only.has('scale') ? scaleBudgetMs(args.rounds ?? DEFAULT_SCALE_ROUNDS) : 0);
  const ctx = new BenchContext(workDir, cleanup, started + budget, args.rounds);
  const facts = machineFacts({ nginx: toolPath('nginx'), squid: toolPath('squid'), go: toolPath('go'), leftOut: args.without, repoRoot: REPO_ROOT });
  let failed = false;
  try {
    // The shared fixture (module zips, origin, nginx, a gomodgate) only when a scenario needs it.
    const needsWorld = (['cached', 'tls', 'large', 'coldmiss', 'workers'] as const).some((n) => args.only.has(n));
    const world = needsWorld ? await startWorld(ctx) : null;
    const steps: [ScenarioName, () => Promise<void>][] = [
      ['cached', () => runCachedZipScenario(ctx, world!)],
      ['tls', () => runTlsScenario(ctx, world!)],
      ['go', () => runGoDownloadScenario(ctx)],
      ['large', () => runLargeZipScenario(ctx, world!)],
      ['coldmiss', () => runColdMissScenario(ctx, world!)], // its direct baseline is the longest wait
      ['console', () => runConsoleScenario(ctx)], // 10 million generated audit rows: its own data directory
      ['workers', () => runWorkersScenario(ctx, world!)], // gomodgate with 1 and N workers, nginx with 1 and auto
      ['scale', () => runScaleScenario(ctx)], // hits on an empty and on a large generated index: its own origin
      ['redirect', () => runRedirectScenario(ctx, { rounds: redirectRounds })], // its own namespace world
    ];
    for (const [name, step] of steps) {
      if (!args.only.has(name)) continue;
      try {
        await step();
      } catch (err) {
        failed = true;
        ctx.notice(`scenario ${name} failed: ${(err as Error).stack ?? err}`);
      }
    }
  } catch (err) {
    failed = true;
    ctx.notice(`setup failed: ${(err as Error).stack ?? err}`);
  } finally {
    await cleanup.runAll();
  }
  const out = [
    '',
    'gomodgate benchmarks (ratio = gomodgate / baseline; "better" says which direction is better for gomodgate)',
    formatFacts(facts),
    `run took ${((Date.now() - started) / 1000).toFixed(1)} s${args.keep ? `; files kept in ${workDir}` : ''}`,
    '',
    formatTable(ctx.rows),
    ...(ctx.notices.length ? ['', 'notices:', ...ctx.notices.map((n) => `- ${n.split('\n')[0]}`)] : []),
    '',
  ].join('\n');
  process.stdout.write(out);
  if (args.json) writeFileSync(args.json, JSON.stringify({ facts, rows: ctx.rows, notices: ctx.notices }, null, 2));
  return failed ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    if (err instanceof BenchUsageError) {
      process.stderr.write(`bench: ${err.message}\n`);
      process.exit(2);
    }
    process.stderr.write(`bench: ${(err as Error).stack ?? err}\n`);
    process.exit(1);
  },
);
