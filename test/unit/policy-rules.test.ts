// The policy rule file: valid files and their decisions (first match wins, default allow/deny), and the
// exact message for every way a file can be wrong.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadPolicyFile, parsePolicy, Policy } from '../../src/policy/policy-rules.js';
import { GateError } from '../../src/errors.js';

const EXAMPLE = `
rules:
  - module: github.com/evil/*        # GOPRIVATE glob syntax, one pattern or a list
    versions: "*"
    action: deny
    reason: "known malware, see SEC-1234"
  - module: golang.org/x/crypto
    versions: "<v0.17.0"
    action: deny
    reason: "CVE-2023-48795 (Terrapin): upgrade to v0.17.0 or later"
  - module: [golang.org/x/crypto, golang.org/x/net]
    action: allow
  - module: example.com/legacy
    versions: ">=v2.0.0,<v2.1.0"
    action: deny
    reason: broken release line
default: allow
`;

describe('parsePolicy: decisions', () => {
  const policy = parsePolicy(EXAMPLE, 'policy.yaml');
  const TERRAPIN = 'CVE-2023-48795 (Terrapin): upgrade to v0.17.0 or later';
  // [module, version, expected decision]
  const table: Array<[string, string | null, { action: 'allow' | 'deny'; reason: string | null; rule: number | null }]> = [
    ['github.com/evil/pkg', 'v1.0.0', { action: 'deny', reason: 'known malware, see SEC-1234', rule: 0 }],
    ['github.com/evil/pkg/v2', null, { action: 'deny', reason: 'known malware, see SEC-1234', rule: 0 }],
    ['github.com/Evil/pkg', 'v1.0.0', { action: 'deny', reason: 'known malware, see SEC-1234', rule: 0 }], // case variant
    ['github.com/evil', 'v1.0.0', { action: 'allow', reason: null, rule: null }], // pattern has three elements
    ['golang.org/x/crypto', 'v0.16.0', { action: 'deny', reason: TERRAPIN, rule: 1 }],
    ['golang.org/x/crypto', 'v0.0.0-20231127180814-3a041ad873d4', { action: 'deny', reason: TERRAPIN, rule: 1 }],
    ['golang.org/x/crypto', 'v0.17.0', { action: 'allow', reason: null, rule: 2 }], // first match wins: rule 2
    ['golang.org/x/crypto', null, { action: 'allow', reason: null, rule: 2 }], // list/@latest match only "*" rules
    ['golang.org/x/crypto/ssh', 'v0.1.0', { action: 'deny', reason: TERRAPIN, rule: 1 }], // leading elements
    ['golang.org/x/net', 'v0.1.0', { action: 'allow', reason: null, rule: 2 }],
    ['example.com/legacy', 'v2.0.3', { action: 'deny', reason: 'broken release line', rule: 3 }],
    ['example.com/legacy', 'v2.1.0', { action: 'allow', reason: null, rule: null }],
    ['rsc.io/quote', 'v1.5.2', { action: 'allow', reason: null, rule: null }],
  ];
  for (const [module, version, expected] of table) {
    it(`${module}@${version} → ${expected.action} (rule ${expected.rule})`, () => {
      assert.deepEqual(policy.decide(module, version), expected);
    });
  }

  it('keeps rules, defaults and source', () => {
    assert.equal(policy.source, 'policy.yaml');
    assert.equal(policy.defaultAction, 'allow');
    assert.deepEqual(
      policy.rules.map((r) => [r.index, r.modules.patterns, r.versions.text, r.action, r.reason]),
      [
        [0, ['github.com/evil/*'], '*', 'deny', 'known malware, see SEC-1234'],
        [1, ['golang.org/x/crypto'], '<v0.17.0', 'deny', TERRAPIN],
        [2, ['golang.org/x/crypto', 'golang.org/x/net'], '*', 'allow', null],
        [3, ['example.com/legacy'], '>=v2.0.0,<v2.1.0', 'deny', 'broken release line'],
      ],
    );
  });
});

describe('parsePolicy: default deny', () => {
  const policy = parsePolicy(
    `
default: deny
rules:
  - module: [rsc.io/*, golang.org/x]
    action: allow
  - module: corp.example/*
    versions: ">=v1.0.0"
    action: allow
    reason: released internal modules only
`,
    'allowlist.yaml',
  );
  const table: Array<[string, string | null, 'allow' | 'deny', number | null]> = [
    ['rsc.io/quote', 'v1.5.2', 'allow', 0],
    ['rsc.io/quote', null, 'allow', 0],
    ['golang.org/x/text', 'v0.3.0', 'allow', 0],
    ['corp.example/svc', 'v1.2.0', 'allow', 1],
    ['corp.example/svc', 'v0.9.0', 'deny', null],
    ['corp.example/svc', null, 'deny', null],
    ['github.com/any/thing', 'v1.0.0', 'deny', null],
  ];
  for (const [module, version, action, rule] of table) {
    it(`${module}@${version} → ${action}`, () => {
      const d = policy.decide(module, version);
      assert.equal(d.action, action);
      assert.equal(d.rule, rule);
      if (action === 'deny') assert.equal(d.reason, `${module}${version === null ? '' : '@' + version} is not allowed by any rule of the gateway policy (default: deny)`);
    });
  }

  it('an allow-everything policy and a file with only a default', () => {
    assert.deepEqual(Policy.allowAll().decide('x.example/y', 'v1.0.0'), { action: 'allow', reason: null, rule: null });
    const denyAll = parsePolicy('default: deny\n', 'p.yaml');
    assert.equal(denyAll.rules.length, 0);
    assert.equal(denyAll.decide('x.example/y', null).action, 'deny');
    assert.equal(parsePolicy('rules: []\n', 'p.yaml').decide('x.example/y', null).action, 'allow');
  });

  it('accepts a folded multi-line reason as one line and trims it', () => {
    const p = parsePolicy('rules:\n  - module: a.example\n    action: deny\n    reason: >\n      first part\n      second part\n', 'p.yaml');
    assert.equal(p.decide('a.example', null).reason, 'first part second part');
  });
});

describe('parsePolicy: every validation error, named by file, rule and field', () => {
  const rule = (body: string): string => `rules:\n  - module: ok.example\n    action: allow\n  - ${body.trim().split('\n').join('\n    ')}\n`;
  // [file text, exact message]
  const table: Array<[string, string]> = [
    [rule('module: x.example\naction: block'), 'policy.yaml: rules[1].action must be "allow" or "deny" (got "block")'],
    [rule('module: x.example\naction: 1'), 'policy.yaml: rules[1].action must be "allow" or "deny" (got 1)'],
    [rule('module: x.example\nreason: r'), 'policy.yaml: rules[1].action is required ("allow" or "deny")'],
    [rule('module: x.example\naction: deny'), 'policy.yaml: rules[1].reason is required for a deny rule (it is what the developer sees)'],
    [rule('module: x.example\naction: deny\nreason: ""'), 'policy.yaml: rules[1].reason is empty'],
    [rule('module: x.example\naction: deny\nreason: 42'), 'policy.yaml: rules[1].reason must be a string (got 42)'],
    [rule('module: x.example\naction: deny\nreason: "two\\nlines"'), 'policy.yaml: rules[1].reason must be one line (the go command prints it)'],
    [rule(`module: x.example\naction: deny\nreason: "${'r'.repeat(501)}"`), 'policy.yaml: rules[1].reason is longer than 500 characters'],
    [rule('action: allow'), 'policy.yaml: rules[1].module is required (a module path pattern such as github.com/corp/*)'],
    [rule('module: []\naction: allow'), 'policy.yaml: rules[1].module must be a pattern or a non-empty list of patterns (got a list)'],
    [rule('module: {a: 1}\naction: allow'), 'policy.yaml: rules[1].module must be a pattern or a non-empty list of patterns (got a mapping)'],
    [rule('module: [a.example, 7]\naction: allow'), 'policy.yaml: rules[1].module[1] must be a string (got 7)'],
    [rule('module: "a.example,b.example"\naction: allow'), 'policy.yaml: rules[1].module must be one pattern (got "a.example,b.example": write a list instead of commas)'],
    [rule('module: "/"\naction: allow'), 'policy.yaml: rules[1].module is empty'],
    [rule('module: [a.example, " "]\naction: allow'), 'policy.yaml: rules[1].module[1] is empty'],
    [
      rule('module: "github.com/[evil"\naction: allow'),
      'policy.yaml: rules[1].module: pattern "github.com/[evil" is not a valid glob: the character class at offset 11 is not closed with "]"',
    ],
    [rule('module: x.example\nversions: ">=v2.0"\naction: allow'), 'policy.yaml: rules[1].versions: ">=v2.0" is not a Go semantic version (write v2.0.0)'],
    [rule('module: x.example\nversions: 1.5\naction: allow'), 'policy.yaml: rules[1].versions must be a string such as "*", "v1.2.3" or ">=v2.0.0,<v2.1.0" (got 1.5)'],
    [rule('module: x.example\nversions: [v1.0.0]\naction: allow'), 'policy.yaml: rules[1].versions must be a string such as "*", "v1.2.3" or ">=v2.0.0,<v2.1.0" (got a list)'],
    [rule('module: x.example\naction: allow\nversion: v1.0.0'), 'policy.yaml: rules[1] has unknown key "version" (allowed: module, versions, action, reason, vulnerable, advisories)'],
    ['rules:\n  - just-a-string\n', 'policy.yaml: rules[0] must be a mapping with module, versions, action and reason (got "just-a-string")'],
    ['rules:\n  -\n', 'policy.yaml: rules[0] must be a mapping with module, versions, action and reason (got nothing)'],
    ['rules: {module: x}\n', 'policy.yaml: rules must be a list of rules (got a mapping)'],
    ['default: block\n', 'policy.yaml: default must be "allow" or "deny" (got "block")'],
    ['default: allow\nrule: []\n', 'policy.yaml: unknown key "rule" (allowed: rules, default)'],
    ['', 'policy.yaml: is empty (expected a mapping with "rules" and optionally "default")'],
    ['# nothing here\n', 'policy.yaml: is empty (expected a mapping with "rules" and optionally "default")'],
    ['- module: x\n', 'policy.yaml: must be a mapping with "rules" and optionally "default" (got a list)'],
    ['just text\n', 'policy.yaml: must be a mapping with "rules" and optionally "default" (got "just text")'],
    ['default: allow\ndefault: deny\n', 'policy.yaml: not valid YAML: Map keys must be unique at line 2, column 1'],
    [
      'rules:\n  - module: x.example\n    versions: *\n    action: allow\n',
      'policy.yaml: not valid YAML: Alias cannot be an empty string at line 3, column 15 (a bare * starts a YAML alias: write "*" in quotes)',
    ],
    ['rules:\n\t- module: x\n', 'policy.yaml: not valid YAML: Tabs are not allowed as indentation at line 2, column 1'],
  ];
  for (const [text, message] of table) {
    it(message, () => {
      assert.throws(
        () => parsePolicy(text, 'policy.yaml'),
        (err: unknown) => {
          assert.ok(err instanceof GateError, String(err));
          assert.equal(err.code, 'CONFIG_INVALID');
          assert.equal(err.message, message);
          return true;
        },
      );
    });
  }
});

describe('loadPolicyFile', () => {
  let dir = '';
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'gomodgate-policy-rules-'));
  });
  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('reads a file and names it in messages', () => {
    const good = join(dir, 'good.yaml');
    writeFileSync(good, EXAMPLE);
    const p = loadPolicyFile(good);
    assert.equal(p.source, good);
    assert.equal(p.rules.length, 4);
    assert.equal(p.decide('golang.org/x/crypto', 'v0.16.0').rule, 1);

    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'rules:\n  - module: x\n    action: block\n');
    assert.throws(() => loadPolicyFile(bad), { message: `${bad}: rules[0].action must be "allow" or "deny" (got "block")` });
  });

  it('says when the file cannot be read', () => {
    const missing = join(dir, 'missing.yaml');
    assert.throws(
      () => loadPolicyFile(missing),
      (err: unknown) => err instanceof GateError && err.code === 'CONFIG_INVALID' && err.message === `${missing}: cannot read the policy file (ENOENT)`,
    );
  });
});
