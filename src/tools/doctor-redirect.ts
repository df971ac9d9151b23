// The iptables REDIRECT check: parses `iptables-save -t nat` / `ip6tables-save -t nat` output and judges whether
// LAN port 443 and 80 reach the gateway's TLS and HTTP listeners. A missing rule is a warning (clients may use the
// proxy port instead); a rule pointing at the wrong port is a failure. Only reads the rules, never changes them.
import { execFile } from 'node:child_process';
import { describeCause } from '../errors.js';
import type { DoctorCheck } from './doctor-check.js';
import { errorCode } from './doctor-probe.js';

export interface RedirectRule {
  chain: string;
  /** -i value, '!' prefixed when negated; '' when absent. */
  inInterface: string;
  /** Destination port ranges [low, high]. */
  dports: Array<[number, number]>;
  toPort: number;
  /** The rule as iptables-save printed it. */
  text: string;
}

function tokenize(line: string): string[] {
  const out: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|(\S+)/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(line)) !== null) out.push(m[1] ?? m[2]!);
  return out;
}

function parsePorts(spec: string): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (const part of spec.split(',')) {
    const [lo, hi] = part.split(':');
    const a = Number(lo);
    const b = hi === undefined ? a : Number(hi);
    if (Number.isInteger(a) && Number.isInteger(b)) out.push([a, b]);
  }
  return out;
}

/** The TCP REDIRECT rules of `iptables-save -t nat` (or ip6tables-save) output, in any chain. */
export function parseRedirectRules(saved: string): RedirectRule[] {
  const rules: RedirectRule[] = [];
  for (const raw of saved.split('\n')) {
    const line = raw.trim();
    if (!line.startsWith('-A ')) continue;
    const t = tokenize(line);
    let target = '';
    let proto = '';
    let inInterface = '';
    let dports: Array<[number, number]> = [];
    let toPort = 0;
    let negatedPorts = false;
    for (let i = 2; i < t.length; i++) {
      const negated = t[i - 1] === '!';
      switch (t[i]) {
        case '-j':
          target = t[++i] ?? '';
          break;
        case '-p':
          proto = t[++i] ?? '';
          break;
        case '-i':
          inInterface = (negated ? '!' : '') + (t[++i] ?? '');
          break;
        case '--dport':
        case '--dports':
        case '--destination-port':
        case '--destination-ports':
          if (negated) negatedPorts = true;
          dports = parsePorts(t[++i] ?? '');
          break;
        case '--to-ports':
        case '--to-port':
          toPort = Number((t[++i] ?? '').split('-')[0]);
          break;
      }
    }
    if (target !== 'REDIRECT' || proto !== 'tcp' || negatedPorts || dports.length === 0 || !Number.isInteger(toPort) || toPort <= 0) continue;
    rules.push({ chain: t[1]!, inInterface, dports, toPort, text: line });
  }
  return rules;
}

export interface SaveOutput {
  /** null when the command could not run; then `problem` says why. */
  stdout: string | null;
  problem: 'missing' | 'denied' | 'failed' | null;
  message: string;
}

/** Judges one family's REDIRECT rules for 443 → tlsPort and 80 → httpPort. */
export function judgeRedirects(family: 'IPv4' | 'IPv6', saved: SaveOutput, tlsPort: number, httpPort: number): DoctorCheck {
  const id = family === 'IPv4' ? 'redirect-ipv4' : 'redirect-ipv6';
  const tool = family === 'IPv4' ? 'iptables' : 'ip6tables';
  const title = `${family} REDIRECT rules (${tool} -t nat)`;
  const without = 'clients can still use the gateway with HTTPS_PROXY or GOPROXY on the proxy port';
  if (saved.stdout === null) {
    const detail = saved.problem === 'missing' ? `${tool}-save is not installed: the rules cannot be checked` : saved.problem === 'denied' ? `${tool}-save is not permitted: ${saved.message}` : `${tool}-save failed: ${saved.message}`;
    return { id, title, ok: 'warn', detail, hint: saved.problem === 'denied' ? 'run doctor as root to check the REDIRECT rules' : `install iptables to check the rules (${without})` };
  }
  const rules = parseRedirectRules(saved.stdout);
  const covering = (port: number) => rules.filter((r) => r.dports.some(([lo, hi]) => port >= lo && port <= hi));
  const describe = (r: RedirectRule, port: number) => `${port} → ${r.toPort} (${r.chain}${r.inInterface ? ` -i ${r.inInterface}` : ''})`;
  const parts: string[] = [];
  const wrong: string[] = [];
  const missing: Array<{ port: number; to: number }> = [];
  for (const [port, listener] of [[443, tlsPort], [80, httpPort]] as const) {
    const found = covering(port);
    const right = found.filter((r) => r.toPort === listener);
    if (right.length > 0) parts.push(describe(right[0]!, port));
    else if (found.length > 0) wrong.push(`port ${port} is redirected to ${found[0]!.toPort}, but the ${port === 443 ? 'TLS' : 'HTTP'} listener is on ${listener} (${found[0]!.chain})`);
    else missing.push({ port, to: listener });
  }
  if (wrong.length > 0) {
    return { id, title, ok: false, detail: wrong.join('; '), hint: `fix the rule's --to-ports or the gateway's ${wrong[0]!.includes('TLS') ? '--tls-port' : '--http-port'}: redirected clients reach nothing or the wrong listener` };
  }
  if (missing.length > 0) {
    const m = missing.map((x) => `${x.port} → ${x.to}`).join(' and ');
    return {
      id,
      title,
      ok: 'warn',
      detail: `no REDIRECT rule for ${m}${parts.length ? ` (found ${parts.join(', ')})` : ''}; ${without}`,
      // the script the README installs with: both ports, both families, a chain of its own that uninstall removes
      hint: `for transparent mode: scripts/install-iptables.sh --lan-if <LAN interface> --tls-port ${tlsPort} --http-port ${httpPort} (by hand: ${tool} -t nat -A PREROUTING -i <LAN interface> -p tcp --dport ${missing[0]!.port} -j REDIRECT --to-ports ${missing[0]!.to})`,
    };
  }
  return { id, title, ok: true, detail: parts.join(', '), hint: '' };
}

/** What the REDIRECT rules say about where redirected connections go and where they arrive. */
export interface RedirectView {
  /** The ports any REDIRECT rule sends to; null when the rules cannot be read. */
  toPorts: Set<number> | null;
  /** The addresses of the interfaces whose port 443 is redirected to the TLS port, where those connections
   *  arrive; null when unknown (no such rule, one for any interface, a negated or wildcard (eth+) one, an
   *  interface that does not exist, or unreadable rules). */
  lanAddresses: string[] | null;
}

export function redirectView(saved: readonly SaveOutput[], tlsPort: number, interfaces: NodeJS.Dict<Array<{ address: string }>>): RedirectView {
  if (saved.some((s) => s.stdout === null)) return { toPorts: null, lanAddresses: null };
  const rules = saved.flatMap((s) => parseRedirectRules(s.stdout!));
  const toPorts = new Set(rules.map((r) => r.toPort));
  const names = new Set<string>();
  for (const r of rules) {
    if (r.toPort !== tlsPort || !r.dports.some(([lo, hi]) => 443 >= lo && 443 <= hi)) continue;
    if (r.inInterface === '' || r.inInterface.startsWith('!') || r.inInterface.endsWith('+')) return { toPorts, lanAddresses: null };
    names.add(r.inInterface);
  }
  if (names.size === 0) return { toPorts, lanAddresses: null };
  const lanAddresses: string[] = [];
  for (const name of names) {
    const found = interfaces[name];
    if (!found) return { toPorts, lanAddresses: null };
    lanAddresses.push(...found.map((a) => a.address));
  }
  return { toPorts, lanAddresses };
}

export function runSave(command: string, ms: number): Promise<SaveOutput> {
  return new Promise((done) => {
    execFile(command, ['-t', 'nat'], { timeout: ms, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (!err) {
        done({ stdout, problem: null, message: '' });
        return;
      }
      const code = errorCode(err);
      const message = (String(stderr).trim().split('\n')[0] ?? '') || describeCause(err);
      if (code === 'ENOENT') done({ stdout: null, problem: 'missing', message });
      else if (code === 'EACCES' || /permission denied|must be root|not permitted/i.test(message)) done({ stdout: null, problem: 'denied', message });
      else done({ stdout: null, problem: 'failed', message });
    });
  });
}
