// Runs one load against gomodgate and against its baseline in alternating rounds (gomodgate first in odd rounds,
// the baseline first in even ones, so a noisy moment of a shared machine does not always land on one side) and
// adds the rows: throughput and latency quantiles, each the median over the rounds, with the spread of the
// per-round ratios in the note so a reader sees how stable the figure was.
import type { BenchContext } from './context.js';
import { MiB, median, quantile, type LoadResult } from './load-client.js';
import type { Row } from './report.js';

export interface LoadComparison {
  scenario: string;
  label: string;
  throughput: 'MiB/s' | 'req/s';
  quantiles: { q: number; name: string }[];
  rounds: number;
  gomodgate: () => Promise<LoadResult>;
  baseline: (() => Promise<LoadResult>) | null;
  baselineName: string;
}

interface Figures {
  throughput: number | null;
  latency: (number | null)[];
}

function figures(r: LoadResult, c: LoadComparison): Figures {
  const seconds = r.elapsedMs / 1000;
  const throughput = r.ok === 0 ? null : c.throughput === 'MiB/s' ? r.bytes / MiB / seconds : r.ok / seconds;
  return { throughput, latency: c.quantiles.map(({ q }) => (r.latenciesMs.length ? quantile(r.latenciesMs, q) : null)) };
}

function medianOf(values: (number | null)[]): number | null {
  const present = values.filter((v): v is number => v !== null);
  return present.length ? median(present) : null;
}

function spread(g: (number | null)[], b: (number | null)[]): string {
  const ratios = g.map((x, i) => (x !== null && b[i] ? x / b[i]! : null)).filter((v): v is number => v !== null);
  if (ratios.length < 2) return '';
  return `, ratio per round ${Math.min(...ratios).toFixed(2)}-${Math.max(...ratios).toFixed(2)}`;
}

export async function compareLoads(ctx: BenchContext, c: LoadComparison): Promise<void> {
  const gmg: LoadResult[] = [];
  const base: LoadResult[] = [];
  for (let round = 0; round < c.rounds; round++) {
    if (round % 2 === 0 || !c.baseline) {
      gmg.push(await c.gomodgate());
      if (c.baseline) base.push(await c.baseline());
    } else {
      base.push(await c.baseline());
      gmg.push(await c.gomodgate());
    }
  }
  const gf = gmg.map((r) => figures(r, c));
  const bf = base.map((r) => figures(r, c));
  const count = (rs: LoadResult[], who: string) => {
    if (rs.length === 0) return '';
    const ok = rs.reduce((n, r) => n + r.ok, 0);
    const failed = rs.reduce((n, r) => n + r.failed, 0);
    return `${who} n=${ok}${failed ? ` (${failed} failed: ${rs.find((r) => r.firstError)?.firstError})` : ''}`;
  };
  const rows: Row[] = [];
  const gThroughput = gf.map((f) => f.throughput);
  const bThroughput = bf.map((f) => f.throughput);
  rows.push({
    scenario: c.scenario,
    metric: `${c.label}: throughput`,
    unit: c.throughput,
    better: 'higher',
    gomodgate: medianOf(gThroughput),
    baselineName: c.baselineName,
    baseline: c.baseline ? medianOf(bThroughput) : null,
    note: `${c.rounds} round${c.rounds === 1 ? '' : 's'}; ${[count(gmg, 'gomodgate'), count(base, 'baseline')].filter(Boolean).join(', ')}${spread(gThroughput, bThroughput)}`,
  });
  c.quantiles.forEach(({ name }, i) => {
    const g = gf.map((f) => f.latency[i]!);
    const b = bf.map((f) => f.latency[i]!);
    rows.push({
      scenario: c.scenario,
      metric: `${c.label}: ${name} latency`,
      unit: 'ms',
      better: 'lower',
      gomodgate: medianOf(g),
      baselineName: c.baselineName,
      baseline: c.baseline ? medianOf(b) : null,
      note: spread(g, b).replace(/^, /, ''),
    });
  });
  for (const row of rows) ctx.add(row);
}
