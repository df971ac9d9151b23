// `gomodgate doctor`: the troubleshooting chapters of the "go mod download fails behind a corporate network"
// guide, automated against the gateway's own configuration: upstream checks (doctor-upstream.ts), the CA, data
// directory and listeners (doctor-local.ts) and the REDIRECT rules (doctor-redirect.ts), run concurrently and
// reported in a stable order. It never changes anything: the only write is a temp file in the data directory.
import { networkInterfaces } from 'node:os';
import type { GatewayConfig } from '../config/load.js';
import { describeCause } from '../errors.js';
import { loadTrustedRoots } from '../upstream/upstream-client.js';
import { DEFAULT_PROBE_TIMEOUT_MS, type DoctorCheck } from './doctor-check.js';
import { checkCa, checkDataDir, checkListeners } from './doctor-local.js';
import { judgeRedirects, redirectView, runSave } from './doctor-redirect.js';
import { checkUpstreams } from './doctor-upstream.js';
import { servingPid } from '../store/data-dir-lock.js';

export { DEFAULT_PROBE_MODULE, DEFAULT_PROBE_TIMEOUT_MS, hasFailures, type CheckResult, type DoctorCheck } from './doctor-check.js';

export interface DoctorOptions {
  config: GatewayConfig;
  /** Module path whose @v/list is fetched from each proxy upstream; default golang.org/x/text. */
  probeModule?: string;
  /** Bound of each network step (DNS, TCP, TLS, CONNECT, HTTP); default 5000 ms. */
  timeoutMs?: number;
  /** Environment for HTTPS_PROXY / NO_PROXY when config.egressProxy is empty; default process.env. */
  env?: NodeJS.ProcessEnv;
}

/** Every check, in a stable order: upstreams (in config order), then CA, data directory, listeners, REDIRECT rules. */
export async function runDoctor(opts: DoctorOptions): Promise<DoctorCheck[]> {
  const { config } = opts;
  const ms = opts.timeoutMs ?? DEFAULT_PROBE_TIMEOUT_MS;
  const env = opts.env ?? process.env;
  const checks: DoctorCheck[] = [];

  let roots: string[];
  try {
    roots = loadTrustedRoots(config.upstreamCa);
    if (config.upstreamCa.length > 0) {
      checks.push({ id: 'upstream-ca', title: 'extra upstream roots (--upstream-ca)', ok: true, detail: `${config.upstreamCa.join(', ')} readable`, hint: '' });
    }
  } catch (err) {
    checks.push({ id: 'upstream-ca', title: 'extra upstream roots (--upstream-ca)', ok: false, detail: describeCause(err), hint: 'fix the path in --upstream-ca: the gateway does not start without it' });
    roots = loadTrustedRoots([]);
  }

  const saved = Promise.all([runSave('iptables-save', ms), runSave('ip6tables-save', ms)]);
  const [upstream, listeners, [v4, v6]] = await Promise.all([
    checkUpstreams(config, opts.probeModule, { timeoutMs: ms, roots, env, config }),
    saved.then(([v4, v6]) => checkListeners(config, ms, redirectView([v4, v6], config.tlsPort, networkInterfaces()), servingPid(config.dataDir))),
    saved,
  ]);
  checks.push(...upstream);
  checks.push(...checkCa(config.caDir, Date.now()));
  checks.push(...checkDataDir(config.dataDir));
  checks.push(...listeners);
  checks.push(judgeRedirects('IPv4', v4, config.tlsPort, config.httpPort));
  checks.push(judgeRedirects('IPv6', v6, config.tlsPort, config.httpPort));
  return checks;
}

/** The human-readable report: one line per check (✔ ok, ! warning, ✘ failed), its hint below when there is one. */
export function formatReport(checks: readonly DoctorCheck[]): string {
  const lines: string[] = [];
  for (const c of checks) {
    const mark = c.ok === true ? '✔' : c.ok === 'warn' ? '!' : '✘';
    lines.push(`${mark} ${c.title}: ${c.detail}`);
    if (c.ok !== true && c.hint) lines.push(`    → ${c.hint}`);
  }
  const failed = checks.filter((c) => c.ok === false).length;
  const warned = checks.filter((c) => c.ok === 'warn').length;
  lines.push('');
  lines.push(`${checks.length} checks: ${checks.length - failed - warned} ok, ${warned} warnings, ${failed} failed`);
  return lines.join('\n') + '\n';
}
