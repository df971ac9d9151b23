// The bench's command line: parsed into what run.ts needs, with no side effect (tools left out are returned, not
// applied), so the parsing is tested without running a scenario. Throws BenchUsageError for a bad argument.
import { TOOLS, type Tool } from './tools.js';

export const SCENARIOS = ['cached', 'tls', 'go', 'large', 'coldmiss', 'console', 'workers', 'scale', 'redirect'] as const;
export type ScenarioName = (typeof SCENARIOS)[number];
/** Opt-in scenarios: run only when named in --only. */
export const OPT_IN: readonly ScenarioName[] = ['scale', 'redirect'];

export const BENCH_USAGE = `Usage: node dist/bench/run.js [--only LIST] [--without LIST] [--json FILE] [--keep] [--rounds N]   (npm run bench -- ...)

Measures gomodgate next to baselines measured in the same run (nginx, Squid, direct, the Go test proxy) and
prints absolute figures and ratios. Loopback only, except redirect (network namespaces, root).

  --only LIST     comma-separated scenarios: ${SCENARIOS.join(',')}
                  (default: all but scale and redirect, which run only when named: scale generates a 1.2 GB
                  index and takes about 2.5 minutes with its 2 rounds, redirect about 5 minutes a round)
  --without LIST  treat these baseline tools as missing: ${TOOLS.join(',')}
  --json FILE     also write the facts, rows and notices as JSON
  --keep          keep the work directory (its path is printed)
  --rounds N      rounds (1-20) of every scenario that has rounds: cached, tls, large, coldmiss and workers
                  (default 3), scale (default 2) and redirect (default 1). go runs each download once (cold,
                  then warm), and console times each page as the median of 7 requests: neither has rounds.
  -h, --help      show this help
`;

export class BenchUsageError extends Error {}

export interface BenchArgs {
  help: boolean;
  only: Set<ScenarioName>;
  without: Tool[];
  json: string | null;
  keep: boolean;
  /** null: each scenario's default. */
  rounds: number | null;
}

export function parseBenchArgs(argv: readonly string[]): BenchArgs {
  const args: BenchArgs = { help: false, only: new Set(SCENARIOS.filter((n) => !OPT_IN.includes(n))), without: [], json: null, keep: false, rounds: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '-h' || a === '--help') {
      args.help = true;
    } else if (a === '--only') {
      const names = (argv[++i] ?? '').split(',').filter(Boolean);
      const bad = names.filter((n) => !SCENARIOS.includes(n as ScenarioName));
      if (bad.length || names.length === 0) throw new BenchUsageError(`--only takes a comma-separated list of ${SCENARIOS.join(', ')} (got "${names.join(',')}")`);
      args.only = new Set(names as ScenarioName[]);
    } else if (a === '--json') {
      args.json = argv[++i] ?? null;
      if (!args.json) throw new BenchUsageError('--json needs a file name');
    } else if (a === '--without') {
      const names = (argv[++i] ?? '').split(',').filter(Boolean);
      const bad = names.filter((n) => !TOOLS.includes(n as Tool));
      if (bad.length || names.length === 0) throw new BenchUsageError(`--without takes a comma-separated list of ${TOOLS.join(', ')} (got "${names.join(',')}")`);
      args.without.push(...(names as Tool[]));
    } else if (a === '--keep') {
      args.keep = true;
    } else if (a === '--rounds') {
      const n = Number(argv[++i]);
      if (!Number.isInteger(n) || n < 1 || n > 20) throw new BenchUsageError(`--rounds takes a whole number from 1 to 20 (got "${argv[i] ?? ''}")`);
      args.rounds = n;
    } else {
      throw new BenchUsageError(`unknown argument ${a} (see --help)`);
    }
  }
  return args;
}
