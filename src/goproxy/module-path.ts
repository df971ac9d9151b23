// Module paths and versions as the GOPROXY protocol carries them: the case encoding ("github.com/Azure/x" is
// sent as "github.com/!azure/x", "v1.0.0-RC1" as "v1.0.0-!r!c1") and the validity rules of the go command's
// module.CheckPath, CheckImportPath, CheckPathMajor and EscapeVersion (golang.org/x/mod/module).
// Owns: encoding, decoding and checking of single path/version strings. Pure: it must never do I/O, never
// percent-decode (request-path.ts does that once, before calling here), and never accept a string the go
// command would refuse to send.

import { ProtocolError, quoteForReason } from './protocol-error.js';
import { canonicalSemver, isValidSemver, semverBuild, semverMajor } from './semver.js';

/** Longest version string accepted from a client (Go has no limit; real versions are well under 100). */
export const MAX_VERSION_LENGTH = 256;

export type CaseDecoding = { ok: true; value: string } | { ok: false; problem: string };

function isUpper(c: string): boolean {
  return c >= 'A' && c <= 'Z';
}

function isLower(c: string): boolean {
  return c >= 'a' && c <= 'z';
}

function isAsciiDigit(c: string): boolean {
  return c >= '0' && c <= '9';
}

function isAscii(c: string): boolean {
  return c.codePointAt(0)! < 0x80;
}

/**
 * Undoes the case encoding without throwing: "!a" becomes "A". Fails on a raw upper-case letter, a "!" not
 * followed by a lower-case letter, a trailing "!" and any non-ASCII character.
 */
export function decodeCase(escaped: string): CaseDecoding {
  let out = '';
  let bang = false;
  for (const c of escaped) {
    if (!isAscii(c)) return { ok: false, problem: `non-ASCII character ${quoteForReason(c)}` };
    if (bang) {
      bang = false;
      if (!isLower(c)) return { ok: false, problem: `"!" must be followed by a lower-case letter, not ${quoteForReason(c)}` };
      out += c.toUpperCase();
      continue;
    }
    if (c === '!') {
      bang = true;
      continue;
    }
    if (isUpper(c)) return { ok: false, problem: `raw upper-case letter ${quoteForReason(c)}` };
    out += c;
  }
  if (bang) return { ok: false, problem: 'ends with "!" (it must be followed by a lower-case letter)' };
  return { ok: true, value: out };
}

function encodeCase(s: string, what: string): string {
  let out = '';
  for (const c of s) {
    if (c === '!') throw new ProtocolError(`cannot escape ${what} ${quoteForReason(s)}: it contains "!"`);
    if (!isAscii(c)) throw new ProtocolError(`cannot escape ${what} ${quoteForReason(s)}: non-ASCII character ${quoteForReason(c)}`);
    out += isUpper(c) ? '!' + c.toLowerCase() : c;
  }
  return out;
}

/**
 * "github.com/Azure/x" → "github.com/!azure/x". Throws ProtocolError when the path contains "!" or a non-ASCII
 * character (neither can be encoded). It does not check the path otherwise: use checkModulePath for that.
 */
export function escapePath(path: string): string {
  return encodeCase(path, 'module path');
}

/** "v1.0.0-RC1" → "v1.0.0-!r!c1". Throws ProtocolError when the version contains "!" or a non-ASCII character. */
export function escapeVersion(version: string): string {
  return encodeCase(version, 'version');
}

/**
 * "github.com/!azure/x" → "github.com/Azure/x". Throws ProtocolError on a raw upper-case letter, a "!" not
 * followed by a lower-case letter, a trailing "!" or a non-ASCII character. It only decodes: use
 * checkModulePath on the result.
 */
export function unescapePath(escaped: string): string {
  const d = decodeCase(escaped);
  if (!d.ok) throw new ProtocolError(`invalid escaped module path ${quoteForReason(escaped)}: ${d.problem}`);
  return d.value;
}

/** "v1.0.0-!r!c1" → "v1.0.0-RC1". Throws ProtocolError as unescapePath does. Use checkVersion on the result. */
export function unescapeVersion(escaped: string): string {
  const d = decodeCase(escaped);
  if (!d.ok) throw new ProtocolError(`invalid escaped version ${quoteForReason(escaped)}: ${d.problem}`);
  return d.value;
}

type PathKind = 'module' | 'import' | 'file';

function modulePathCharOK(c: string): boolean {
  return c === '-' || c === '.' || c === '_' || c === '~' || isAsciiDigit(c) || isUpper(c) || isLower(c);
}

function firstElementCharOK(c: string): boolean {
  return c === '-' || c === '.' || isAsciiDigit(c) || isLower(c);
}

const FILE_NAME_PUNCTUATION = '!#$%&()+,-.=@[]^_{}~ ';

/** Characters Go allows in a file name, restricted to ASCII (escaping refuses anything else anyway). */
function fileNameCharOK(c: string): boolean {
  return isAsciiDigit(c) || isUpper(c) || isLower(c) || FILE_NAME_PUNCTUATION.includes(c);
}

function charOK(c: string, kind: PathKind): boolean {
  switch (kind) {
    case 'module':
      return modulePathCharOK(c);
    case 'import':
      return modulePathCharOK(c) || c === '+';
    case 'file':
      return fileNameCharOK(c);
  }
}

function describeChar(c: string): string {
  const code = c.codePointAt(0)!;
  if (code < 0x20 || code === 0x7f) return `control character ${quoteForReason(c)}`;
  if (code >= 0x80) return `non-ASCII character ${quoteForReason(c)}`;
  return `invalid char ${quoteForReason(c)}`;
}

const WINDOWS_RESERVED = new Set([
  'CON', 'PRN', 'AUX', 'NUL',
  'COM1', 'COM2', 'COM3', 'COM4', 'COM5', 'COM6', 'COM7', 'COM8', 'COM9',
  'LPT1', 'LPT2', 'LPT3', 'LPT4', 'LPT5', 'LPT6', 'LPT7', 'LPT8', 'LPT9',
]);

function checkElement(elem: string, kind: PathKind): string | null {
  if (elem === '') return 'empty path element';
  if (/^\.+$/.test(elem)) return `invalid path element ${quoteForReason(elem)}`;
  if (elem[0] === '.' && kind === 'module') return `leading dot in path element ${quoteForReason(elem)}`;
  if (elem[elem.length - 1] === '.') return `trailing dot in path element ${quoteForReason(elem)}`;
  for (const c of elem) {
    if (!charOK(c, kind)) return describeChar(c);
  }
  const dot = elem.indexOf('.');
  const short = dot >= 0 ? elem.slice(0, dot) : elem;
  if (WINDOWS_RESERVED.has(short.toUpperCase())) {
    return `${quoteForReason(short)} disallowed as path element component on Windows`;
  }
  if (kind !== 'file') {
    // "foo~1" looks like a Windows 8.3 short name.
    const tilde = short.lastIndexOf('~');
    if (tilde >= 0 && tilde < short.length - 1 && /^[0-9]+$/.test(short.slice(tilde + 1))) {
      return `trailing tilde and digits in path element ${quoteForReason(elem)}`;
    }
  }
  return null;
}

function checkPathElements(path: string, kind: PathKind): string | null {
  if (path === '') return 'empty string';
  if (path[0] === '-' && kind !== 'file') return 'leading dash';
  if (path.includes('//')) return 'double slash';
  if (path[path.length - 1] === '/') return 'trailing slash';
  for (const elem of path.split('/')) {
    const problem = checkElement(elem, kind);
    if (problem !== null) return problem;
  }
  return null;
}

/**
 * Why `path` (decoded, e.g. "github.com/Azure/x") is not a valid module path per module.CheckPath, as one
 * line without the path itself ("missing dot in first path element"); null when it is valid.
 */
export function checkModulePath(path: string): string | null {
  if (path.startsWith('/')) return 'leading slash';
  const problem = checkPathElements(path, 'module');
  if (problem !== null) return problem;
  const slash = path.indexOf('/');
  const first = slash < 0 ? path : path.slice(0, slash);
  if (!first.includes('.')) return 'missing dot in first path element';
  for (const c of first) {
    if (!firstElementCharOK(c)) {
      return isUpper(c)
        ? `upper-case letter ${quoteForReason(c)} in first path element`
        : `invalid char ${quoteForReason(c)} in first path element`;
    }
  }
  if (splitPathVersion(path) === null) {
    return path.startsWith('gopkg.in/')
      ? 'invalid version suffix: a gopkg.in path must end in .vN (N without leading zeros, e.g. gopkg.in/yaml.v3)'
      : 'invalid major version suffix: it must be /vN with N >= 2 and no leading zero or dot (e.g. /v2)';
  }
  return null;
}

/** Why `path` is not a valid import path per module.CheckImportPath (like a module path, "+" allowed, no first-element rules); null when valid. */
export function checkImportPath(path: string): string | null {
  return checkPathElements(path, 'import');
}

/**
 * Splits a module path into prefix and major-version suffix, as module.SplitPathVersion:
 * "rsc.io/quote/v3" → {prefix "rsc.io/quote", pathMajor "/v3"}, "gopkg.in/yaml.v2" → {"gopkg.in/yaml", ".v2"},
 * "rsc.io/quote" → {"rsc.io/quote", ""}. Null when the suffix is malformed ("/v1", "/v0", "/v2.1", "/v02",
 * or a gopkg.in path without ".vN").
 */
export function splitPathVersion(path: string): { prefix: string; pathMajor: string } | null {
  if (path.startsWith('gopkg.in/')) return splitGopkgIn(path);
  let i = path.length;
  let dot = false;
  while (i > 0 && (isAsciiDigit(path[i - 1]!) || path[i - 1] === '.')) {
    if (path[i - 1] === '.') dot = true;
    i--;
  }
  if (i <= 1 || i === path.length || path[i - 1] !== 'v' || path[i - 2] !== '/') {
    return { prefix: path, pathMajor: '' };
  }
  const pathMajor = path.slice(i - 2);
  if (dot || pathMajor.length <= 2 || pathMajor[2] === '0' || pathMajor === '/v1') return null;
  return { prefix: path.slice(0, i - 2), pathMajor };
}

function splitGopkgIn(path: string): { prefix: string; pathMajor: string } | null {
  let i = path.length;
  if (path.endsWith('-unstable')) i -= '-unstable'.length;
  while (i > 0 && isAsciiDigit(path[i - 1]!)) i--;
  if (i <= 1 || path[i - 1] !== 'v' || path[i - 2] !== '.') return null;
  const pathMajor = path.slice(i - 2);
  if (pathMajor.length <= 2 || (pathMajor[2] === '0' && pathMajor !== '.v0')) return null;
  return { prefix: path.slice(0, i - 2), pathMajor };
}

/**
 * Why `version` does not fit a module path with major suffix `pathMajor` (from splitPathVersion), as
 * module.CheckPathMajor: "v3.1.0" needs "/v3"; without a suffix only v0, v1 or "+incompatible" fit. Null when it fits.
 */
export function checkPathMajor(version: string, pathMajor: string): string | null {
  let pm = pathMajor;
  if (pm.startsWith('.v') && pm.endsWith('-unstable')) pm = pm.slice(0, -'-unstable'.length);
  if (version.startsWith('v0.0.0-') && pm === '.v1') return null;
  const major = semverMajor(version);
  let want: string;
  if (pm === '') {
    if (major === 'v0' || major === 'v1' || semverBuild(version) === '+incompatible') return null;
    want = 'v0 or v1';
  } else if (pm[0] === '/' || pm[0] === '.') {
    if (major === pm.slice(1)) return null;
    want = pm.slice(1);
  } else {
    want = pm;
  }
  return `version ${quoteForReason(version)} should be ${want}, not ${major ?? 'an invalid version'}`;
}

/**
 * True when a proxy must answer `version` of `module` with exactly that version: the version is canonical and
 * fits the path (module.Check). The go command refuses any other version in such an .info answer; for anything
 * else ("v2.0.0" of a path without "/v2", a branch, a commit) the proxy resolves the query, and may answer
 * "v2.0.0+incompatible" or a pseudo-version, which the go command accepts. `module` must be a valid module
 * path, as every parsed request's is (module.Check's CheckPath is not repeated here, on every .info). False
 * when either is missing (a request kind without them).
 */
export function isExactVersion(module: string | undefined, version: string | undefined): boolean {
  if (module === undefined || version === undefined) return false;
  return isCanonicalVersion(version) && checkPathMajor(version, splitPathVersion(module)?.pathMajor ?? '') === null;
}

/**
 * Why `version` (decoded) cannot be asked of a proxy, as one line without the version itself; null when it
 * can. Accepts semantic versions and the non-canonical queries the go command sends for .info (a branch
 * "master", a commit "4e3d6c7"); the rules are module.EscapeVersion's (a file-name-safe element without "!")
 * plus a length limit. Use isCanonicalVersion to tell the two apart.
 */
export function checkVersion(version: string): string | null {
  if (version === '') return 'empty version';
  if (version.length > MAX_VERSION_LENGTH) return `longer than ${MAX_VERSION_LENGTH} characters`;
  if (version.includes('/')) return 'contains a slash';
  if (version.includes('!')) return 'contains "!"';
  return checkElement(version, 'file');
}

/**
 * True when `version` is a module version in canonical form, as module.CanonicalVersion leaves it unchanged:
 * "v1.2.3", "v1.2.3-pre.1", pseudo-versions, "v2.0.0+incompatible". False for shorthands ("v1.2"), other
 * build metadata ("v1.2.3+meta"), branches and commits.
 */
export function isCanonicalVersion(version: string): boolean {
  if (!isValidSemver(version)) return false;
  let canonical = canonicalSemver(version)!;
  if (semverBuild(version) === '+incompatible') canonical += '+incompatible';
  return canonical === version;
}
