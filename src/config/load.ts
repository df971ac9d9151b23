// Builds the frozen gateway configuration: schema defaults < YAML file < GOMODGATE_* environment < flags,
// validated once with precise messages ("mutableTtl must be a duration such as 60s or 5m (got -1)").
// Throws GateError CONFIG_INVALID; never exits the process itself.
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { isCidr } from '../cidr.js';
import { parse as parseYaml } from 'yaml';
import { GateError } from '../errors.js';
import { redactUrlsInText } from '../redact.js';
import { OPTIONS, envName, type OptionSpec } from './schema.js';

export interface GatewayConfig {
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
  readonly mutableTtl: number; // seconds
  readonly negativeTtl: number; // seconds
  readonly 'cache.maxBytes': number;
  readonly sumdb: string;
  readonly nosumdb: readonly string[];
  readonly private: readonly string[];
  readonly policy: string;
  readonly adminListen: string;
  readonly adminPort: number;
  readonly 'limits.maxConnections': number;
  readonly 'limits.peekTimeout': number; // seconds
  readonly 'limits.maxUpstreamFetches': number;
  readonly logLevel: string;
  /** The config file it was loaded from, if any (for SIGHUP reloads). */
  readonly configFile: string | null;
}

type Source = 'default' | 'file' | 'environment' | 'flag';

/** CONFIG_INVALID with every URL in the message redacted: a mistyped proxy URL still hides its password. */
function configInvalid(message: string): GateError {
  return new GateError('CONFIG_INVALID', redactUrlsInText(message));
}

function invalid(spec: OptionSpec, source: Source, what: string, got: unknown): GateError {
  const from = source === 'default' ? '' : ` (from ${source})`;
  return configInvalid(`${spec.key} must be ${what}${from} (got ${JSON.stringify(got)})`);
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

function coerce(spec: OptionSpec, raw: unknown, source: Source): unknown {
  switch (spec.type) {
    case 'string':
      if (typeof raw !== 'string') throw invalid(spec, source, 'a string', raw);
      if (raw.trim() === '' && spec.default !== '') throw invalid(spec, source, 'a non-empty string', raw);
      return raw.trim();
    case 'port': {
      const n = typeof raw === 'string' && /^\d+$/.test(raw) ? Number(raw) : raw;
      if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > 65535) throw invalid(spec, source, 'a port number 0-65535', raw);
      return n;
    }
    case 'count': {
      const n = typeof raw === 'string' && /^\d+$/.test(raw) ? Number(raw) : raw;
      if (typeof n !== 'number' || !Number.isInteger(n) || n < 0) throw invalid(spec, source, 'a non-negative integer', raw);
      return n;
    }
    case 'duration': {
      const d = parseDuration(raw);
      if (d === null) throw invalid(spec, source, 'a duration such as 60s, 5m or 1h', raw);
      return d;
    }
    case 'boolean':
      if (typeof raw === 'boolean') return raw;
      if (raw === 'true' || raw === '1') return true;
      if (raw === 'false' || raw === '0') return false;
      throw invalid(spec, source, 'true or false', raw);
    case 'enum':
      if (typeof raw !== 'string' || !spec.choices!.includes(raw)) throw invalid(spec, source, `one of ${spec.choices!.join(', ')}`, raw);
      return raw;
    case 'list': {
      const items = Array.isArray(raw) ? raw : typeof raw === 'string' ? raw.split(',') : null;
      if (!items || items.some((i) => typeof i !== 'string')) throw invalid(spec, source, 'a list of strings', raw);
      // GONOSUMDB-style settings match patterns exactly as typed (spaces included), as the go command does
      return items.map((i: string) => (spec.verbatim ? i : i.trim())).filter((i: string) => i.trim() !== '');
    }
  }
}

function readFileOptions(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw configInvalid(`cannot read config file ${file}: ${(err as NodeJS.ErrnoException).code ?? err}`);
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw configInvalid(`config file ${file} is not valid YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== 'object' || Array.isArray(doc)) throw configInvalid(`config file ${file} must be a mapping of option: value`);
  const flat: Record<string, unknown> = {};
  const walk = (obj: Record<string, unknown>, prefix: string) => {
    for (const [k, v] of Object.entries(obj)) {
      const key = prefix + k;
      if (v && typeof v === 'object' && !Array.isArray(v)) walk(v as Record<string, unknown>, key + '.');
      else flat[key] = v;
    }
  };
  walk(doc as Record<string, unknown>, '');
  const known = new Set(OPTIONS.map((o) => o.key));
  for (const key of Object.keys(flat)) {
    if (!known.has(key)) {
      const near = [...known].find((k) => k.toLowerCase() === key.toLowerCase() || k.replace(/\./g, '').toLowerCase() === key.replace(/[._-]/g, '').toLowerCase());
      throw configInvalid(`config file ${file}: unknown option "${key}"${near ? ` (did you mean "${near}"?)` : ''}`);
    }
  }
  return flat;
}

function checkCrossFieldRules(c: Record<string, unknown>): void {
  for (const cidr of c.allowClients as string[]) {
    if (!isCidr(cidr)) throw configInvalid(`allowClients entries must be addresses or CIDRs such as 10.0.0.0/8 (got "${cidr}")`);
  }
  for (const host of c.interceptHosts as string[]) {
    if (!/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$/.test(host)) {
      throw configInvalid(`interceptHosts entries must be lower-case DNS names such as proxy.golang.org (got "${host}")`);
    }
  }
  for (const entry of (c.upstream as string).split(/[,|]/).map((e) => e.trim()).filter((e) => e !== '')) {
    if (entry === 'off' || entry === 'direct') {
      throw configInvalid(`upstream entries must be proxy URLs; "${entry}" is for the go command, not the gateway (got "${c.upstream}")`);
    }
    let url: URL;
    try {
      url = new URL(entry);
    } catch {
      throw configInvalid(`upstream entries must be URLs such as https://proxy.golang.org (got "${entry}")`);
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') {
      throw configInvalid(`upstream entries must be http or https URLs (got "${entry}")`);
    }
  }
  if (c.egressProxy) {
    let url: URL | null = null;
    try {
      url = new URL(c.egressProxy as string);
    } catch {
      url = null;
    }
    if (!url || url.protocol !== 'http:') throw configInvalid(`egressProxy must be an http:// proxy URL such as http://proxy.corp:3128 (got "${c.egressProxy}")`);
  }
  if (c.sumdb !== 'off' && !/^[^\s+]+\+[0-9a-f]{8}\+[A-Za-z0-9+/=]+(\s+https?:\/\/\S+)?$/.test(c.sumdb as string)) {
    throw configInvalid(`sumdb must be "NAME+HASH+KEY [URL]" as in GOSUMDB, or "off" (got "${c.sumdb}")`);
  }
  for (const key of ['listen', 'adminListen']) {
    if (!isIP(c[key] as string)) throw configInvalid(`${key} must be an IP address such as :: or 127.0.0.1 (got "${c[key]}")`);
  }
}

export interface ConfigSources {
  file?: string | null;
  env?: NodeJS.ProcessEnv;
  /** Values given on the command line, keyed by config key; undefined = not given. */
  flags?: Record<string, unknown>;
}

export function loadConfig(sources: ConfigSources): GatewayConfig {
  const fileValues = sources.file ? readFileOptions(sources.file) : {};
  const env = sources.env ?? {};
  const out: Record<string, unknown> = {};
  for (const spec of OPTIONS) {
    let value: unknown = spec.default;
    let source: Source = 'default';
    if (fileValues[spec.key] !== undefined) [value, source] = [fileValues[spec.key], 'file'];
    const e = env[envName(spec.key)];
    if (e !== undefined && e !== '') [value, source] = [e, 'environment'];
    const f = sources.flags?.[spec.key];
    if (f !== undefined && !(Array.isArray(f) && f.length === 0)) [value, source] = [f, 'flag'];
    out[spec.key] = coerce(spec, value, source);
  }
  out.interceptHosts = (out.interceptHosts as string[]).map((h) => h.toLowerCase());
  checkCrossFieldRules(out);
  out.configFile = sources.file ?? null;
  return Object.freeze(out) as unknown as GatewayConfig;
}
