// OSV advisories as the Go vulnerability database serves them (https://go.dev/security/vuln/database,
// https://ossf.github.io/osv-schema/): one JSON object per ID/GO-....json, versions without the "v"
// ("0.17.0" means v0.17.0), ranges of type SEMVER made of introduced / fixed / last_affected events.
// Owns: validating one file and turning its ranges into intervals over Go versions. Pure: no I/O, and never
// returns a half-valid advisory (any problem throws GateError INTEGRITY with one line naming the file and field).
import { GateError } from '../errors.js';
import { compareSemver, isValidSemver } from '../goproxy/semver.js';

/** Affected versions of one module: introduced <= v < fixed, or introduced <= v <= lastAffected, or from introduced on. */
export interface VersionInterval {
  /** "v1.2.3"; null = from the first version */
  introduced: string | null;
  fixed: string | null;
  lastAffected: string | null;
}

export interface AffectedModule {
  module: string;
  intervals: VersionInterval[];
}

export interface OsvAdvisory {
  id: string;
  aliases: string[];
  summary: string;
  details: string;
  /** ms since epoch */
  published: number | null;
  modified: number;
  withdrawn: number | null;
  affected: AffectedModule[];
}

const ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** An RFC 3339 time as ms since epoch; throws via fail when it is not one. */
export function parseRfc3339(value: unknown, field: string, fail: (p: string) => GateError): number {
  if (typeof value !== 'string' || !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/i.test(value)) {
    throw fail(`${field} must be an RFC 3339 time (got ${JSON.stringify(value)?.slice(0, 60)})`);
  }
  const ms = Date.parse(value);
  if (!Number.isFinite(ms)) throw fail(`${field} is not a valid time (${value.slice(0, 60)})`);
  return ms;
}

/** "0.17.0" → "v0.17.0" (the Go database writes versions without "v"); null for "0" (introduced from the start). */
export function goVersionOf(osvVersion: unknown, field: string, fail: (p: string) => GateError): string | null {
  if (typeof osvVersion !== 'string') throw fail(`${field} must be a version string`);
  if (osvVersion === '0') return null;
  const v = osvVersion.startsWith('v') ? osvVersion : `v${osvVersion}`;
  if (!isValidSemver(v)) throw fail(`${field} is not a semantic version (${JSON.stringify(osvVersion).slice(0, 60)})`);
  return v;
}

interface RangeEvent {
  type: 'introduced' | 'fixed' | 'last_affected';
  version: string | null;
}

/**
 * Turns one SEMVER range's events into intervals as OSV evaluates them: events sorted by version (introduced "0"
 * first), each introduced opening an interval that the next fixed or last_affected closes.
 */
export function intervalsOf(events: readonly RangeEvent[]): VersionInterval[] {
  const sorted = [...events].sort((a, b) => {
    if (a.version === null || b.version === null) return a.version === b.version ? 0 : a.version === null ? -1 : 1;
    return compareSemver(a.version, b.version);
  });
  const out: VersionInterval[] = [];
  let open: string | null | undefined; // undefined = no interval open
  for (const e of sorted) {
    if (e.type === 'introduced') {
      if (open === undefined) open = e.version;
    } else if (open !== undefined) {
      out.push({ introduced: open, fixed: e.type === 'fixed' ? e.version : null, lastAffected: e.type === 'last_affected' ? e.version : null });
      open = undefined;
    }
  }
  if (open !== undefined) out.push({ introduced: open, fixed: null, lastAffected: null });
  return out;
}

/** Is `version` ("v1.2.3", a pseudo-version, "v2.0.0+incompatible") inside the interval? Invalid versions never are. */
export function intervalContains(iv: VersionInterval, version: string): boolean {
  if (!isValidSemver(version)) return false;
  if (iv.introduced !== null && compareSemver(version, iv.introduced) < 0) return false;
  if (iv.fixed !== null && compareSemver(version, iv.fixed) >= 0) return false;
  if (iv.lastAffected !== null && compareSemver(version, iv.lastAffected) > 0) return false;
  return true;
}

/**
 * Parses one OSV file. `source` names it in messages ("ID/GO-2023-2402.json"). When `expectedId` is given the
 * file must be that advisory (a database that serves one ID under another's name is lying).
 */
export function parseOsv(text: string, source: string, expectedId?: string): OsvAdvisory {
  const fail = (problem: string): GateError => new GateError('INTEGRITY', `vulnerability database file ${source}: ${problem}`);
  let root: unknown;
  try {
    root = JSON.parse(text);
  } catch (err) {
    throw fail(`not valid JSON (${(err as Error).message.split('\n')[0]})`);
  }
  if (!isObject(root)) throw fail('must be a JSON object');
  if (typeof root.id !== 'string' || !ID.test(root.id)) throw fail('id is missing or not an advisory ID');
  if (expectedId !== undefined && root.id !== expectedId) throw fail(`holds ${root.id}, not ${expectedId}`);
  const aliases = root.aliases ?? [];
  if (!Array.isArray(aliases) || !aliases.every((a) => typeof a === 'string' && ID.test(a))) throw fail('aliases must be a list of IDs');
  const str = (v: unknown, field: string): string => {
    if (v === undefined || v === null) return '';
    if (typeof v !== 'string') throw fail(`${field} must be a string`);
    return v;
  };
  const affectedRaw = root.affected ?? [];
  if (!Array.isArray(affectedRaw)) throw fail('affected must be a list');
  const affected = affectedRaw.map((a: unknown, i: number): AffectedModule => {
    const at = `affected[${i}]`;
    if (!isObject(a) || !isObject(a.package) || typeof a.package.name !== 'string' || a.package.name === '') {
      throw fail(`${at}.package.name is missing`);
    }
    const ranges = a.ranges ?? [];
    if (!Array.isArray(ranges)) throw fail(`${at}.ranges must be a list`);
    const intervals: VersionInterval[] = [];
    ranges.forEach((r: unknown, j: number) => {
      const rat = `${at}.ranges[${j}]`;
      if (!isObject(r)) throw fail(`${rat} must be an object`);
      if (r.type !== 'SEMVER') return; // the Go database uses SEMVER only; other kinds say nothing about Go versions
      if (!Array.isArray(r.events) || r.events.length === 0) throw fail(`${rat}.events must be a non-empty list`);
      const events = r.events.map((e: unknown, k: number): RangeEvent => {
        const eat = `${rat}.events[${k}]`;
        if (!isObject(e)) throw fail(`${eat} must be an object`);
        const keys = Object.keys(e);
        if (keys.length !== 1 || !['introduced', 'fixed', 'last_affected'].includes(keys[0]!)) {
          throw fail(`${eat} must have exactly one of introduced, fixed, last_affected`);
        }
        const type = keys[0] as RangeEvent['type'];
        const version = goVersionOf(e[type], `${eat}.${type}`, fail);
        if (version === null && type !== 'introduced') throw fail(`${eat}.${type} cannot be "0"`);
        return { type, version };
      });
      intervals.push(...intervalsOf(events));
    });
    // OSV: an affected package without ranges (or versions) is affected in every version
    if (ranges.length === 0 && a.versions === undefined) intervals.push({ introduced: null, fixed: null, lastAffected: null });
    return { module: a.package.name, intervals };
  });
  return {
    id: root.id,
    aliases: aliases as string[],
    summary: str(root.summary, 'summary'),
    details: str(root.details, 'details'),
    published: root.published === undefined ? null : parseRfc3339(root.published, 'published', fail),
    modified: parseRfc3339(root.modified, 'modified', fail),
    withdrawn: root.withdrawn === undefined ? null : parseRfc3339(root.withdrawn, 'withdrawn', fail),
    affected,
  };
}
