// What a doctor check reports: data, so the list can be printed for people or as JSON, and judged in one place
// (a failure exits 1, a warning does not). No I/O.

export type CheckResult = boolean | 'warn';

export interface DoctorCheck {
  /** Stable identifier: the check kind, and for per-target checks `@` and the target (e.g. upstream-tcp@https://proxy.golang.org). */
  id: string;
  title: string;
  /** true = fine, 'warn' = worth a look but not a failure, false = something is wrong. */
  ok: CheckResult;
  /** One line: what was found. */
  detail: string;
  /** One line: what to check or do ('' when there is nothing to do). */
  hint: string;
}

export const DEFAULT_PROBE_MODULE = 'golang.org/x/text';
export const DEFAULT_PROBE_TIMEOUT_MS = 5000;
export const DAY_MS = 86_400_000;

export function hasFailures(checks: readonly DoctorCheck[]): boolean {
  return checks.some((c) => c.ok === false);
}
