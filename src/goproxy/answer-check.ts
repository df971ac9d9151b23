// Is an upstream's 200 answer what the GOPROXY protocol says it must be? Checked before anything is cached,
// so an upstream that answers with an HTML error page, another module's metadata or garbage is refused (502)
// instead of being served, or kept, as the truth. Covers the answers nothing else verifies: .info, @latest,
// lists, and go.mod files that the checksum database does not cover. Module zips and checksum-database
// answers are checked by src/verify/. Pure: no I/O.
import { isExactVersion } from './module-path.js';
import { isValidSemver } from './semver.js';
import type { ModuleRequest } from './request-path.js';

// ignoreBOM: a byte order mark stays in the text (and JSON.parse refuses it), as encoding/json refuses it
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * A JSON key as encoding/json matches it to a field: case-insensitively, with the two non-ASCII letters that
 * Unicode folds to ASCII ones folded too (U+017F long s to s; U+212A Kelvin sign to k, which toLowerCase does).
 * `{"Version":"v1.0.0","Verſion":"v9.9.9"}` is two Versions to the go command, so it is to the check.
 */
function goFieldName(key: string): string {
  return key.toLowerCase().replace(/\u017f/g, 's');
}

function text(body: Buffer): string | null {
  try {
    return utf8.decode(body);
  } catch {
    return null;
  }
}

/** The checks this kind of answer gets here (false: checked elsewhere, or by status only). */
export function hasAnswerCheck(req: ModuleRequest): boolean {
  return req.kind === 'info' || req.kind === 'latest' || req.kind === 'list' || req.kind === 'mod';
}

/**
 * Why `body` is not an acceptable answer to `req`, as one line for the client; null when it is.
 * - .info and @latest: a JSON object whose Version is a valid semantic version, equal to the version asked
 *   for when that is exact for the path (isExactVersion: the go command refuses the same mismatch, and
 *   accepts "v2.0.0+incompatible" for "v2.0.0" of a path without "/v2"), and whose Time, if any, is an
 *   RFC 3339 time (keys matched as encoding/json matches them, whatever their case and with Unicode folding;
 *   a field given twice is refused; so is a byte order mark, which encoding/json refuses);
 * - list: text, not markup, with a valid semantic version first on at least one line when it has any: the
 *   go command skips the lines it cannot read (proxy.go Versions), so one odd line is no reason to refuse
 *   the list, but a page with no version at all (a portal's or proxy's answer) is not a list;
 * - .mod: text without NUL bytes that does not look like HTML (an HTML page or binary is not a go.mod). Its
 *   bytes need not be UTF-8: the go command reads a go.mod with Latin-1 in a comment, and so does the gateway.
 */
export function checkAnswer(req: ModuleRequest, body: Buffer): string | null {
  switch (req.kind) {
    case 'info':
    case 'latest': {
      const s = text(body);
      return s === null ? 'the answer is not UTF-8 text' : checkInfo(req, s);
    }
    case 'list':
      return checkList(body.toString('latin1'));
    case 'mod': {
      const s = body.toString('latin1');
      return s.includes('\0') ? 'the go.mod contains NUL bytes' : /^\s*</.test(s) ? 'the go.mod looks like HTML or XML' : null;
    }
    default:
      return null;
  }
}

function checkInfo(req: ModuleRequest, s: string): string | null {
  let info: unknown;
  try {
    info = JSON.parse(s);
  } catch {
    return 'the answer is not JSON';
  }
  if (typeof info !== 'object' || info === null || Array.isArray(info)) return 'the answer is not a JSON object';
  // encoding/json matches a key to a field whatever its case and decodes every repeat (the first bad one fails
  // it), where JSON.parse keeps only the last: a field given twice is refused, so what is checked is what Go reads
  const names = topLevelKeys(s).map(goFieldName);
  if (new Set(names).size !== names.length) return 'the answer repeats a field';
  let Version: unknown;
  let Time: unknown;
  for (const [key, value] of Object.entries(info)) {
    const name = goFieldName(key);
    if (name === 'version') Version = value;
    else if (name === 'time') Time = value;
  }
  if (typeof Version !== 'string' || !isValidSemver(Version)) return 'the answer has no valid Version';
  if (req.kind === 'info' && isExactVersion(req.module, req.version) && Version !== req.version) {
    return `the answer is for version ${JSON.stringify(Version.slice(0, 80))}, not ${req.version}`;
  }
  // time.Time takes null (no time) or an RFC 3339 string, and nothing else
  if (Time !== undefined && Time !== null && (typeof Time !== 'string' || !isRfc3339(Time))) {
    return `the answer's Time ${JSON.stringify(String(Time).slice(0, 40))} is not an RFC 3339 time`;
  }
  return null;
}

/** The keys of the top-level object of a JSON text that JSON.parse took, in order, repeats included. */
function topLevelKeys(s: string): string[] {
  const keys: string[] = [];
  let depth = 0;
  let expectKey = false;
  // bounded by the text's length: every step moves forward, and a parsed text closes each string it opens
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === '"') {
      let j = i + 1;
      while (s[j] !== '"') j += s[j] === '\\' ? 2 : 1;
      if (depth === 1 && expectKey) keys.push(JSON.parse(s.slice(i, j + 1)) as string);
      expectKey = false;
      i = j;
    } else if (c === '{' || c === '[') {
      depth++;
      expectKey = c === '{' && depth === 1;
    } else if (c === '}' || c === ']') {
      depth--;
    } else if (c === ',' && depth === 1) {
      expectKey = true;
    }
  }
  return keys;
}

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.\d+)?(?:Z|[+-](\d{2}):(\d{2}))$/;

/**
 * An RFC 3339 date-time ("2006-01-02T15:04:05Z07:00", fractional seconds allowed): the day must exist in its
 * month, no hour 24, no leap second. Every go version reads what this accepts. Go 1.19's own parser is laxer
 * (a comma before the fraction, a one-digit hour, +24:00), which Go 1.20 and later refuse: those forms are
 * refused here too, deliberately (test/integration/verify-differential lists them). Date.parse, which took
 * "2019-01-01" and "1", let through answers that the go command then refused from the cache, for good.
 */
function isRfc3339(s: string): boolean {
  const m = RFC3339.exec(s);
  if (!m) return false;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  const daysInMonth = month === 2 ? (leap ? 29 : 28) : [4, 6, 9, 11].includes(month) ? 30 : 31;
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth || hour > 23 || minute > 59 || second > 59) return false;
  return m[7] === undefined || (Number(m[7]) <= 23 && Number(m[8]) <= 59);
}

function checkList(s: string): string | null {
  if (s.includes('\0')) return 'the list contains NUL bytes';
  if (/^\s*</.test(s)) return 'the list looks like HTML or XML';
  const firsts = s.split('\n').map((line) => line.trim().split(/\s+/)[0]!).filter((f) => f !== '');
  if (firsts.length > 0 && !firsts.some((f) => isValidSemver(f))) return 'no line of the list is a version';
  return null;
}
