// Parses the path of an HTTP request into a Go module protocol request: the GOPROXY endpoints
// ($module/@v/list, /@latest, /@v/$version.info|.mod|.zip), the checksum database proxied under
// /sumdb/$name/..., and the checksum database reached directly (sum.golang.org/lookup/..., /tile/..., /latest).
// Owns: telling Go module requests from other paths, validating them as the go command would build them, and
// naming them (upstream path, cache key). Pure: it must never do I/O or throw; every rejection is a value with
// a one-line reason. It must never let through a path the go command could not have sent for a valid module,
// version or tile, and never give two spellings of one request two cache keys.

import {
  checkModulePath,
  checkVersion,
  decodeCase,
  escapePath,
  escapeVersion,
  isCanonicalVersion,
} from './module-path.js';
import { quoteForReason } from './protocol-error.js';
import { parseTilePath, type TileCoordinates } from './tile-path.js';

export { ProtocolError } from './protocol-error.js';

export type ModuleRequestKind =
  | 'list'
  | 'latest'
  | 'info'
  | 'mod'
  | 'zip'
  | 'sumdb-supported'
  | 'sumdb-lookup'
  | 'sumdb-latest'
  | 'sumdb-tile';

export interface ModuleRequest {
  kind: ModuleRequestKind;
  /** Decoded module path (github.com/Azure/x) for list, latest, info, mod, zip and sumdb-lookup. */
  module?: string;
  /** Decoded version (v1.0.0-RC1, or a query such as "master" for info) for info, mod, zip and sumdb-lookup. */
  version?: string;
  /** Checksum database name (may contain a slash: localhost.localdev/sumdb) for the sumdb kinds. */
  sumdb?: string;
  /** Tile coordinates for sumdb-tile; width null means a full tile. */
  tile?: TileCoordinates;
  /**
   * Path to request from upstream, relative to its base, starting with "/", encoded exactly as the go command
   * encodes it: case-escaped, "!" as %21 for GOPROXY paths and as a raw "!" for checksum-database paths,
   * no query string.
   */
  upstreamPath: string;
  /**
   * Stable cache key, independent of host, base prefix and percent-encoding:
   * "list:M", "latest:M", "mod:M@V.info|.mod|.zip" (decoded M and V), and "sumdb:NAME/..." followed by the
   * database path the go command uses (the same as its own cache file name), for proxied and direct access alike.
   */
  cacheKey: string;
}

export type ParseResult =
  | { ok: true; request: ModuleRequest }
  | { ok: false; status: 400 | 404; reason: string }
  | { ok: 'other' };

export interface ParseOptions {
  /** Path prefix of the GOPROXY or database base URL ("/mod", "/goproxy/"); default "" (none). */
  basePrefix?: string;
}

const OTHER: ParseResult = { ok: 'other' };

function badRequest(reason: string): ParseResult {
  return { ok: false, status: 400, reason };
}

function notFound(reason: string): ParseResult {
  return { ok: false, status: 404, reason };
}

function accept(request: ModuleRequest): ParseResult {
  return { ok: true, request };
}

function stripQuery(path: string): string {
  const q = path.indexOf('?');
  const withoutQuery = q >= 0 ? path.slice(0, q) : path;
  const h = withoutQuery.indexOf('#');
  return h >= 0 ? withoutQuery.slice(0, h) : withoutQuery;
}

/** The path below the base prefix ("/x" for prefix "/mod" and path "/mod/x"), or null when outside it. */
function stripBase(path: string, basePrefix: string): string | null {
  let prefix = basePrefix.replace(/\/+$/, '');
  if (prefix !== '' && !prefix.startsWith('/')) prefix = '/' + prefix;
  if (prefix === '') return path;
  if (path === prefix) return '';
  return path.startsWith(prefix + '/') ? path.slice(prefix.length) : null;
}

/** Decodes %XX escapes exactly once. */
function percentDecode(path: string): { ok: true; value: string } | { ok: false; problem: string } {
  if (!path.includes('%')) return { ok: true, value: path };
  let out = '';
  for (let i = 0; i < path.length; i++) {
    const c = path[i]!;
    if (c !== '%') {
      out += c;
      continue;
    }
    const hex = path.slice(i + 1, i + 3);
    if (!/^[0-9A-Fa-f]{2}$/.test(hex)) {
      return { ok: false, problem: `malformed percent-encoding ${quoteForReason(path.slice(i, i + 3))}` };
    }
    out += String.fromCharCode(parseInt(hex, 16));
    i += 2;
  }
  return { ok: true, value: out };
}

/**
 * Percent-encodes as the go command does for GOPROXY paths (url.PathEscape, then "%2F" back to "/"):
 * letters, digits and "-_.~$&+:=@/" stay, everything else (notably "!") becomes %XX.
 */
function goproxyPathEscape(s: string): string {
  let out = '';
  for (const c of s) {
    if (/^[A-Za-z0-9\-_.~$&+:=@/]$/.test(c)) out += c;
    else out += '%' + c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0');
  }
  return out;
}

function looksLikeProxyRequest(rel: string): boolean {
  return rel.includes('/@v/') || rel.endsWith('/@latest') || rel.startsWith('/sumdb/');
}

type Decoded = { ok: true; value: string } | { ok: false; reason: string };

/** Case-decodes and checks a module path taken from a request; `escaped` is after percent-decoding. */
function decodeModulePath(escaped: string): Decoded {
  const d = decodeCase(escaped);
  if (!d.ok) {
    let reason = `invalid module path ${quoteForReason(escaped)}: ${d.problem}`;
    if (d.problem.startsWith('raw upper-case')) {
      const suggestion = escaped.replace(/[A-Z]/g, (u) => '!' + u.toLowerCase());
      if (decodeCase(suggestion).ok) reason += `; the go command escapes it as ${quoteForReason(suggestion)}`;
    }
    return { ok: false, reason };
  }
  const problem = checkModulePath(d.value);
  if (problem !== null) return { ok: false, reason: `invalid module path ${quoteForReason(d.value)}: ${problem}` };
  return { ok: true, value: d.value };
}

/** Case-decodes and checks a version taken from a request; `escaped` is after percent-decoding. */
function decodeVersion(escaped: string): Decoded {
  const d = decodeCase(escaped);
  if (!d.ok) {
    let reason = `invalid version ${quoteForReason(escaped)}: ${d.problem}`;
    if (d.problem.startsWith('raw upper-case')) {
      const suggestion = escaped.replace(/[A-Z]/g, (u) => '!' + u.toLowerCase());
      if (decodeCase(suggestion).ok) reason += `; the go command escapes it as ${quoteForReason(suggestion)}`;
    }
    return { ok: false, reason };
  }
  const problem = checkVersion(d.value);
  if (problem !== null) return { ok: false, reason: `invalid version ${quoteForReason(d.value)}: ${problem}` };
  return { ok: true, value: d.value };
}

function canonicalVersionNeeded(module: string, version: string, what: string): string {
  return (
    `invalid version ${quoteForReason(version)} for ${what} of ${quoteForReason(module)}: ` +
    `it needs a canonical version such as v1.2.3 (resolve queries like branches or commits with @v/QUERY.info first)`
  );
}

const PROXY_ENDPOINTS = 'expected $module/@v/list, $module/@latest or $module/@v/$version.info, .mod or .zip';

function parseModuleEndpoint(rel: string): ParseResult {
  let escModule: string;
  let endpoint: string;
  const at = rel.indexOf('/@v/');
  if (at >= 0) {
    escModule = rel.slice(1, at);
    endpoint = rel.slice(at + '/@v/'.length);
  } else {
    escModule = rel.slice(1, rel.length - '/@latest'.length);
    endpoint = '@latest';
  }
  const module = decodeModulePath(escModule);
  if (!module.ok) return badRequest(module.reason);
  const m = module.value;
  const modulePrefix = '/' + goproxyPathEscape(escapePath(m));

  if (endpoint === 'list' || endpoint === '@latest') {
    const kind = endpoint === 'list' ? 'list' : 'latest';
    return accept({
      kind,
      module: m,
      upstreamPath: modulePrefix + (kind === 'list' ? '/@v/list' : '/@latest'),
      cacheKey: `${kind}:${m}`,
    });
  }

  const ext = /\.(info|mod|zip)$/.exec(endpoint)?.[1] as 'info' | 'mod' | 'zip' | undefined;
  if (ext === undefined) {
    return notFound(`unknown GOPROXY endpoint ${quoteForReason('@v/' + endpoint)} for module ${quoteForReason(m)}: ${PROXY_ENDPOINTS}`);
  }
  const version = decodeVersion(endpoint.slice(0, endpoint.length - ext.length - 1));
  if (!version.ok) return badRequest(version.reason);
  const v = version.value;
  if (ext !== 'info' && !isCanonicalVersion(v)) return badRequest(canonicalVersionNeeded(m, v, `.${ext}`));
  return accept({
    kind: ext,
    module: m,
    version: v,
    upstreamPath: `${modulePrefix}/@v/${goproxyPathEscape(escapeVersion(v))}.${ext}`,
    cacheKey: `mod:${m}@${v}.${ext}`,
  });
}

/** Why `name` cannot be a checksum database name ("sum.golang.org", "localhost.localdev/sumdb"); null when it can. */
export function checkSumdbName(name: string): string | null {
  if (name === '') return 'empty checksum database name';
  const elements = name.split('/');
  for (let i = 0; i < elements.length; i++) {
    const elem = elements[i]!;
    if (elem === '') return 'empty path element in checksum database name';
    if (/^\.+$/.test(elem)) return `invalid path element ${quoteForReason(elem)} in checksum database name`;
    // A port is allowed on the host part only.
    const allowed = i === 0 ? /^[A-Za-z0-9._~:-]+$/ : /^[A-Za-z0-9._~-]+$/;
    if (!allowed.test(elem)) return `invalid character in checksum database name element ${quoteForReason(elem)}`;
  }
  return null;
}

const SUMDB_ENDPOINTS = 'supported, latest, lookup/$module@$version or tile/$H/$L/$N';

/**
 * Parses a checksum-database endpoint ("/lookup/M@V", "/latest", "/supported", "/tile/...") of database `name`.
 * `upstreamBase` is prepended to the upstream path ("/sumdb/NAME" through a proxy, "" directly).
 */
function parseSumdbEndpoint(name: string, endpoint: string, upstreamBase: string): ParseResult {
  const keyBase = `sumdb:${name}`;
  if (endpoint === '/supported' || endpoint === '/latest') {
    const kind = endpoint === '/supported' ? 'sumdb-supported' : 'sumdb-latest';
    return accept({ kind, sumdb: name, upstreamPath: upstreamBase + endpoint, cacheKey: keyBase + endpoint });
  }
  if (endpoint.startsWith('/lookup/')) {
    const mv = endpoint.slice('/lookup/'.length);
    const at = mv.indexOf('@');
    if (at < 0) {
      return badRequest(`invalid checksum database lookup ${quoteForReason(mv)}: expected lookup/$module@$version`);
    }
    const module = decodeModulePath(mv.slice(0, at));
    if (!module.ok) return badRequest(module.reason);
    const version = decodeVersion(mv.slice(at + 1));
    if (!version.ok) return badRequest(version.reason);
    const m = module.value;
    const v = version.value;
    if (!isCanonicalVersion(v)) return badRequest(canonicalVersionNeeded(m, v, 'a checksum database lookup'));
    const dbPath = `/lookup/${escapePath(m)}@${escapeVersion(v)}`;
    return accept({
      kind: 'sumdb-lookup',
      module: m,
      version: v,
      sumdb: name,
      upstreamPath: upstreamBase + dbPath,
      cacheKey: keyBase + dbPath,
    });
  }
  if (endpoint.startsWith('/tile/')) {
    const parsed = parseTilePath(endpoint.slice(1));
    if (!parsed.ok) return badRequest(`invalid tile path ${quoteForReason(endpoint.slice(1))}: ${parsed.problem}`);
    const dbPath = '/' + parsed.path;
    return accept({
      kind: 'sumdb-tile',
      sumdb: name,
      tile: parsed.tile,
      upstreamPath: upstreamBase + dbPath,
      cacheKey: keyBase + dbPath,
    });
  }
  return notFound(`unknown checksum database endpoint ${quoteForReason(endpoint)} of ${quoteForReason(name)}: expected ${SUMDB_ENDPOINTS}`);
}

/** Splits "/sumdb/NAME/ENDPOINT" where NAME may contain slashes: NAME ends before the first endpoint element. */
function parseSumdbViaProxy(rel: string): ParseResult {
  const elements = rel.slice('/sumdb/'.length).split('/');
  for (let i = 1; i < elements.length; i++) {
    const e = elements[i];
    const last = i === elements.length - 1;
    if (((e === 'supported' || e === 'latest') && last) || ((e === 'lookup' || e === 'tile') && !last)) {
      const name = elements.slice(0, i).join('/');
      const problem = checkSumdbName(name);
      if (problem !== null) return badRequest(`invalid checksum database name ${quoteForReason(name)}: ${problem}`);
      return parseSumdbEndpoint(name, '/' + elements.slice(i).join('/'), `/sumdb/${name}`);
    }
  }
  return notFound(`unknown checksum database path ${quoteForReason(rel)}: expected /sumdb/$name/ followed by ${SUMDB_ENDPOINTS}`);
}

/**
 * Parses the path of a request to a GOPROXY (with or without a query string). `basePrefix` is the path of
 * the proxy's base URL; paths outside it are 'other'. Returns 'other' for paths that are not Go module
 * requests at all (forward them unchanged), 400 for a Go module request that the go command could not have
 * sent (bad escaping, module path, version or tile), 404 for an endpoint the protocol does not have.
 */
export function parseProxyPath(path: string, opts: ParseOptions = {}): ParseResult {
  const rel = stripBase(stripQuery(path), opts.basePrefix ?? '');
  if (rel === null || !rel.startsWith('/')) return OTHER;
  const decoded = percentDecode(rel);
  if (!decoded.ok) {
    return looksLikeProxyRequest(rel) ? badRequest(`invalid request path ${quoteForReason(rel)}: ${decoded.problem}`) : OTHER;
  }
  const p = decoded.value;
  if (p.startsWith('/sumdb/')) return parseSumdbViaProxy(p);
  if (p.includes('/@v/') || p.endsWith('/@latest')) return parseModuleEndpoint(p);
  return OTHER;
}

/**
 * Parses the path of a request made straight to checksum database `dbHost` (e.g. sum.golang.org):
 * "/lookup/M@V", "/latest", "/tile/..." and (though the go command only asks a proxy for it) "/supported".
 * The request's sumdb is `dbHost`, so its cache key equals that of the same request made through a proxy.
 * Other paths (the database's web pages) are 'other'. An invalid `dbHost` makes every database path a 400.
 */
export function parseSumdbDirectPath(path: string, dbHost: string, opts: ParseOptions = {}): ParseResult {
  const rel = stripBase(stripQuery(path), opts.basePrefix ?? '');
  if (rel === null || !rel.startsWith('/')) return OTHER;
  const isDbPath = (p: string): boolean =>
    p === '/latest' || p === '/supported' || p.startsWith('/lookup/') || p.startsWith('/tile/');
  const decoded = percentDecode(rel);
  if (!decoded.ok) {
    return isDbPath(rel) ? badRequest(`invalid request path ${quoteForReason(rel)}: ${decoded.problem}`) : OTHER;
  }
  const p = decoded.value;
  if (!isDbPath(p)) return OTHER;
  const problem = checkSumdbName(dbHost);
  if (problem !== null) return badRequest(`invalid checksum database name ${quoteForReason(dbHost)}: ${problem}`);
  return parseSumdbEndpoint(dbHost, p, '');
}
