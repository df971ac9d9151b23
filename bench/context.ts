// What every scenario gets: a temp directory of its own under the run's work directory, the undo list, the rows
// it adds to the report, notices (a missing tool, a skipped row), and the run's overall deadline.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Cleanup } from './cleanup.js';
import type { Row } from './report.js';

export class BenchContext {
  readonly rows: Row[] = [];
  readonly notices: string[] = [];

  constructor(
    readonly workDir: string,
    readonly cleanup: Cleanup,
    /** Epoch ms after which scenarios start no new measurement. */
    readonly deadline: number,
    /** --rounds N: the rounds of every scenario that has rounds; null = each scenario's own default. */
    private readonly roundsOverride: number | null = null,
  ) {}

  /** How many rounds a scenario runs: --rounds N when given, else its default. */
  rounds(scenarioDefault: number): number {
    return this.roundsOverride ?? scenarioDefault;
  }

  dir(name: string): string {
    const d = join(this.workDir, name);
    mkdirSync(d, { recursive: true, mode: 0o755 });
    return d;
  }

  notice(message: string): void {
    this.notices.push(message);
    process.stderr.write(`bench: ${message}\n`);
  }

  progress(message: string): void {
    process.stderr.write(`bench: ${message}\n`);
  }

  /** Milliseconds left before the deadline (never negative). */
  remainingMs(): number {
    return Math.max(0, this.deadline - Date.now());
  }

  add(row: Row): void {
    this.rows.push(row);
  }
}
