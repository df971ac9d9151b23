// The allow/deny rule file (--policy FILE), YAML:
//   rules:
//     - module: github.com/evil/*     # GOPRIVATE glob syntax, one pattern or a list
//       versions: "*"                  # "*" (default), "v1.2.3", "<v1.2.3", ">=v2.0.0,<v2.1.0"
//       action: deny                   # allow | deny
//       reason: "known malware, see SEC-1234"   # required for deny: the go command prints it
//     - vulnerable: true               # any advisory of the vulnerability database affecting that version
//       action: deny                   # or warn: served, the audit row says which advisories
//     - advisories: [GO-2023-2402, CVE-2024-1234]   # only these (IDs or aliases); module optional
//       module: golang.org/x/*
//       action: warn
//   default: allow                     # optional, default allow
// Owns: reading and validating that file with messages naming the rule and field, and the first-match-wins
// decision for one module@version. Reads the file only in loadPolicyFile; never touches the network, and
// never returns a half-valid Policy: any problem throws GateError(CONFIG_INVALID) and nothing is built.

import { readFileSync } from 'node:fs';
import { parseDocument } from 'yaml';
import { GateError } from '../errors.js';
import { quoteForReason } from '../goproxy/protocol-error.js';
import { compileModulePatterns, type ModulePatternSet } from './module-pattern.js';
import { parseVersionConstraint, type VersionConstraint } from './version-constraint.js';
import {
  VULNERABILITY_RULE_KINDS,
  advisoriesNamed,
  vulnerabilityReason,
  type AdvisoryLookup,
  type VersionAdvisory,
  type VulnerabilityCondition,
} from './vulnerability-rule.js';

/** warn: only for vulnerability rules; served, and the audit row says why. */
export type PolicyAction = 'allow' | 'deny' | 'warn';

export interface PolicyRule {
  /** Position in the file's rules list, from 0 (as in the messages: rules[1]). */
  readonly index: number;
  readonly modules: ModulePatternSet;
  readonly versions: VersionConstraint;
  readonly action: PolicyAction;
  /** Required for deny; may be null for allow and for vulnerability rules. */
  readonly reason: string | null;
  /** Set for `vulnerable: true` / `advisories: [...]` rules: they match only versions those advisories affect. */
  readonly vulnerability?: VulnerabilityCondition;
}

export interface PolicyDecision {
  action: PolicyAction;
  /** The matching rule's reason; for the default action null (allow) or a generated sentence (deny). */
  reason: string | null;
  /** Index of the matching rule, null when the default applied. */
  rule: number | null;
  /** For a vulnerability rule: the advisories that made it match (and `reason` is the sentence naming them). */
  advisories?: string[];
}

const TOP_KEYS = ['rules', 'default'] as const;
const RULE_KEYS = ['module', 'versions', 'action', 'reason', 'vulnerable', 'advisories'] as const;
const MAX_REASON_LENGTH = 500;

/** A parsed rule file. Rules match case-insensitively: "github.com/Evil/x" cannot slip past "github.com/evil/*". */
export class Policy {
  constructor(
    /** The file name used in messages. */
    readonly source: string,
    readonly rules: readonly PolicyRule[],
    readonly defaultAction: PolicyAction,
  ) {}

  /** An empty policy: everything allowed (no --policy). */
  static allowAll(): Policy {
    return new Policy('(no policy)', [], 'allow');
  }

  /**
   * The first rule whose module patterns match `module` and whose versions match `version` decides; else the
   * default. `version` null (list, @latest) or a non-canonical query matches only rules with versions "*".
   */
  decide(module: string, version: string | null, request?: { kind: string; advisories: AdvisoryLookup }): PolicyDecision {
    let found: readonly VersionAdvisory[] | null = null; // looked up once, at the first vulnerability rule
    for (const rule of this.rules) {
      if (!rule.modules.matches(module) || !rule.versions.matches(version)) continue;
      if (rule.vulnerability === undefined) return { action: rule.action, reason: rule.reason, rule: rule.index };
      // a vulnerability rule applies to the .info/.mod/.zip of a version, and only with the database at hand
      if (version === null || !request || !VULNERABILITY_RULE_KINDS.has(request.kind)) continue;
      if (found === null) {
        try {
          found = request.advisories(module, version);
        } catch (err) {
          // fail closed: a deny rule that cannot be checked denies (a warn rule has nothing to warn about)
          if (rule.action !== 'deny') {
            found = [];
            continue;
          }
          const why = err instanceof Error ? err.message : String(err);
          return { action: 'deny', reason: `${module}@${version} cannot be checked against the gateway's vulnerability database (${why.slice(0, 200)}); refused by policy rule ${rule.index}`, rule: rule.index };
        }
      }
      const named = advisoriesNamed(rule.vulnerability, found);
      if (named.length === 0) continue;
      const sentence = vulnerabilityReason(module, version, named);
      return { action: rule.action, reason: rule.reason ? `${sentence} (${rule.reason})` : sentence, rule: rule.index, advisories: named.map((a) => a.id) };
    }
    if (this.defaultAction === 'allow') return { action: 'allow', reason: null, rule: null };
    return {
      action: 'deny',
      reason: `${module}${version === null ? '' : '@' + version} is not allowed by any rule of the gateway policy (default: deny)`,
      rule: null,
    };
  }
}

function describeValue(value: unknown): string {
  if (value === null || value === undefined) return 'nothing';
  if (typeof value === 'string') return quoteForReason(value, 80);
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return typeof value;
}

function isMapping(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array);
}

function unknownKeys(obj: Record<string, unknown>, known: readonly string[]): string[] {
  return Object.keys(obj).filter((k) => !known.includes(k));
}

/** Parses and validates a rule file's text; `sourceName` prefixes every message. Throws GateError(CONFIG_INVALID). */
export function parsePolicy(text: string, sourceName: string): Policy {
  const fail = (problem: string): GateError => new GateError('CONFIG_INVALID', `${sourceName}: ${problem}`);

  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const err = doc.errors[0]!;
    const first = err.message.split('\n')[0]!.replace(/:$/, '');
    const hint = err.code === 'BAD_ALIAS' ? ' (a bare * starts a YAML alias: write "*" in quotes)' : '';
    throw fail(`not valid YAML: ${first}${hint}`);
  }
  let root: unknown;
  try {
    root = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    throw fail(`not valid YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  if (root === null || root === undefined) throw fail('is empty (expected a mapping with "rules" and optionally "default")');
  if (!isMapping(root)) throw fail(`must be a mapping with "rules" and optionally "default" (got ${describeValue(root)})`);
  const extraTop = unknownKeys(root, TOP_KEYS);
  if (extraTop.length > 0) {
    throw fail(`unknown key ${quoteForReason(extraTop[0]!)} (allowed: ${TOP_KEYS.join(', ')})`);
  }

  let defaultAction: PolicyAction = 'allow';
  if (root.default !== undefined) {
    if (root.default !== 'allow' && root.default !== 'deny') {
      throw fail(`default must be "allow" or "deny" (got ${describeValue(root.default)})`);
    }
    defaultAction = root.default;
  }

  const rawRules = root.rules === undefined || root.rules === null ? [] : root.rules;
  if (!Array.isArray(rawRules)) throw fail(`rules must be a list of rules (got ${describeValue(rawRules)})`);

  const rules = rawRules.map((raw: unknown, index: number) => parseRule(raw, index, fail));
  return new Policy(sourceName, rules, defaultAction);
}

function parseRule(raw: unknown, index: number, fail: (problem: string) => GateError): PolicyRule {
  const at = `rules[${index}]`;
  if (!isMapping(raw)) throw fail(`${at} must be a mapping with module, versions, action and reason (got ${describeValue(raw)})`);
  const extra = unknownKeys(raw, RULE_KEYS);
  if (extra.length > 0) throw fail(`${at} has unknown key ${quoteForReason(extra[0]!)} (allowed: ${RULE_KEYS.join(', ')})`);

  const vulnerability = parseVulnerability(raw, at, fail);
  // module: one pattern or a non-empty list of patterns (a vulnerability rule without one covers every module)
  if ((raw.module === undefined || raw.module === null) && vulnerability === undefined) {
    throw fail(`${at}.module is required (a module path pattern such as github.com/corp/*)`);
  }
  const patterns = raw.module === undefined || raw.module === null ? ['*'] : typeof raw.module === 'string' ? [raw.module] : raw.module;
  if (!Array.isArray(patterns) || patterns.length === 0) {
    throw fail(`${at}.module must be a pattern or a non-empty list of patterns (got ${describeValue(raw.module)})`);
  }
  patterns.forEach((p: unknown, i: number) => {
    const where = Array.isArray(raw.module) ? `${at}.module[${i}]` : `${at}.module`;
    if (typeof p !== 'string') throw fail(`${where} must be a string (got ${describeValue(p)})`);
    if (p.includes(',')) throw fail(`${where} must be one pattern (got ${quoteForReason(p)}: write a list instead of commas)`);
    if (p.trim().replace(/\/$/, '') === '') throw fail(`${where} is empty`);
  });
  let modules: ModulePatternSet;
  try {
    modules = compileModulePatterns(patterns as string[], { foldCase: true });
  } catch (err) {
    throw fail(`${at}.module: ${(err as Error).message}`);
  }

  // versions: default "*"
  const versionsText = raw.versions === undefined ? '*' : raw.versions;
  if (typeof versionsText !== 'string') {
    throw fail(`${at}.versions must be a string such as "*", "v1.2.3" or ">=v2.0.0,<v2.1.0" (got ${describeValue(versionsText)})`);
  }
  let versions: VersionConstraint;
  try {
    versions = parseVersionConstraint(versionsText);
  } catch (err) {
    throw fail(`${at}.${(err as Error).message}`);
  }

  const actions = vulnerability === undefined ? '"allow" or "deny"' : '"deny", "warn" or "allow"';
  if (raw.action === undefined || raw.action === null) throw fail(`${at}.action is required (${actions})`);
  if (raw.action === 'warn' && vulnerability === undefined) {
    throw fail(`${at}.action "warn" is only for rules with vulnerable or advisories (use allow or deny)`);
  }
  if (raw.action !== 'allow' && raw.action !== 'deny' && raw.action !== 'warn') {
    throw fail(`${at}.action must be ${actions} (got ${describeValue(raw.action)})`);
  }
  const action: PolicyAction = raw.action;

  let reason: string | null = null;
  if (raw.reason !== undefined && raw.reason !== null) {
    if (typeof raw.reason !== 'string') throw fail(`${at}.reason must be a string (got ${describeValue(raw.reason)})`);
    reason = raw.reason.trim();
    if (reason === '') throw fail(`${at}.reason is empty`);
    if (/[\r\n]/.test(reason)) throw fail(`${at}.reason must be one line (the go command prints it)`);
    if (reason.length > MAX_REASON_LENGTH) throw fail(`${at}.reason is longer than ${MAX_REASON_LENGTH} characters`);
  }
  if (action === 'deny' && reason === null && vulnerability === undefined) {
    throw fail(`${at}.reason is required for a deny rule (it is what the developer sees)`);
  }
  return vulnerability === undefined ? { index, modules, versions, action, reason } : { index, modules, versions, action, reason, vulnerability };
}

const ADVISORY_ID = /^[A-Za-z][A-Za-z0-9]*-[A-Za-z0-9._-]+$/;

/** `vulnerable: true` or `advisories: [IDs or aliases]` (not both); undefined for an ordinary rule. */
function parseVulnerability(raw: Record<string, unknown>, at: string, fail: (problem: string) => GateError): VulnerabilityCondition | undefined {
  const hasVulnerable = raw.vulnerable !== undefined && raw.vulnerable !== null;
  const hasAdvisories = raw.advisories !== undefined && raw.advisories !== null;
  if (hasVulnerable && hasAdvisories) throw fail(`${at} has both vulnerable and advisories: use one (advisories already means "vulnerable to one of these")`);
  if (hasVulnerable) {
    if (raw.vulnerable !== true) throw fail(`${at}.vulnerable must be true (got ${describeValue(raw.vulnerable)}); leave it out for rules about other things`);
    return { any: true };
  }
  if (!hasAdvisories) return undefined;
  const list = typeof raw.advisories === 'string' ? [raw.advisories] : raw.advisories;
  if (!Array.isArray(list) || list.length === 0) throw fail(`${at}.advisories must be an advisory ID or a non-empty list of IDs or aliases (GO-2023-2402, CVE-2023-48795)`);
  const ids = new Set<string>();
  list.forEach((id: unknown, i: number) => {
    if (typeof id !== 'string' || !ADVISORY_ID.test(id.trim())) {
      throw fail(`${at}.advisories[${i}] must be an advisory ID or alias such as GO-2023-2402 or CVE-2023-48795 (got ${describeValue(id)})`);
    }
    ids.add(id.trim().toUpperCase());
  });
  return { ids };
}

/** Reads and parses a rule file. Throws GateError(CONFIG_INVALID) when it cannot be read or is invalid. */
export function loadPolicyFile(path: string): Policy {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new GateError('CONFIG_INVALID', `${path}: cannot read the policy file (${code ?? (err as Error).message})`, { cause: err });
  }
  return parsePolicy(text, path);
}
