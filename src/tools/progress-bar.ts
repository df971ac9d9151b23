// A one-line progress bar for long cache commands (verify, warm), drawn on stderr only when it is a terminal:
// piped or redirected output never gets carriage returns or escape codes. Redraws at most ~10 times a second.
// Never writes to stdout (that carries the report).
import { humanBytes } from './audit-format.js';

export interface ProgressTarget {
  isTTY?: boolean;
  columns?: number;
  write(chunk: string): unknown;
}

export interface ProgressOptions {
  label: string;
  total: number;
  /** How to print done/total: 'bytes' (KiB, MiB…) or 'count'. */
  unit: 'bytes' | 'count';
}

function human(n: number, unit: 'bytes' | 'count'): string {
  return unit === 'count' ? String(n) : humanBytes(n);
}

export class ProgressBar {
  private done = 0;
  private lastDraw = 0;
  private drawn = false;
  private finished = false;
  private readonly enabled: boolean;

  constructor(private readonly out: ProgressTarget, private readonly opts: ProgressOptions, private readonly now: () => number = Date.now) {
    this.enabled = out.isTTY === true;
  }

  /** Sets the progress to `done` (of total) and redraws when due. */
  update(done: number, note = ''): void {
    this.done = done;
    if (!this.enabled || this.finished) return;
    const t = this.now();
    if (this.drawn && t - this.lastDraw < 100 && done < this.opts.total) return;
    this.lastDraw = t;
    this.draw(note);
  }

  add(n: number, note = ''): void {
    this.update(this.done + n, note);
  }

  /** Draws the final state and ends the line (so following output starts on its own line). */
  finish(): void {
    if (!this.enabled || this.finished) return;
    this.draw('');
    this.out.write('\n');
    this.finished = true;
  }

  /** The bar as text (for tests and for draw). */
  render(width: number, note = ''): string {
    const total = Math.max(this.opts.total, 0);
    const ratio = total === 0 ? 1 : Math.min(1, this.done / total);
    const pct = `${Math.floor(ratio * 100)}`.padStart(3) + '%';
    const counts = `${human(this.done, this.opts.unit)}/${human(total, this.opts.unit)}`;
    const fixed = `${this.opts.label} [] ${pct} ${counts}`;
    const barWidth = Math.max(10, Math.min(40, width - fixed.length - 2));
    const filled = Math.round(ratio * barWidth);
    let line = `${this.opts.label} [${'#'.repeat(filled)}${'-'.repeat(barWidth - filled)}] ${pct} ${counts}`;
    if (note) line += ` ${note}`;
    return line.length > width - 1 ? line.slice(0, Math.max(0, width - 1)) : line;
  }

  private draw(note: string): void {
    const width = this.out.columns && this.out.columns > 20 ? this.out.columns : 80;
    // \r to the line start, the bar, then erase the rest of the line (ESC [ K)
    this.out.write(`\r${this.render(width, note)}\x1b[K`);
    this.drawn = true;
  }
}
