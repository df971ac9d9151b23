// Where the baseline tools are, or null when missing. `--without TOOL` makes the bench treat an installed
// tool as missing, to see (and test) how it reports a skipped baseline.
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

export type Tool = 'nginx' | 'squid' | 'go';
export const TOOLS: readonly Tool[] = ['nginx', 'squid', 'go'];

const pretendMissing = new Set<Tool>();

export function treatAsMissing(tool: Tool): void {
  pretendMissing.add(tool);
}

const CANDIDATES: Record<Exclude<Tool, 'go'>, string[]> = {
  nginx: ['/usr/sbin/nginx', '/usr/bin/nginx'],
  squid: ['/usr/sbin/squid', '/usr/bin/squid'],
};

/** Absolute path of nginx or squid; for go, 'go' when `go version` runs. Null when missing. */
export function toolPath(tool: Tool): string | null {
  if (pretendMissing.has(tool)) return null;
  if (tool === 'go') return spawnSync('go', ['version'], { timeout: 30_000 }).status === 0 ? 'go' : null;
  return CANDIDATES[tool].find((p) => existsSync(p)) ?? null;
}

const PACKAGES: Record<Tool, string> = { nginx: 'nginx', squid: 'squid', go: 'golang-go' };

/** Why a tool is missing, for notices: "not found (apt-get install nginx)" or "left out with --without". */
export function missingReason(tool: Tool): string {
  return pretendMissing.has(tool) ? `${tool} left out with --without` : `${tool} not found (apt-get install ${PACKAGES[tool]})`;
}

/** Squid's certificate generator for ssl-bump (shipped by Debian's squid-openssl, not by plain squid). */
export const SQUID_CERTGEN = '/usr/lib/squid/security_file_certgen';

/**
 * For the rows that need more than the tools above: why Squid cannot ssl-bump (squid without OpenSSL or without
 * security_file_certgen: apt-get install squid-openssl) or why wrk is missing; null when usable.
 */
export function bumpToolMissing(tool: 'squid-openssl' | 'wrk'): string | null {
  if (tool === 'wrk') return spawnSync('wrk', ['--version'], { timeout: 10_000 }).error ? 'wrk not found (apt-get install wrk)' : null;
  const squid = toolPath('squid');
  if (!squid) return missingReason('squid').replace('apt-get install squid', 'apt-get install squid-openssl');
  const version = spawnSync(squid, ['-v'], { encoding: 'utf8', timeout: 10_000 }).stdout ?? '';
  if (!version.includes('--with-openssl') || !existsSync(SQUID_CERTGEN)) return `squid cannot ssl-bump (no OpenSSL or no ${SQUID_CERTGEN}; apt-get install squid-openssl)`;
  return null;
}
