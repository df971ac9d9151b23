// The one question the service asks before it looks at the cache: may this module@version be served, and
// how? Private paths (--private, GOPRIVATE syntax) are never sent to a public upstream or checksum database;
// the rule file (--policy) allows or denies; --nosumdb (GONOSUMDB syntax) and private paths skip checksum
// verification. Private wins over every rule.
// Owns: the current private/nosumdb patterns and rules, and swapping the rules on reload (SIGHUP). Reads only
// the rules file; never answers requests, never logs, and never replaces valid rules with a file that failed
// to parse. Vulnerability rules ask the injected advisory lookup (the stored vulnerability database).

import { GateError } from '../errors.js';
import { compileModulePatterns, type ModulePatternSet } from './module-pattern.js';
import { loadPolicyFile, Policy } from './policy-rules.js';
import type { AdvisoryLookup } from './vulnerability-rule.js';

export interface ModulePolicyOptions {
  /** GOPRIVATE-syntax patterns (each entry may itself be comma-separated). */
  private: readonly string[];
  /** GONOSUMDB-syntax patterns. */
  nosumdb: readonly string[];
  /** The YAML rule file, or null (or "") for none: everything not private is allowed. */
  rulesFile: string | null;
  /** The advisories affecting a module version, for `vulnerable` / `advisories` rules; none without it. */
  advisories?: AdvisoryLookup;
}

export type ModuleClassification =
  | { kind: 'private'; pattern: string }
  | { kind: 'denied'; reason: string; rule: number | null; advisories?: string[] }
  | { kind: 'allowed'; checkSumdb: boolean; warning?: string };

export type ReloadResult = { ok: true } | { ok: false; error: string };

/**
 * The text/plain body for a checksum-database lookup of a private module (HTTP 403), which the go command
 * prints: the client is missing GOPRIVATE and would otherwise have sent the name to a public service.
 */
export function privateLookupMessage(module: string, pattern: string): string {
  return `${module} is private here: set GOPRIVATE=${pattern} on this machine; the gateway never sends private module names to public services`;
}

/**
 * How each pattern option is read: --private case-insensitively (a case variant must not slip past it), --nosumdb
 * as the go command reads GONOSUMDB (spaces kept). loadConfig compiles them the same way to report a bad one.
 */
export const PATTERN_OPTIONS = {
  private: { flag: '--private', foldCase: true, trimSpaces: true },
  nosumdb: { flag: '--nosumdb', foldCase: false, trimSpaces: false },
} as const;

function compileOption(option: keyof typeof PATTERN_OPTIONS, patterns: readonly string[]): ModulePatternSet {
  const { flag, foldCase, trimSpaces } = PATTERN_OPTIONS[option];
  try {
    return compileModulePatterns(patterns, { foldCase, trimSpaces });
  } catch (err) {
    throw new GateError('CONFIG_INVALID', `${flag}: ${(err as Error).message}`, { cause: err });
  }
}

export class ModulePolicy {
  private privatePatterns: ModulePatternSet;
  private nosumdbPatterns: ModulePatternSet;
  private readonly rulesFile: string | null;
  private readonly advisories: AdvisoryLookup;
  private rules: Policy;

  /** Throws GateError(CONFIG_INVALID) for a bad pattern or an unreadable or invalid rules file. */
  constructor(options: ModulePolicyOptions) {
    // Private matching ignores case, so a case variant of a private path is never sent out either; nosumdb
    // follows the go command exactly, so it never skips verification for more than the admin wrote.
    this.privatePatterns = compileOption('private', options.private);
    // Exactly GONOSUMDB's matching: a pattern with surrounding spaces skips nothing (it must not turn off
    // verification where the go command would not).
    this.nosumdbPatterns = compileOption('nosumdb', options.nosumdb);
    this.rulesFile = options.rulesFile === null || options.rulesFile === '' ? null : options.rulesFile;
    this.rules = this.rulesFile === null ? Policy.allowAll() : loadPolicyFile(this.rulesFile);
    this.advisories = options.advisories ?? (() => []);
  }

  /** The rules in force (for diagnostics: source, rule count, default). */
  get policy(): Policy {
    return this.rules;
  }

  /**
   * Classifies a request for `module` at `version` (null for list and @latest; sumdb lookups pass their
   * module and version too). `kind` is the request kind (info, mod, zip, ...): vulnerability rules apply to
   * .info/.mod/.zip only, so without it they never match. A denial by a vulnerability rule carries the
   * advisories, and its reason is the whole sentence for the client. Never throws.
   */
  classify(module: string, version: string | null, kind?: string): ModuleClassification {
    const pattern = this.privatePatterns.firstMatch(module);
    if (pattern !== null) return { kind: 'private', pattern };
    const decision = this.rules.decide(module, version, kind === undefined ? undefined : { kind, advisories: this.lookup });
    if (decision.action === 'deny') {
      const denied = { kind: 'denied' as const, reason: decision.reason ?? `${module} is denied by the gateway policy`, rule: decision.rule };
      return decision.advisories ? { ...denied, advisories: decision.advisories } : denied;
    }
    const allowed = { kind: 'allowed' as const, checkSumdb: !this.nosumdbPatterns.matches(module) };
    return decision.action === 'warn' && decision.reason !== null ? { ...allowed, warning: decision.reason } : allowed;
  }

  /**
   * The advisory lookup. A database error propagates to the rules, which fail closed: a `deny` vulnerability
   * rule that cannot be checked denies, with the reason (classify itself never throws).
   */
  private readonly lookup: AdvisoryLookup = (module, version) => this.advisories(module, version);

  /**
   * Replaces the private and nosumdb patterns (a reload of --private / --nosumdb): the next classification uses
   * them. Throws GateError(CONFIG_INVALID) for a bad pattern, and then both stay as they were.
   */
  replacePatterns(patterns: { private: readonly string[]; nosumdb: readonly string[] }): void {
    const privatePatterns = compileOption('private', patterns.private);
    const nosumdbPatterns = compileOption('nosumdb', patterns.nosumdb);
    this.privatePatterns = privatePatterns;
    this.nosumdbPatterns = nosumdbPatterns;
  }

  /**
   * Re-reads the rules file (SIGHUP). On any problem the rules in force stay as they were and the error says
   * exactly what is wrong (file, rule index, field). Without a rules file there is nothing to do.
   */
  reload(): ReloadResult {
    if (this.rulesFile === null) return { ok: true };
    try {
      this.rules = loadPolicyFile(this.rulesFile);
      return { ok: true };
    } catch (err) {
      return { ok: false, error: (err as Error).message };
    }
  }
}
