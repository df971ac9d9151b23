// The one configuration schema: every option's name, type, default and help text.
// The CLI flags, `--help`, GOMODGATE_* environment variables and YAML keys all derive from this table,
// so an option exists in one place. Pure: no I/O.

export type OptionType = 'string' | 'port' | 'count' | 'duration' | 'list' | 'boolean' | 'enum';

export interface OptionSpec {
  /** Dotted config key, e.g. "dataDir" or "cache.maxBytes"; the flag is its kebab-case form. */
  key: string;
  type: OptionType;
  default: unknown;
  describe: string;
  choices?: readonly string[];
  /** The command-line flag when it differs from the key's kebab-case form. */
  flag?: string;
  /** Only for `serve` (not for `ca` commands). */
  group?: 'Listeners' | 'Interception' | 'Upstream' | 'Cache' | 'Storage' | 'Logging';
}

export const DEFAULT_INTERCEPT_HOSTS = [
  'proxy.golang.org',
  'sum.golang.org',
  'sum.golang.google.cn',
  'goproxy.io',
  'goproxy.cn',
] as const;

export const OPTIONS: readonly OptionSpec[] = [
  { key: 'dataDir', type: 'string', default: './data', group: 'Storage', describe: 'Cache blobs and the SQLite index (gomodgate.db) live here' },
  { key: 'caDir', type: 'string', default: './certs', group: 'Storage', describe: 'The gateway CA (certs/ca.pem, keys/ca.private.key); created 0700 when missing' },
  { key: 'listen', type: 'string', default: '::', group: 'Listeners', describe: 'Address the TLS, HTTP and proxy listeners bind to (:: = all, IPv4 and IPv6)' },
  { key: 'tlsPort', type: 'port', default: 8443, group: 'Listeners', describe: 'Port that iptables REDIRECTs LAN port-443 traffic to' },
  { key: 'httpPort', type: 'port', default: 8080, group: 'Listeners', describe: 'Port that iptables REDIRECTs LAN port-80 traffic to' },
  { key: 'proxyPort', type: 'port', default: 3128, group: 'Listeners', describe: 'Explicit proxy (HTTPS_PROXY, CONNECT to port 443 only) and plain GOPROXY endpoint' },
  { key: 'allowClients', type: 'list', default: ['127.0.0.0/8', '::1/128', '10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7', 'fe80::/10'], group: 'Listeners', describe: 'CIDRs allowed to use the proxy port (repeatable; default: loopback and private ranges)' },
  { key: 'interceptHosts', flag: 'intercept-host', type: 'list', default: [...DEFAULT_INTERCEPT_HOSTS], group: 'Interception', describe: 'Go module hosts whose TLS is terminated (exact names; repeatable; replaces the default list)' },
  { key: 'upstream', type: 'string', default: 'https://proxy.golang.org', group: 'Upstream', describe: 'Upstream Go proxy for the plain GOPROXY endpoint on the proxy port' },
  { key: 'upstreamCa', type: 'list', default: [], group: 'Upstream', describe: 'Extra PEM files of roots trusted for upstream TLS, besides the system roots and NODE_EXTRA_CA_CERTS' },
  { key: 'upstreamTimeout', type: 'duration', default: 30, group: 'Upstream', describe: 'Give up on an upstream that has not answered (headers) or has stalled this long (seconds, or 30s/2m)' },
  { key: 'mutableTtl', type: 'duration', default: 60, group: 'Cache', describe: 'How long lists, @latest and checksum-DB heads are served from cache before asking upstream again' },
  { key: 'negativeTtl', type: 'duration', default: 30, group: 'Cache', describe: 'How long an upstream 404/410 is remembered' },
  { key: 'logLevel', type: 'enum', default: 'info', choices: ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'], group: 'Logging', describe: 'Log level (JSON lines on stdout)' },
];

export function flagName(key: string): string {
  const spec = OPTIONS.find((o) => o.key === key);
  if (spec?.flag) return spec.flag;
  return key.replace(/\./g, '-').replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

export function envName(key: string): string {
  return 'GOMODGATE_' + key.replace(/\./g, '_').replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase();
}
