// Semantic versions as the go command understands them (golang.org/x/mod/semver): a leading "v", a major
// version with optional ".minor" and ".patch" (shorthands "v1" and "v1.2" are valid and mean v1.0.0 and
// v1.2.0), an optional "-prerelease" and an optional "+build" that never takes part in ordering.
// Also recognises pseudo-versions (module.IsPseudoVersion).
// Owns: parsing, canonical form and ordering of version strings. Pure string work: it must never do I/O,
// throw on bad input (invalid versions are reported by return value), or accept a version without the "v".

interface ParsedSemver {
  major: string;
  minor: string;
  patch: string;
  /** ".0.0" or ".0" when the version used a shorthand, else "". */
  short: string;
  /** "-..." including the dash, or "". */
  prerelease: string;
  /** "+..." including the plus, or "". */
  build: string;
}

function isDigit(c: string): boolean {
  return c >= '0' && c <= '9';
}

function isIdentChar(c: string): boolean {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || isDigit(c) || c === '-';
}

/** A numeric prerelease identifier with a leading zero ("01") is not allowed. */
function isBadNumericIdent(ident: string): boolean {
  return ident.length > 1 && ident[0] === '0' && isAllDigits(ident);
}

function isAllDigits(s: string): boolean {
  for (const c of s) if (!isDigit(c)) return false;
  return true;
}

/** Reads a decimal number without leading zeros from the front of s; null when there is none. */
function readNumber(s: string): { num: string; rest: string } | null {
  let i = 0;
  while (i < s.length && isDigit(s[i]!)) i++;
  if (i === 0) return null;
  if (s[0] === '0' && i !== 1) return null;
  return { num: s.slice(0, i), rest: s.slice(i) };
}

/** Reads "-ident(.ident)*" up to a "+" or the end; null when malformed. */
function readPrerelease(s: string): { pre: string; rest: string } | null {
  let i = 1;
  let start = 1;
  while (i < s.length && s[i] !== '+') {
    const c = s[i]!;
    if (c === '.') {
      if (start === i || isBadNumericIdent(s.slice(start, i))) return null;
      start = i + 1;
    } else if (!isIdentChar(c)) {
      return null;
    }
    i++;
  }
  if (start === i || isBadNumericIdent(s.slice(start, i))) return null;
  return { pre: s.slice(0, i), rest: s.slice(i) };
}

/** Reads "+ident(.ident)*" to the end; null when malformed. Numeric build identifiers may have leading zeros. */
function readBuild(s: string): string | null {
  let i = 1;
  let start = 1;
  while (i < s.length) {
    const c = s[i]!;
    if (c === '.') {
      if (start === i) return null;
      start = i + 1;
    } else if (!isIdentChar(c)) {
      return null;
    }
    i++;
  }
  if (start === i) return null;
  return s;
}

function parse(v: string): ParsedSemver | null {
  if (v.length === 0 || v[0] !== 'v') return null;
  const major = readNumber(v.slice(1));
  if (major === null) return null;
  if (major.rest === '') {
    return { major: major.num, minor: '0', patch: '0', short: '.0.0', prerelease: '', build: '' };
  }
  if (major.rest[0] !== '.') return null;
  const minor = readNumber(major.rest.slice(1));
  if (minor === null) return null;
  if (minor.rest === '') {
    return { major: major.num, minor: minor.num, patch: '0', short: '.0', prerelease: '', build: '' };
  }
  if (minor.rest[0] !== '.') return null;
  const patch = readNumber(minor.rest.slice(1));
  if (patch === null) return null;
  let rest = patch.rest;
  let prerelease = '';
  let build = '';
  if (rest[0] === '-') {
    const pre = readPrerelease(rest);
    if (pre === null) return null;
    prerelease = pre.pre;
    rest = pre.rest;
  }
  if (rest[0] === '+') {
    const b = readBuild(rest);
    if (b === null) return null;
    build = b;
    rest = '';
  }
  if (rest !== '') return null;
  return { major: major.num, minor: minor.num, patch: patch.num, short: '', prerelease, build };
}

/** True when v is a semantic version in the go command's sense ("v1", "v1.2", "v1.2.3-pre+build"). */
export function isValidSemver(v: string): boolean {
  return parse(v) !== null;
}

/**
 * The canonical form of v: shorthands expanded, build metadata dropped ("v1.2" → "v1.2.0",
 * "v1.2.3+meta" → "v1.2.3"); null when v is not a valid semantic version.
 * Note that this drops "+incompatible" too, as semver.Canonical does; see isCanonicalVersion in
 * module-path.ts for the module-version notion that keeps it.
 */
export function canonicalSemver(v: string): string | null {
  const p = parse(v);
  if (p === null) return null;
  if (p.build !== '') return v.slice(0, v.length - p.build.length);
  if (p.short !== '') return v + p.short;
  return v;
}

/** "v2" for "v2.3.4"; null when invalid. */
export function semverMajor(v: string): string | null {
  const p = parse(v);
  return p === null ? null : `v${p.major}`;
}

/** "-rc.1" for "v1.0.0-rc.1+meta", "" when there is none; null when invalid. */
export function semverPrerelease(v: string): string | null {
  const p = parse(v);
  return p === null ? null : p.prerelease;
}

/** "+incompatible" for "v2.0.0+incompatible", "" when there is none; null when invalid. */
export function semverBuild(v: string): string | null {
  const p = parse(v);
  return p === null ? null : p.build;
}

function compareNumbers(x: string, y: string): -1 | 0 | 1 {
  if (x === y) return 0;
  if (x.length !== y.length) return x.length < y.length ? -1 : 1;
  return x < y ? -1 : 1;
}

function comparePrereleases(x: string, y: string): -1 | 0 | 1 {
  // A version without a prerelease sorts after any prerelease of the same version.
  if (x === y) return 0;
  if (x === '') return 1;
  if (y === '') return -1;
  const xs = x.slice(1).split('.');
  const ys = y.slice(1).split('.');
  for (let i = 0; i < xs.length && i < ys.length; i++) {
    const dx = xs[i]!;
    const dy = ys[i]!;
    if (dx === dy) continue;
    const nx = isAllDigits(dx);
    const ny = isAllDigits(dy);
    // Numeric identifiers sort before alphanumeric ones, and among themselves by value.
    if (nx !== ny) return nx ? -1 : 1;
    if (nx) return compareNumbers(dx, dy);
    return dx < dy ? -1 : 1;
  }
  // A shorter list of identifiers sorts first when all shared ones are equal.
  if (xs.length === ys.length) return 0;
  return xs.length < ys.length ? -1 : 1;
}

/**
 * Orders two versions as semver.Compare does: -1, 0 or 1. Build metadata is ignored ("v1.0.0+a" equals
 * "v1.0.0+b" and "v1.0.0"). An invalid version sorts before every valid one, and two invalid versions are equal.
 */
export function compareSemver(a: string, b: string): -1 | 0 | 1 {
  const pa = parse(a);
  const pb = parse(b);
  if (pa === null && pb === null) return 0;
  if (pa === null) return -1;
  if (pb === null) return 1;
  return (
    compareNumbers(pa.major, pb.major) ||
    compareNumbers(pa.minor, pb.minor) ||
    compareNumbers(pa.patch, pb.patch) ||
    comparePrereleases(pa.prerelease, pb.prerelease)
  );
}

// vX.0.0-yyyymmddhhmmss-rev, vX.Y.(Z+1)-0.yyyymmddhhmmss-rev, vX.Y.Z-pre.0.yyyymmddhhmmss-rev (+build allowed).
const PSEUDO_VERSION = /^v[0-9]+\.(0\.0-|\d+\.\d+-([^+]*\.)?0\.)\d{14}-[A-Za-z0-9]+(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$/;

/** True when v has the syntax of a pseudo-version ("v0.0.0-20191109021931-daa7c04131f5"), as module.IsPseudoVersion. */
export function isPseudoVersion(v: string): boolean {
  let dashes = 0;
  for (const c of v) if (c === '-') dashes++;
  return dashes >= 2 && isValidSemver(v) && PSEUDO_VERSION.test(v);
}
