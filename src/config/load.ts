// Builds the frozen gateway configuration: schema defaults < YAML file < GOMODGATE_* environment < flags,
// validated once with precise messages that name what the operator typed: the flag (`--proxy-port must be a
// port number 0-65535 (got "abc")`), the GOMODGATE_* variable, or the file and line. Every problem is reported
// at once (one per line). Throws GateError CONFIG_INVALID; never exits the process itself.
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { isCidr } from '../cidr.js';
import { compileModulePatterns } from '../policy/module-pattern.js';
import { PATTERN_OPTIONS } from '../policy/module-policy.js';
import { LineCounter, isMap, isScalar, parseDocument, type Node as YamlNode } from 'yaml';
import { GateError } from '../errors.js';
import { redactUrlsInText } from '../redact.js';
import { OPTIONS, envName, flagName, type OptionSpec } from './schema.js';
import { didYouMean, suggestNames } from './suggest.js';

export interface GatewayConfig {
  /** Worker processes: a count, or 'auto' = os.availableParallelism() (cluster/worker-count.ts resolves it). */
  readonly workers: number | 'auto';
  readonly dataDir: string;
  readonly caDir: string;
  readonly listen: string;
  readonly tlsPort: number;
  readonly httpPort: number;
  readonly proxyPort: number;
  readonly allowClients: readonly string[];
  readonly interceptHosts: readonly string[];
  /** GOPROXY-syntax list; '' = the host the client asked for (endpoint: https://proxy.golang.org). */
  readonly upstream: string;
  readonly egressProxy: string;
  readonly offline: boolean;
  readonly upstreamCa: readonly string[];
  readonly upstreamTimeout: number; // seconds
  readonly upstreamDeadline: number; // seconds
  /** Prefetch steps: 'info-mod', 'mod-zip', 'mod-info', 'sumdb-head'; ['off'] = none. */
  readonly prefetch: readonly string[];
  readonly mutableTtl: number; // seconds
  readonly negativeTtl: number; // seconds
  readonly 'cache.maxBytes': number;
  readonly sumdb: string;
  readonly nosumdb: readonly string[];
  readonly private: readonly string[];
  readonly policy: string;
  readonly vulndbUrl: string;
  readonly vulndbSync: number; // seconds, 0 = never
  readonly auditRetention: number; // seconds, 0 = forever
  readonly adminListen: string;
  readonly adminPort: number;
  /** '' = no console; else ADDR:PORT (parseListenAddress). */
  readonly consoleListen: string;
  readonly consoleNames: readonly string[];
  readonly consoleCert: string;
  readonly consoleKey: string;
  readonly consoleSsoHeader: string;
  readonly consoleSsoProxy: readonly string[];
  readonly consoleSessionIdle: number; // seconds
  readonly 'limits.maxConnections': number;
  readonly 'limits.peekTimeout': number; // seconds
  readonly 'limits.maxUpstreamFetches': number;
  readonly logLevel: string;
  /** The level of a cache hit's "go request" line (read at each request). */
  readonly logHits: 'info' | 'debug';
  /** 'auto' = pretty when stdout is a terminal, json otherwise. */
  readonly logFormat: 'auto' | 'json' | 'pretty';
  /** The config file it was loaded from, if any (for SIGHUP reloads). */
  readonly configFile: string | null;
}

type Source = 'default' | 'file' | 'environment' | 'flag';

/** CONFIG_INVALID with every URL in the message redacted: a mistyped proxy URL still hides its password. */
function configInvalid(message: string): GateError {
  return new GateError('CONFIG_INVALID', redactUrlsInText(message));
}

/** Where each value came from, to name it the way the operator wrote it. */
interface Origin {
  source: Source;
  file: string | null;
  /** 1-based line of the key in the config file, when known. */
  line?: number;
}

/** How an option is named in a message: `--proxy-port`, `GOMODGATE_PROXY_PORT`, `FILE:3: proxyPort` or `proxyPort`. */
function optionLabel(key: string, origin: Origin | undefined): string {
  switch (origin?.source) {
    case 'flag':
      return `--${flagName(key)}`;
    case 'environment':
      return envName(key);
    case 'file':
      return `${origin.file}${origin.line ? `:${origin.line}` : ''}: ${key}`;
    default:
      return `--${flagName(key)} (default)`;
  }
}

/** The option's name without a location prefix: `--tls-port`, `GOMODGATE_TLS_PORT`, `tlsPort (line 3)`. */
function optionName(key: string, origin: Origin | undefined): string {
  if (origin?.source === 'file') return `${key}${origin.line ? ` (line ${origin.line})` : ''}`;
  if (origin?.source === 'environment') return envName(key);
  return `--${flagName(key)}${origin?.source === 'flag' ? '' : ' (default)'}`;
}

/** What was typed, as typed: strings quoted, lists and numbers as JSON. */
function shown(value: unknown): string {
  if (typeof value === 'number' && !Number.isFinite(value)) return String(value);
  return JSON.stringify(value) ?? String(value);
}

function invalid(spec: OptionSpec, origin: Origin, what: string, got: unknown): string {
  return `${optionLabel(spec.key, origin)} must be ${what} (got ${shown(got)})`;
}

const SIZE_UNITS = 'kmgt';

/**
 * "1073741824", 1073741824, "500M", "10GiB", "2g", "1.5T" → bytes (K/M/G/T are powers of 1024); null when not
 * a size.
 */
export function parseSize(value: unknown): number | null {
  if (typeof value === 'number') return Number.isInteger(value) && value >= 0 ? value : null;
  if (typeof value !== 'string') return null;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(?:([kmgt])(?:i?b)?|b)?\s*$/i.exec(value);
  if (!m) return null;
  const power = m[2] ? SIZE_UNITS.indexOf(m[2].toLowerCase()) + 1 : 0;
  return Math.floor(Number(m[1]) * 1024 ** power);
}

/** parseSize for a command's own flag (`cache prune --max-bytes`): CONFIG_INVALID naming the flag when not a size. */
export function parseByteSize(value: unknown, flag: string): number {
  const n = parseSize(value);
  if (n === null) throw configInvalid(`${flag} must be a size such as 500M, 10G or 1073741824 (got ${shown(value)})`);
  return n;
}

/** "90", 90, "90s", "5m", "2h", "1d" → seconds. */
export function parseDuration(value: unknown): number | null {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? value : null;
  if (typeof value !== 'string') return null;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(value);
  if (!m) return null;
  const n = Number(m[1]);
  const unit = m[2] ?? 's';
  const factor = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400 }[unit]!;
  return n * factor;
}

/** Seconds as a duration option is written: the largest unit it is a whole number of (7776000 → "90d", 30 → "30s", 0 → "0"). */
export function durationText(seconds: number): string {
  if (seconds === 0) return '0';
  for (const [unit, factor] of [['d', 86400], ['h', 3600], ['m', 60]] as const) {
    if (seconds >= factor && seconds % factor === 0) return `${seconds / factor}${unit}`;
  }
  return `${seconds}s`;
}

/** The typed value of one option, or the message saying what is wrong with it. */
function coerce(spec: OptionSpec, raw: unknown, origin: Origin): { value: unknown } | { error: string } {
  const bad = (what: string) => ({ error: invalid(spec, origin, what, raw) });
  switch (spec.type) {
    case 'string':
      if (typeof raw !== 'string') return bad('a string');
      if (raw.trim() === '' && spec.default !== '') return bad('a non-empty string');
      return { value: raw.trim() };
    case 'port': {
      const n = typeof raw === 'string' && /^\s*\d+\s*$/.test(raw) ? Number(raw) : raw;
      if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > 65535) return bad('a port number 0-65535');
      return { value: n };
    }
    case 'count': {
      const n = typeof raw === 'string' && /^\s*\d+\s*$/.test(raw) ? Number(raw) : raw;
      if (typeof n !== 'number' || !Number.isInteger(n) || n < 0) return bad('a non-negative integer');
      return { value: n };
    }
    case 'parallelism': {
      if (typeof raw === 'string' && raw.trim().toLowerCase() === 'auto') return { value: 'auto' };
      const n = typeof raw === 'string' && /^\s*\d+\s*$/.test(raw) ? Number(raw) : raw;
      if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > 256) return bad('a number of processes 1-256, or auto (one per CPU core)');
      return { value: n };
    }
    case 'size': {
      const n = parseSize(raw);
      if (n === null) return bad('a size such as 10G, 500M or 1073741824 (K/M/G/T = KiB/MiB/GiB/TiB)');
      return { value: n };
    }
    case 'duration': {
      if (spec.offIsZero && typeof raw === 'string' && raw.trim().toLowerCase() === 'off') return { value: 0 };
      const d = parseDuration(raw);
      if (d === null) return bad('a duration such as 60s, 5m or 1h');
      return { value: d };
    }
    case 'boolean':
      if (typeof raw === 'boolean') return { value: raw };
      if (raw === 'true' || raw === '1') return { value: true };
      if (raw === 'false' || raw === '0') return { value: false };
      return bad('true or false');
    case 'enum':
      if (typeof raw !== 'string' || !spec.choices!.includes(raw)) return bad(`one of ${spec.choices!.join(', ')}`);
      return { value: raw };
    case 'list': {
      const items = Array.isArray(raw) ? raw : typeof raw === 'string' ? raw.split(',') : null;
      if (!items || items.some((i) => typeof i !== 'string')) return bad('a list of strings');
      // GONOSUMDB-style settings match patterns exactly as typed (spaces included), as the go command does
      return { value: items.map((i: string) => (spec.verbatim ? i : i.trim())).filter((i: string) => i.trim() !== '') };
    }
  }
}

/** Why a config file cannot be read, and what to check. */
function unreadable(file: string, err: NodeJS.ErrnoException): string {
  switch (err.code) {
    case 'ENOENT':
      return `config file ${file} does not exist (check the path given with --config, GOMODGATE_CONFIG or \`config check\`; systemd/gomodgate.yaml is a complete example)`;
    case 'EACCES':
    case 'EPERM':
      return `config file ${file} is not readable by this user (uid ${process.getuid?.() ?? '?'}): check its permissions and those of its directories`;
    case 'EISDIR':
      return `config file ${file} is a directory, not a YAML file`;
    default:
      return `cannot read config file ${file}: ${err.code ?? err.message}`;
  }
}

/** "FILE is not valid YAML" with each error's line and column, the line itself and a caret under the column. */
function yamlSyntaxError(file: string, text: string, errors: ReadonlyArray<{ message: string; pos: [number, number] }>, lines: LineCounter): string {
  const source = text.split(/\r?\n/);
  const out = [`config file ${file} is not valid YAML:`];
  for (const e of errors) {
    const { line, col } = lines.linePos(e.pos[0]);
    out.push(`  ${file}:${line}:${col}: ${e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '')}`);
    const width = String(line).length;
    // the line before, too: an unclosed bracket or quote is noticed only on the line after it
    if (line > 1) out.push(`    ${String(line - 1).padStart(width)} | ${source[line - 2] ?? ''}`);
    out.push(`    ${String(line).padStart(width)} | ${source[line - 1] ?? ''}`);
    out.push(`    ${' '.repeat(width)} | ${' '.repeat(Math.max(0, col - 1))}^`);
  }
  return out.join('\n');
}

interface FileOptions {
  values: Record<string, unknown>;
  /** 1-based line of each flattened key. */
  lines: Record<string, number>;
}

/**
 * The options of a YAML file, flattened to dotted keys, with the line of each key. Problems of the file itself
 * (unreadable, not YAML, not a mapping) throw at once; unknown keys are added to `problems` with a "did you
 * mean" from the schema's names.
 */
function readFileOptions(file: string, problems: string[]): FileOptions {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw configInvalid(unreadable(file, err as NodeJS.ErrnoException));
  }
  // a file with no byte but white space is a file being written, or one a failed write left: refused, so a reload
  // never takes it for "every option at its default" (which would clear private and allowClients)
  if (text.trim() === '') throw configInvalid(`config file ${file} is empty (still being written?); for every option at its default, write {}`);
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) throw configInvalid(yamlSyntaxError(file, text, doc.errors, lineCounter));
  const root = doc.contents;
  if (root === null || (isScalar(root) && (root.value === null || root.value === undefined))) return { values: {}, lines: {} };
  if (!isMap(root)) throw configInvalid(`config file ${file} must be a mapping of option: value (see systemd/gomodgate.yaml)`);
  const values: Record<string, unknown> = {};
  const lines: Record<string, number> = {};
  const lineOf = (node: unknown) => {
    const range = (node as YamlNode | null)?.range;
    return range ? lineCounter.linePos(range[0]).line : undefined;
  };
  const walk = (map: typeof root, prefix: string) => {
    for (const pair of map.items) {
      const k = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
      const key = prefix + k;
      if (isMap(pair.value)) {
        walk(pair.value, key + '.');
        continue;
      }
      values[key] = (pair.value as YamlNode | null)?.toJSON?.() ?? (isScalar(pair.value) ? pair.value.value : pair.value);
      const line = lineOf(pair.key);
      if (line !== undefined) lines[key] = line;
    }
  };
  walk(root, '');
  const known = OPTIONS.map((o) => o.key);
  for (const key of Object.keys(values)) {
    if (known.includes(key)) continue;
    const hint = didYouMean(suggestNames(key, known), (k) => `"${k}"`);
    problems.push(`${file}${lines[key] ? `:${lines[key]}` : ''}: unknown option "${key}"${hint ? ` (${hint})` : ''}`);
  }
  return { values, lines };
}

/** "10.0.0.1:9443", "[::]:9443", "[fd00::1]:9443" → host and port; null when it is not ADDR:PORT with an IP address. */
export function parseListenAddress(text: string): { host: string; port: number } | null {
  const m = /^\[([^\]]+)\]:(\d{1,5})$/.exec(text) ?? /^([^:\[\]]+):(\d{1,5})$/.exec(text);
  if (!m || !isIP(m[1]!)) return null;
  const port = Number(m[2]);
  return port <= 65535 ? { host: m[1]!, port } : null;
}

/** The ports of our own listeners; two of them equal can never both bind (0 = any free port is exempt). */
const OWN_PORTS = ['tlsPort', 'httpPort', 'proxyPort', 'adminPort'] as const;

function checkCrossFieldRules(
  c: Record<string, unknown>,
  label: (key: string) => string,
  name: (key: string) => string,
  isDefault: (key: string) => boolean,
  problems: string[],
): void {
  // an option that was not given at all: its flag and its key, without "(default)"
  const missing = (key: string) => `--${flagName(key)} (${key} in the config file)`;
  for (const cidr of c.allowClients as string[]) {
    if (!isCidr(cidr)) problems.push(`${label('allowClients')} entries must be addresses or CIDRs such as 10.0.0.0/8 (got "${cidr}")`);
  }
  // compiled as the policy compiles them: `config check`, start-up and a reload refuse a bad glob alike, before
  // anything of the configuration is applied
  for (const key of ['private', 'nosumdb'] as const) {
    try {
      compileModulePatterns(c[key] as string[], PATTERN_OPTIONS[key]);
    } catch (err) {
      problems.push(`${label(key)}: ${(err as Error).message}`);
    }
  }
  for (const host of c.interceptHosts as string[]) {
    if (!/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$/.test(host)) {
      problems.push(`${label('interceptHosts')} entries must be lower-case DNS names such as proxy.golang.org (got "${host}")`);
    }
  }
  for (const entry of (c.upstream as string).split(/[,|]/).map((e) => e.trim()).filter((e) => e !== '')) {
    if (entry === 'off' || entry === 'direct') {
      problems.push(`${label('upstream')} entries must be proxy URLs; "${entry}" is for the go command, not the gateway (got "${c.upstream}")`);
      continue;
    }
    let url: URL;
    try {
      url = new URL(entry);
    } catch {
      problems.push(`${label('upstream')} entries must be URLs such as https://proxy.golang.org (got "${entry}")`);
      continue;
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') {
      problems.push(`${label('upstream')} entries must be http or https URLs (got "${entry}")`);
    }
  }
  if (c.egressProxy) {
    let url: URL | null = null;
    try {
      url = new URL(c.egressProxy as string);
    } catch {
      url = null;
    }
    if (!url || url.protocol !== 'http:') problems.push(`${label('egressProxy')} must be an http:// proxy URL such as http://proxy.corp:3128 (got "${c.egressProxy}")`);
  }
  {
    let url: URL | null = null;
    try {
      url = new URL(c.vulndbUrl as string);
    } catch {
      url = null;
    }
    if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:') || url.search || url.hash) {
      problems.push(`${label('vulndbUrl')} must be an http or https URL such as https://vuln.go.dev (got "${c.vulndbUrl}")`);
    }
  }
  const prefetch = c.prefetch as string[];
  for (const step of prefetch) {
    if (!['info-mod', 'mod-zip', 'mod-info', 'sumdb-head', 'off'].includes(step)) problems.push(`${label('prefetch')} entries must be info-mod, mod-zip, mod-info or sumdb-head, or the single word off (got "${step}")`);
  }
  if (prefetch.includes('off') && prefetch.length > 1) problems.push(`${label('prefetch')} is either off or a list of steps, not both (got "${prefetch.join(',')}")`);
  if (c.sumdb !== 'off' && !/^[^\s+]+\+[0-9a-f]{8}\+[A-Za-z0-9+/=]+(\s+https?:\/\/\S+)?$/.test(c.sumdb as string)) {
    problems.push(`${label('sumdb')} must be "NAME+HASH+KEY [URL]" as in GOSUMDB, or "off" (got "${c.sumdb}")`);
  }
  if (c.consoleListen && !parseListenAddress(c.consoleListen as string)) {
    problems.push(`${label('consoleListen')} must be ADDR:PORT with an IP address, such as 10.0.0.1:9443 or [::]:9443 (got "${c.consoleListen}")`);
  }
  if (Boolean(c.consoleCert) !== Boolean(c.consoleKey)) {
    problems.push(`${label(c.consoleCert ? 'consoleCert' : 'consoleKey')} needs ${missing(c.consoleCert ? 'consoleKey' : 'consoleCert')} too: give the console's certificate and its key together`);
  }
  const ssoProxies = c.consoleSsoProxy as string[];
  if (Boolean(c.consoleSsoHeader) !== ssoProxies.length > 0) {
    problems.push(`${label(c.consoleSsoHeader ? 'consoleSsoHeader' : 'consoleSsoProxy')} needs ${missing(c.consoleSsoHeader ? 'consoleSsoProxy' : 'consoleSsoHeader')} too: the user header is trusted only from the SSO proxy's addresses`);
  }
  if (c.consoleSsoHeader && !/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/.test(c.consoleSsoHeader as string)) {
    problems.push(`${label('consoleSsoHeader')} must be an HTTP header name such as X-Forwarded-User (got "${c.consoleSsoHeader}")`);
  }
  for (const cidr of ssoProxies) {
    if (!isCidr(cidr)) problems.push(`${label('consoleSsoProxy')} entries must be addresses or CIDRs such as 10.0.0.5 or 10.0.0.0/24 (got "${cidr}")`);
  }
  for (const key of ['listen', 'adminListen']) {
    if (!isIP(c[key] as string)) problems.push(`${label(key)} must be an IP address such as :: or 127.0.0.1 (got "${c[key]}")`);
  }
  for (let i = 0; i < OWN_PORTS.length; i++) {
    for (let j = i + 1; j < OWN_PORTS.length; j++) {
      // the one the operator set is named first (with its file and line), the other as its plain name
      const [a, b] = isDefault(OWN_PORTS[j]!) ? [OWN_PORTS[i]!, OWN_PORTS[j]!] : [OWN_PORTS[j]!, OWN_PORTS[i]!];
      if (c[a] !== 0 && c[a] === c[b] && typeof c[a] === 'number') {
        problems.push(`${label(a)} is ${c[a]}, the same port as ${name(b)}: each of gomodgate's listeners needs its own port`);
      }
    }
  }
}

export interface ConfigSources {
  file?: string | null;
  env?: NodeJS.ProcessEnv;
  /** Values given on the command line, keyed by config key; undefined = not given. */
  flags?: Record<string, unknown>;
}

export function loadConfig(sources: ConfigSources): GatewayConfig {
  const problems: string[] = [];
  const file = sources.file ?? null;
  const fromFile = file ? readFileOptions(file, problems) : { values: {}, lines: {} as Record<string, number> };
  const env = sources.env ?? {};
  const out: Record<string, unknown> = {};
  const origins: Record<string, Origin> = {};
  for (const spec of OPTIONS) {
    let value: unknown = spec.default;
    let origin: Origin = { source: 'default', file };
    if (fromFile.values[spec.key] !== undefined) [value, origin] = [fromFile.values[spec.key], { source: 'file', file, line: fromFile.lines[spec.key] }];
    const e = env[envName(spec.key)];
    if (e !== undefined && e !== '') [value, origin] = [e, { source: 'environment', file }];
    const f = sources.flags?.[spec.key];
    if (f !== undefined && !(Array.isArray(f) && f.length === 0)) [value, origin] = [f, { source: 'flag', file }];
    origins[spec.key] = origin;
    const r = coerce(spec, value, origin);
    if ('error' in r) problems.push(r.error);
    else out[spec.key] = r.value;
  }
  if (out.interceptHosts) out.interceptHosts = (out.interceptHosts as string[]).map((h) => h.toLowerCase());
  // rules between options only judge the options that are valid themselves (the others are reported above)
  const valid = { ...Object.fromEntries(OPTIONS.map((o) => [o.key, o.default])), ...out };
  checkCrossFieldRules(
    valid,
    (key) => optionLabel(key, origins[key]),
    (key) => optionName(key, origins[key]),
    (key) => origins[key]?.source === 'default',
    problems,
  );
  if (problems.length === 1) throw configInvalid(problems[0]!);
  if (problems.length > 1) throw configInvalid(`${problems.length} problems in the configuration:\n${problems.map((p) => `  ${p}`).join('\n')}`);
  out.configFile = file;
  return Object.freeze(out) as unknown as GatewayConfig;
}
