// The bench's output: one row per figure, gomodgate next to its same-run baseline, the ratio gomodgate/baseline
// and which direction is better; notices for skipped rows; machine facts. Text table on stdout, and the same
// rows as JSON when asked. Pure formatting (plus reading version strings): measures nothing.
import { cpus, totalmem, release, availableParallelism } from 'node:os';
import { spawnSync } from 'node:child_process';
import type { Tool } from './tools.js';

export interface Row {
  scenario: string;
  metric: string;
  unit: string;
  better: 'lower' | 'higher';
  gomodgate: number | null;
  baselineName: string;
  baseline: number | null;
  /** Anything a reader needs to trust the number (failures, counts). */
  note?: string;
}

export interface MachineFacts {
  nproc: number;
  cpu: string;
  memoryGiB: number;
  kernel: string;
  node: string;
  go: string | null;
  nginx: string | null;
  squid: string | null;
  /** Tools left out with --without (their version is not asked). */
  leftOut: Tool[];
  gomodgateCommit: string | null;
}

/** First non-empty line a command prints (stdout, else stderr: nginx -v writes there), or null. */
function versionLine(argv: string[]): string | null {
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', timeout: 10_000 });
  if (r.error) return null;
  const line = `${r.stdout ?? ''}\n${r.stderr ?? ''}`.split('\n').map((l) => l.trim()).find((l) => l !== '');
  return line ?? null;
}

/** `go`, `nginx`, `squid`: what toolPath() found (null: missing or left out); `leftOut`: the --without tools. */
export function machineFacts(tools: { nginx: string | null; squid: string | null; go: string | null; leftOut: Tool[]; repoRoot: string }): MachineFacts {
  return {
    nproc: availableParallelism(),
    cpu: cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    kernel: release(),
    node: process.version,
    go: tools.go ? versionLine([tools.go, 'version']) : null,
    nginx: tools.nginx ? versionLine([tools.nginx, '-v']) : null,
    squid: tools.squid ? versionLine([tools.squid, '-v']) : null,
    leftOut: tools.leftOut,
    gomodgateCommit: versionLine(['git', '-C', tools.repoRoot, 'rev-parse', '--short', 'HEAD']),
  };
}

function version(f: MachineFacts, tool: Tool): string {
  return f[tool] ?? `${tool}: ${f.leftOut.includes(tool) ? 'skipped (--without)' : 'not found'}`;
}

export function formatFacts(f: MachineFacts): string {
  return [
    `machine: nproc ${f.nproc}, ${f.cpu}, ${f.memoryGiB} GiB, Linux ${f.kernel}`,
    `node ${f.node}; ${version(f, 'go')}; ${version(f, 'nginx')}; ${version(f, 'squid')}`,
    `gomodgate ${f.gomodgateCommit ?? '(commit unknown)'}`,
  ].join('\n');
}

function formatNumber(v: number | null): string {
  if (v === null || !Number.isFinite(v)) return '-';
  const abs = Math.abs(v);
  if (abs >= 1000) return v.toFixed(0);
  if (abs >= 100) return v.toFixed(1);
  if (abs >= 1) return v.toFixed(2);
  return v.toPrecision(3);
}

/** "min-max" of per-round values (times `scale`), the one value when there is one, "none" when there are none. */
export function spreadOf(values: number[], digits = 1, scale = 1): string {
  if (values.length === 0) return 'none';
  const v = values.map((x) => x * scale);
  return values.length === 1 ? v[0]!.toFixed(digits) : `${Math.min(...v).toFixed(digits)}-${Math.max(...v).toFixed(digits)}`;
}

export function ratio(row: Row): number | null {
  if (row.gomodgate === null || row.baseline === null || row.baseline === 0) return null;
  return row.gomodgate / row.baseline;
}

export function formatTable(rows: Row[]): string {
  const header = ['scenario', 'metric', 'unit', 'gomodgate', 'baseline', 'value', 'ratio', 'better', 'note'];
  const body = rows.map((r) => {
    const q = ratio(r);
    return [r.scenario, r.metric, r.unit, formatNumber(r.gomodgate), r.baselineName, formatNumber(r.baseline), q === null ? '-' : `${q.toFixed(2)}x`, r.better, r.note ?? ''];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const numeric = new Set([3, 5, 6]);
  const line = (cells: string[]) => cells.map((c, i) => (numeric.has(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n');
}
