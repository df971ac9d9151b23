// What a SIGHUP can do with a re-read configuration, decided by the option table alone: every changed option
// is either applied live or reported as needing a restart, as its schema entry says. The configuration in
// force afterwards keeps the running value of every option that needs a restart, so the next SIGHUP compares
// against what really runs (and reports it again, or nothing once the file is back to it). Pure: compares
// frozen configurations, touches nothing. app.ts `reload` applies the live part.
import type { GatewayConfig } from './load.js';
import { OPTIONS } from './schema.js';

export type OptionKey = Exclude<keyof GatewayConfig, 'configFile'>;

export interface ReloadPlan {
  /** Changed options the running gateway applies (schema `reload: 'live'`). */
  live: OptionKey[];
  /** Changed options that take effect only after a restart. */
  restart: OptionKey[];
}

/** The schema keys SIGHUP applies live, in schema order. */
export function liveOptionKeys(): OptionKey[] {
  return OPTIONS.filter((o) => o.reload === 'live').map((o) => o.key as OptionKey);
}

/** Every schema option whose value differs between `current` and `next`, split by its reload mode. */
export function planReload(current: GatewayConfig, next: GatewayConfig): ReloadPlan {
  const plan: ReloadPlan = { live: [], restart: [] };
  for (const spec of OPTIONS) {
    const key = spec.key as OptionKey;
    if (JSON.stringify(current[key]) === JSON.stringify(next[key])) continue;
    plan[spec.reload === 'live' ? 'live' : 'restart'].push(key);
  }
  return plan;
}

/**
 * The configuration in force after a reload: `next`, with each option of `notApplied` (those needing a restart,
 * and any live one the gateway had no way to apply) kept at its running value from `running`.
 */
export function inForceAfterReload(running: GatewayConfig, next: GatewayConfig, notApplied: readonly OptionKey[]): GatewayConfig {
  const merged: Record<string, unknown> = { ...next };
  for (const key of notApplied) merged[key] = running[key];
  return Object.freeze(merged) as unknown as GatewayConfig;
}
