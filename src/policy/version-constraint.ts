// Version constraints of policy rules: "*" (every request, with or without a version), an exact version
// ("v1.2.3" or "=v1.2.3"), comparisons ("<v1.2.3", "<=", ">", ">=", "!=") and comma-separated conjunctions
// (">=v2.0.0,<v2.1.0"), ordered as the go command orders semantic versions (pseudo-versions and prereleases
// sort before their release; "+incompatible" takes no part in ordering).
// Owns: parsing such text with precise messages and deciding whether one requested version satisfies it.
// Pure: it must never do I/O and never throw while matching. A request without a canonical version (a list,
// @latest, a branch or "v1.2" query of .info) satisfies only "*": only the version finally downloaded can be
// judged, and the go command asks for that by its canonical name.

import { GateError } from '../errors.js';
import { isCanonicalVersion } from '../goproxy/module-path.js';
import { quoteForReason } from '../goproxy/protocol-error.js';
import { canonicalSemver, compareSemver, isValidSemver, semverBuild } from '../goproxy/semver.js';

export type VersionOperator = '=' | '!=' | '<' | '<=' | '>' | '>=';

export interface VersionComparison {
  operator: VersionOperator;
  version: string;
}

export interface VersionConstraint {
  /** The text as written (trimmed). */
  readonly text: string;
  /** True for "*". */
  readonly any: boolean;
  /** The comparisons that must all hold; empty for "*". */
  readonly comparisons: readonly VersionComparison[];
  /** Whether a request for `version` (null: no version, as for list and @latest) satisfies it. Never throws. */
  matches(version: string | null): boolean;
}

const OPERATORS: readonly VersionOperator[] = ['=', '!=', '<', '<=', '>', '>='];
const OPERATOR_CHARS = /^[<>=!~^]*/;

function invalid(problem: string): GateError {
  return new GateError('CONFIG_INVALID', `versions: ${problem}`);
}

function holds(c: VersionComparison, version: string): boolean {
  const order = compareSemver(version, c.version);
  switch (c.operator) {
    case '=':
      return order === 0;
    case '!=':
      return order !== 0;
    case '<':
      return order < 0;
    case '<=':
      return order <= 0;
    case '>':
      return order > 0;
    case '>=':
      return order >= 0;
  }
}

/** A suggestion for a version-like text that is not a full Go semantic version, or null when there is none. */
function suggestion(text: string): string | null {
  const withV = /^[0-9]/.test(text) ? 'v' + text : text.startsWith('V') ? 'v' + text.slice(1) : text;
  if (!isValidSemver(withV)) return null;
  return canonicalSemver(withV);
}

function parseComparison(clause: string, whole: string): VersionComparison {
  if (clause === '') {
    throw invalid(`${quoteForReason(whole)} has an empty comparison (write "*", "v1.2.3", "<v1.2.3" or ">=v2.0.0,<v2.1.0")`);
  }
  if (clause === '*') throw invalid(`${quoteForReason(whole)} combines "*" with other comparisons ("*" must stand alone)`);
  const op = OPERATOR_CHARS.exec(clause)![0];
  if (op !== '' && !OPERATORS.includes(op as VersionOperator)) {
    throw invalid(`${quoteForReason(clause)} has an unknown operator ${quoteForReason(op)} (use <, <=, >, >=, = or !=)`);
  }
  const operator: VersionOperator = op === '' ? '=' : (op as VersionOperator);
  const version = clause.slice(op.length).trim();
  if (version === '') throw invalid(`${quoteForReason(clause)} has no version after ${quoteForReason(operator)}`);
  if (!isValidSemver(version) || canonicalSemver(version) !== version) {
    const better = suggestion(version);
    const hint = better !== null && better !== version ? `write ${better}` : 'expected vMAJOR.MINOR.PATCH, e.g. v1.2.3';
    if (isValidSemver(version) && semverBuild(version) !== '') {
      throw invalid(`${quoteForReason(clause)} has build metadata, which takes no part in version order (${hint})`);
    }
    throw invalid(`${quoteForReason(clause)} is not a Go semantic version (${hint})`);
  }
  return { operator, version };
}

/**
 * Parses a rule's version constraint. Throws GateError (CONFIG_INVALID) with a one-line message that starts
 * with "versions: " and quotes the offending part, e.g. `versions: ">=v2.0" is not a Go semantic version
 * (write v2.0.0)`.
 */
export function parseVersionConstraint(text: string): VersionConstraint {
  const whole = text.trim();
  if (whole === '') throw invalid('is empty (write "*" for every version)');
  if (whole === '*') {
    return { text: whole, any: true, comparisons: [], matches: () => true };
  }
  const comparisons = whole.split(',').map((clause) => parseComparison(clause.trim(), whole));
  return {
    text: whole,
    any: false,
    comparisons,
    matches(version: string | null): boolean {
      if (version === null || !isCanonicalVersion(version)) return false;
      return comparisons.every((c) => holds(c, version));
    },
  };
}
