// Is an upstream's 200 answer what the GOPROXY protocol says it must be? Checked before anything is cached,
// so an upstream that answers with an HTML error page, another module's metadata or garbage is refused (502)
// instead of being served, or kept, as the truth. Covers the answers nothing else verifies: .info, @latest,
// lists, and go.mod files that the checksum database does not cover. Module zips and checksum-database
// answers are checked by src/verify/. Pure: no I/O.
import { isExactVersion } from './module-path.js';
import { isValidSemver } from './semver.js';
import type { ModuleRequest } from './request-path.js';

const utf8 = new TextDecoder('utf-8', { fatal: true });

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
 *   accepts "v2.0.0+incompatible" for "v2.0.0" of a path without "/v2"), and whose Time, if any, is a date;
 * - list: UTF-8 lines, each empty or starting with a valid semantic version;
 * - .mod: UTF-8 text without NUL bytes (a go.mod is text; an HTML page or binary is not).
 */
export function checkAnswer(req: ModuleRequest, body: Buffer): string | null {
  const s = text(body);
  if (s === null) return 'the answer is not UTF-8 text';
  switch (req.kind) {
    case 'info':
    case 'latest':
      return checkInfo(req, s);
    case 'list':
      return checkList(s);
    case 'mod':
      return s.includes('\0') ? 'the go.mod contains NUL bytes' : /^\s*</.test(s) ? 'the go.mod looks like HTML or XML' : null;
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
  const { Version, Time } = info as { Version?: unknown; Time?: unknown };
  if (typeof Version !== 'string' || !isValidSemver(Version)) return 'the answer has no valid Version';
  if (req.kind === 'info' && isExactVersion(req.module, req.version) && Version !== req.version) {
    return `the answer is for version ${JSON.stringify(Version.slice(0, 80))}, not ${req.version}`;
  }
  if (Time !== undefined && (typeof Time !== 'string' || Number.isNaN(Date.parse(Time)))) return 'the answer has an invalid Time';
  return null;
}

function checkList(s: string): string | null {
  const lines = s.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const first = lines[i]!.trim().split(/\s+/)[0]!;
    if (first !== '' && !isValidSemver(first)) return `line ${i + 1} of the list is not a version`;
  }
  return null;
}
