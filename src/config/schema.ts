// The one configuration schema: every option's name, type, default and help text.
// The CLI flags, `--help`, GOMODGATE_* environment variables and YAML keys all derive from this table,
// so an option exists in one place, and so does whether SIGHUP applies it live. Pure: no I/O.

export type OptionType = 'string' | 'port' | 'count' | 'size' | 'duration' | 'list' | 'boolean' | 'enum' | 'parallelism';

export interface OptionSpec {
  /** Dotted config key, e.g. "dataDir" or "cache.maxBytes"; the flag is its kebab-case form. */
  key: string;
  type: OptionType;
  default: unknown;
  describe: string;
  choices?: readonly string[];
  /** For lists: keep items exactly as typed (not trimmed), as the go command reads the same setting. */
  verbatim?: boolean;
  /** The command-line flag when it differs from the key's kebab-case form. */
  flag?: string;
  /**
   * What SIGHUP does with a changed value: 'live' = the running gateway applies it (app.ts `reload`, driven by
   * planReload), 'restart' = reported as needing a restart. Every option must say which.
   */
  reload: 'live' | 'restart';
  /** For durations: "off" is accepted and means 0 (never). */
  offIsZero?: boolean;
  /** Only for `serve` (not for `ca` commands). */
  group?: 'Processes' | 'Listeners' | 'Interception' | 'Upstream' | 'Cache' | 'Trust' | 'Admin' | 'Console' | 'Limits' | 'Storage' | 'Logging';
}

export const DEFAULT_INTERCEPT_HOSTS = [
  'proxy.golang.org',
  'sum.golang.org',
  'sum.golang.google.cn',
  'goproxy.io',
  'goproxy.cn',
  'vuln.go.dev',
] as const;

export const OPTIONS: readonly OptionSpec[] = [
  { key: 'dataDir', reload: 'restart', type: 'string', default: './data', group: 'Storage', describe: 'Cache blobs and the SQLite index (gomodgate.db) live here' },
  { key: 'caDir', reload: 'restart', type: 'string', default: './certs', group: 'Storage', describe: 'The gateway CA (certs/ca.pem, keys/ca.private.key); created 0700 when missing' },
  { key: 'auditRetention', reload: 'live', type: 'duration', offIsZero: true, default: 90 * 86_400, group: 'Storage', describe: 'How long audit rows are kept, e.g. 90d or 365d (0 or off = forever); older ones are deleted at start and every hour' },
  // 1 = today's single process; N > 1 = a supervisor and N worker processes sharing the listeners and the SQLite file
  { key: 'workers', reload: 'restart', type: 'parallelism', default: 1, group: 'Processes', describe: 'Worker processes that serve (sharing the listeners, the cache and single-flight): a number, or auto = one per CPU core' },
  { key: 'listen', reload: 'restart', type: 'string', default: '::', group: 'Listeners', describe: 'Address the TLS, HTTP and proxy listeners bind to (:: = all, IPv4 and IPv6)' },
  { key: 'tlsPort', reload: 'restart', type: 'port', default: 8443, group: 'Listeners', describe: 'Port that iptables REDIRECTs LAN port-443 traffic to' },
  { key: 'httpPort', reload: 'restart', type: 'port', default: 8080, group: 'Listeners', describe: 'Port that iptables REDIRECTs LAN port-80 traffic to' },
  { key: 'proxyPort', reload: 'restart', type: 'port', default: 3128, group: 'Listeners', describe: 'Explicit proxy (HTTPS_PROXY, CONNECT to port 443 only) and plain GOPROXY endpoint' },
  { key: 'allowClients', reload: 'live', type: 'list', default: ['127.0.0.0/8', '::1/128', '10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7', 'fe80::/10'], group: 'Listeners', describe: 'CIDRs allowed to use the proxy port (repeatable; default: loopback and private ranges)' },
  { key: 'interceptHosts', reload: 'live', flag: 'intercept-host', type: 'list', default: [...DEFAULT_INTERCEPT_HOSTS], group: 'Interception', describe: 'Go module hosts whose TLS is terminated (exact names; repeatable; replaces the default list)' },
  { key: 'upstream', reload: 'live', type: 'string', default: '', group: 'Upstream', describe: 'Upstream Go proxies, GOPROXY syntax ("," falls through on 404/410, "|" on any error). Unset: intercepted requests go to the host the client asked for, the plain GOPROXY endpoint to https://proxy.golang.org. Set: both use this list' },
  { key: 'egressProxy', reload: 'restart', type: 'string', default: '', group: 'Upstream', describe: 'Reach upstreams through this HTTP proxy (CONNECT), e.g. http://proxy.corp:3128; default: HTTPS_PROXY unless NO_PROXY matches' },
  { key: 'offline', reload: 'live', type: 'boolean', default: false, group: 'Upstream', describe: 'Answer only from the cache; never contact an upstream' },
  { key: 'upstreamCa', reload: 'restart', type: 'list', default: [], group: 'Upstream', describe: 'Extra PEM files of roots trusted for upstream TLS, besides the system roots and NODE_EXTRA_CA_CERTS' },
  { key: 'upstreamTimeout', reload: 'restart', type: 'duration', default: 30, group: 'Upstream', describe: 'Give up on an upstream that has not answered (headers) or has stalled this long (seconds, or 30s/2m)' },
  { key: 'upstreamDeadline', reload: 'restart', type: 'duration', default: 600, group: 'Upstream', describe: 'Give up on an upstream download that has not finished this long after it was asked for, however steadily it trickles (seconds, or 10m)' },
  { key: 'prefetch', reload: 'live', type: 'list', default: ['info-mod', 'mod-zip', 'mod-info', 'sumdb-head'], group: 'Upstream', describe: 'Fetch ahead, in the background, what the go command asks next: info-mod = a version\'s .mod after its .info, mod-zip = its .zip after its .mod, mod-info = its .info after its .mod (go mod download asks each .info after reading the go.mod files), sumdb-head = the checksum database\'s signed head and edge tiles along the configured upstream, at start and when a reload changes it; off = none (read at each request)' },
  { key: 'mutableTtl', reload: 'restart', type: 'duration', default: 60, group: 'Cache', describe: 'How long lists, @latest and checksum-DB heads are served from cache before asking upstream again' },
  { key: 'negativeTtl', reload: 'restart', type: 'duration', default: 30, group: 'Cache', describe: 'How long an upstream 404/410 is remembered' },
  { key: 'cache.maxBytes', reload: 'live', type: 'size', default: 0, group: 'Cache', describe: 'Evict least recently used blobs above this size: bytes, or 500M, 10G, 1T (powers of 1024; 0 = no limit)' },
  { key: 'sumdb', reload: 'restart', type: 'string', default: 'sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8', group: 'Trust', describe: 'Checksum database, GOSUMDB syntax "NAME+KEY [URL]": every .zip and .mod is verified against it before it is cached' },
  { key: 'nosumdb', reload: 'live', type: 'list', verbatim: true, default: [], group: 'Trust', describe: 'Module path patterns not checked against the checksum database (GONOSUMDB syntax)' },
  { key: 'private', reload: 'live', type: 'list', default: [], group: 'Trust', describe: 'Private module path patterns (GOPRIVATE syntax): never sent to a public upstream or checksum database' },
  { key: 'policy', reload: 'restart', type: 'string', default: '', group: 'Trust', describe: 'YAML file of allow/deny rules (reloaded on SIGHUP)' },
  { key: 'vulndbUrl', reload: 'restart', type: 'string', default: 'https://vuln.go.dev', group: 'Trust', describe: 'The Go vulnerability database that `vulndb sync` and --vulndb-sync read (fetched like modules: egress proxy, trusted roots, timeouts)' },
  { key: 'vulndbSync', reload: 'live', type: 'duration', offIsZero: true, default: 0, group: 'Trust', describe: 'Sync the vulnerability database this often while serving, e.g. 6h (0 or off = never; `gomodgate vulndb sync` does it by hand)' },
  { key: 'adminListen', reload: 'restart', type: 'string', default: '127.0.0.1', group: 'Admin', describe: 'Address of the admin listener (/healthz, /readyz, /metrics)' },
  { key: 'adminPort', reload: 'restart', type: 'port', default: 9464, group: 'Admin', describe: 'Port of the admin listener (0 = any free port)' },
  // the console's listener, certificate and who may sign in are fixed for the life of the process: a restart applies
  // them (users added with `gomodgate console add-user` need none: the user file is re-read at each sign-in)
  { key: 'consoleListen', reload: 'restart', type: 'string', default: '', group: 'Console', describe: 'Serve the security teams\' web console (HTTPS, read-only) on ADDR:PORT, e.g. 10.0.0.1:9443 or [::]:9443; empty = off' },
  { key: 'consoleNames', reload: 'restart', type: 'list', default: [], group: 'Console', describe: 'Extra DNS names or addresses for the console certificate issued by the gateway CA (besides the listen address and the host name)' },
  { key: 'consoleCert', reload: 'restart', type: 'string', default: '', group: 'Console', describe: 'PEM certificate (chain) for the console instead of one issued by the gateway CA (with --console-key)' },
  { key: 'consoleKey', reload: 'restart', type: 'string', default: '', group: 'Console', describe: 'PEM private key of --console-cert' },
  { key: 'consoleSsoHeader', reload: 'restart', type: 'string', default: '', group: 'Console', describe: 'Trust this request header (e.g. X-Forwarded-User) as the signed-in user, only from --console-sso-proxy addresses' },
  { key: 'consoleSsoProxy', reload: 'restart', type: 'list', default: [], group: 'Console', describe: 'Addresses or CIDRs of the SSO reverse proxy whose --console-sso-header is trusted (from anyone else it is ignored)' },
  { key: 'consoleSessionIdle', reload: 'restart', type: 'duration', default: 1800, group: 'Console', describe: 'Sign a console user out after this long without a request (e.g. 30m)' },
  { key: 'limits.maxConnections', reload: 'restart', type: 'count', default: 20000, group: 'Limits', describe: 'Concurrent client connections per listener' },
  { key: 'limits.peekTimeout', reload: 'restart', type: 'duration', default: 10, group: 'Limits', describe: 'Close a client that has not sent its TLS ClientHello or HTTP request head within this time' },
  { key: 'limits.maxUpstreamFetches', reload: 'restart', type: 'count', default: 64, group: 'Limits', describe: 'Concurrent upstream connections per upstream host' },
  { key: 'logLevel', reload: 'live', type: 'enum', default: 'info', choices: ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'], group: 'Logging', describe: 'Log level' },
  { key: 'logHits', reload: 'live', type: 'enum', default: 'debug', choices: ['info', 'debug'], group: 'Logging', describe: 'Level of the "go request" log line of a cache hit: debug (the default) leaves hits to the audit table, which has every field of the line (gomodgate audit tail); info logs them too, for about 20 µs more CPU per hit under load (a quarter more) and a tenth more when requests come one at a time. Misses, refusals and errors always log at info or above' },
  { key: 'logFormat', reload: 'restart', type: 'enum', default: 'auto', choices: ['auto', 'json', 'pretty'], group: 'Logging', describe: 'Log lines on stdout: json (one JSON object a line, for the journal and log shippers), pretty (for people), auto = pretty on a terminal, json otherwise' },
];

export function flagName(key: string): string {
  const spec = OPTIONS.find((o) => o.key === key);
  if (spec?.flag) return spec.flag;
  return key.replace(/\./g, '-').replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

export function envName(key: string): string {
  return 'GOMODGATE_' + key.replace(/\./g, '_').replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase();
}
