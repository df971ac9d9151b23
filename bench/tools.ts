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
