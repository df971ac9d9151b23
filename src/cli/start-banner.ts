// What `serve` prints for a person when stdout is a terminal, once the listeners are up: where each listener
// is, which CA file to hand out and its fingerprint, the onboarding page, the data directory, the upstream, who
// may use the proxy port, and the next step. Pure: formats what it is given (main.ts gathers the facts).
import { isAbsolute, join, resolve } from 'node:path';
import net from 'node:net';
import { redactUrlsInText } from '../redact.js';

export interface BannerFacts {
  version: string;
  listen: string;
  adminListen: string;
  ports: { tls: number; http: number; proxy: number; admin: number };
  caCertFile: string;
  caFingerprint256: string;
  dataDir: string;
  upstream: string;
  offline: boolean;
  allowClients: readonly string[];
  interceptHosts: readonly string[];
  configFile: string | null;
  /** An address clients can use to reach this machine (for URLs), when `listen` is a wildcard. */
  reachableAddress: string | null;
  cwd: string;
  /** The checkout's scripts/ directory (absolute): where install-iptables.sh is, wherever serve was started. */
  scriptsDir: string;
}

function hostPort(host: string, port: number): string {
  return `${net.isIPv6(host) ? `[${host}]` : host}:${port}`;
}

function isWildcard(address: string): boolean {
  return address === '::' || address === '0.0.0.0';
}

function isLoopback(address: string): boolean {
  return address === '::1' || address.startsWith('127.');
}

export function formatStartBanner(f: BannerFacts): string {
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(f.cwd, p));
  const urlHost = isWildcard(f.listen) ? (f.reachableAddress ?? '<this-host>') : f.listen;
  const proxyUrl = `http://${hostPort(urlHost, f.ports.proxy)}`;
  const bind = (port: number) => hostPort(f.listen, port);
  const upstream = f.offline
    ? 'none: --offline, answers only from the cache'
    : f.upstream
      ? redactUrlsInText(f.upstream)
      : 'the host each client asked for (the plain GOPROXY endpoint: https://proxy.golang.org)';
  const lines = [
    `gomodgate ${f.version} is ready${f.configFile ? ` (config ${abs(f.configFile)})` : ''}`,
    '',
    `  transparent TLS   ${bind(f.ports.tls)}   (iptables REDIRECT target for LAN port 443)`,
    `  transparent HTTP  ${bind(f.ports.http)}   (REDIRECT target for LAN port 80)`,
    `  explicit proxy    ${bind(f.ports.proxy)}   (HTTPS_PROXY=${proxyUrl} or GOPROXY=${proxyUrl})`,
    `  admin             ${hostPort(f.adminListen, f.ports.admin)}   (/healthz, /readyz, /metrics)`,
    '',
    `  CA certificate    ${abs(f.caCertFile)}`,
    `  SHA-256           ${f.caFingerprint256}`,
    `  onboarding page   ${proxyUrl}/   (the CA as PEM and DER, and how to trust it)`,
    `  data directory    ${abs(f.dataDir)}`,
    `  upstream          ${upstream}`,
    `  intercepted       ${f.interceptHosts.join(', ')}`,
  ];
  if (!isLoopback(f.listen)) {
    lines.push(
      '',
      `  The proxy port ${f.ports.proxy} listens on ${isWildcard(f.listen) ? 'every address of this machine' : f.listen}: --allow-clients lets in`,
      `  ${f.allowClients.join(', ')}.`,
      '  Every host on those networks (this LAN, a café Wi-Fi) can use it. For this machine only: --listen 127.0.0.1',
      '  (or narrow --allow-clients).',
    );
  }
  if (isLoopback(f.listen)) {
    // REDIRECT delivers to the LAN interface's address, which a loopback listener never accepts
    lines.push(
      '',
      `  Listening on ${f.listen} only: for this machine (HTTPS_PROXY or GOPROXY above). To serve the LAN, restart with`,
      '  --listen :: and send it through with scripts/install-iptables.sh.',
      '',
    );
  } else {
    lines.push(
      '',
      '  Next: send the LAN through it (as root, on the gateway; --dry-run shows the rules first):',
      `    ${join(f.scriptsDir, 'install-iptables.sh')} --lan-if <LAN interface> --tls-port ${f.ports.tls} --http-port ${f.ports.http}`,
      '  and give clients the CA: the onboarding page or the file above. Live requests: `gomodgate audit tail`.',
      '',
    );
  }
  return lines.join('\n') + '\n';
}
