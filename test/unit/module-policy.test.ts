// ModulePolicy: private beats the rules, nosumdb and private skip verification, reload swaps rules only when
// the new file is valid, and the exact text the go command prints for a private checksum lookup.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ModulePolicy, privateLookupMessage, type ModuleClassification } from '../../src/policy/module-policy.js';
import { GateError } from '../../src/errors.js';

const RULES = `
rules:
  - module: corp.example/*
    action: deny
    reason: must never apply to private modules
  - module: golang.org/x/crypto
    versions: "<v0.17.0"
    action: deny
    reason: "CVE-2023-48795 (Terrapin): upgrade to v0.17.0 or later"
`;

let dir = '';
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'gomodgate-module-policy-'));
});
after(() => {
  rmSync(dir, { recursive: true, force: true });
});

function writeRules(name: string, text: string): string {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

describe('ModulePolicy.classify', () => {
  it('private beats deny and allow; nosumdb only turns verification off', () => {
    const policy = new ModulePolicy({
      private: ['corp.example,*.internal.example', 'github.com/acme/secret'],
      nosumdb: ['github.com/acme', 'golang.org/x/crypto'],
      rulesFile: writeRules('rules.yaml', RULES),
    });
    // [module, version, expected]
    const table: Array<[string, string | null, ModuleClassification]> = [
      ['corp.example/svc', 'v1.0.0', { kind: 'private', pattern: 'corp.example' }],
      ['corp.example/svc', null, { kind: 'private', pattern: 'corp.example' }],
      ['CORP.example/svc', 'v1.0.0', { kind: 'private', pattern: 'corp.example' }], // case variants never leak
      ['git.internal.example/team/x', 'v0.1.0', { kind: 'private', pattern: '*.internal.example' }],
      ['github.com/acme/secret/v2', 'v2.0.0', { kind: 'private', pattern: 'github.com/acme/secret' }],
      ['github.com/acme/public', 'v1.0.0', { kind: 'allowed', checkSumdb: false }],
      ['github.com/Acme/public', 'v1.0.0', { kind: 'allowed', checkSumdb: true }], // nosumdb is exact, like GONOSUMDB
      ['golang.org/x/crypto', 'v0.16.0', { kind: 'denied', reason: 'CVE-2023-48795 (Terrapin): upgrade to v0.17.0 or later', rule: 1 }],
      ['golang.org/x/crypto', 'v0.17.0', { kind: 'allowed', checkSumdb: false }],
      ['rsc.io/quote', 'v1.5.2', { kind: 'allowed', checkSumdb: true }],
      ['rsc.io/quote', null, { kind: 'allowed', checkSumdb: true }],
    ];
    for (const [module, version, expected] of table) {
      assert.deepEqual(policy.classify(module, version), expected, `${module}@${version}`);
    }
  });

  it('without options everything is allowed and verified', () => {
    const policy = new ModulePolicy({ private: [], nosumdb: [], rulesFile: null });
    assert.deepEqual(policy.classify('rsc.io/quote', 'v1.5.2'), { kind: 'allowed', checkSumdb: true });
    assert.deepEqual(new ModulePolicy({ private: [], nosumdb: [], rulesFile: '' }).classify('x.example', null), {
      kind: 'allowed',
      checkSumdb: true,
    });
    assert.deepEqual(policy.reload(), { ok: true });
  });

  it('a default-deny file denies with a generated reason and rule null', () => {
    const policy = new ModulePolicy({ private: [], nosumdb: [], rulesFile: writeRules('deny.yaml', 'default: deny\n') });
    assert.deepEqual(policy.classify('rsc.io/quote', 'v1.5.2'), {
      kind: 'denied',
      reason: 'rsc.io/quote@v1.5.2 is not allowed by any rule of the gateway policy (default: deny)',
      rule: null,
    });
  });

  it('refuses bad patterns and bad rule files at construction, naming the option or file', () => {
    const badFile = writeRules('bad.yaml', 'rules:\n  - module: x\n    action: block\n');
    const table: Array<[ConstructorParameters<typeof ModulePolicy>[0], string]> = [
      [{ private: ['corp.example/[x'], nosumdb: [], rulesFile: null }, '--private: pattern "corp.example/[x" is not a valid glob: the character class at offset 13 is not closed with "]"'],
      [{ private: [], nosumdb: ['a\\'], rulesFile: null }, '--nosumdb: pattern "a\\\\" is not a valid glob: it ends with an unescaped "\\"'],
      [{ private: [], nosumdb: [], rulesFile: badFile }, `${badFile}: rules[0].action must be "allow" or "deny" (got "block")`],
      [{ private: [], nosumdb: [], rulesFile: join(dir, 'nope.yaml') }, `${join(dir, 'nope.yaml')}: cannot read the policy file (ENOENT)`],
    ];
    for (const [options, message] of table) {
      assert.throws(
        () => new ModulePolicy(options),
        (err: unknown) => err instanceof GateError && err.code === 'CONFIG_INVALID' && err.message === message,
        message,
      );
    }
  });
});

describe('ModulePolicy.reload', () => {
  it('swaps in a valid file, keeps the old rules when the new file is bad or missing', () => {
    const file = writeRules('reload.yaml', RULES);
    const policy = new ModulePolicy({ private: ['corp.example'], nosumdb: [], rulesFile: file });
    assert.equal(policy.classify('golang.org/x/crypto', 'v0.16.0').kind, 'denied');
    assert.equal(policy.classify('rsc.io/quote', 'v1.5.2').kind, 'allowed');

    // a valid new file takes effect
    writeFileSync(file, 'rules:\n  - module: rsc.io/quote\n    versions: "<v1.5.2"\n    action: deny\n    reason: too old\n');
    assert.deepEqual(policy.reload(), { ok: true });
    assert.equal(policy.classify('golang.org/x/crypto', 'v0.16.0').kind, 'allowed');
    assert.deepEqual(policy.classify('rsc.io/quote', 'v1.5.1'), { kind: 'denied', reason: 'too old', rule: 0 });
    assert.equal(policy.policy.rules.length, 1);

    // a bad file is rejected with a precise message; the rules in force stay
    writeFileSync(file, 'rules:\n  - module: rsc.io/quote\n    versions: ">=v2.0"\n    action: deny\n    reason: x\n');
    assert.deepEqual(policy.reload(), { ok: false, error: `${file}: rules[0].versions: ">=v2.0" is not a Go semantic version (write v2.0.0)` });
    assert.deepEqual(policy.classify('rsc.io/quote', 'v1.5.1'), { kind: 'denied', reason: 'too old', rule: 0 });
    assert.equal(policy.classify('rsc.io/quote', 'v2.1.0').kind, 'allowed');

    writeFileSync(file, 'rules: [\n');
    const broken = policy.reload();
    assert.equal(broken.ok, false);
    assert.match(!broken.ok ? broken.error : '', new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: not valid YAML: `));
    assert.deepEqual(policy.classify('rsc.io/quote', 'v1.5.1'), { kind: 'denied', reason: 'too old', rule: 0 });

    unlinkSync(file);
    assert.deepEqual(policy.reload(), { ok: false, error: `${file}: cannot read the policy file (ENOENT)` });
    assert.deepEqual(policy.classify('rsc.io/quote', 'v1.5.1'), { kind: 'denied', reason: 'too old', rule: 0 });

    // private patterns are not part of the reload and still win
    assert.deepEqual(policy.classify('corp.example/x', 'v1.0.0'), { kind: 'private', pattern: 'corp.example' });
  });
});

describe('ModulePolicy.replacePatterns', () => {
  it('a reload of --private and --nosumdb applies to the next classification; a bad pattern changes neither', () => {
    const policy = new ModulePolicy({ private: [], nosumdb: [], rulesFile: null });
    assert.deepEqual(policy.classify('corp.example/svc', 'v1.0.0', 'zip'), { kind: 'allowed', checkSumdb: true });
    policy.replacePatterns({ private: ['corp.example'], nosumdb: ['open.example'] });
    assert.deepEqual(policy.classify('corp.example/svc', 'v1.0.0', 'zip'), { kind: 'private', pattern: 'corp.example' });
    assert.deepEqual(policy.classify('open.example/m', 'v1.0.0', 'zip'), { kind: 'allowed', checkSumdb: false });
    assert.throws(() => policy.replacePatterns({ private: ['corp.example/['], nosumdb: [] }), (e: unknown) => e instanceof GateError && /--private/.test(e.message));
    assert.deepEqual(policy.classify('corp.example/svc', null), { kind: 'private', pattern: 'corp.example' }, 'the patterns in force stay');
    assert.deepEqual(policy.classify('open.example/m', null), { kind: 'allowed', checkSumdb: false });
    policy.replacePatterns({ private: [], nosumdb: [] });
    assert.deepEqual(policy.classify('corp.example/svc', null), { kind: 'allowed', checkSumdb: true });
  });
});

describe('privateLookupMessage', () => {
  it('is the exact text the go command prints', () => {
    assert.equal(
      privateLookupMessage('corp.example/svc', 'corp.example'),
      'corp.example/svc is private here: set GOPRIVATE=corp.example on this machine; the gateway never sends private module names to public services',
    );
  });
});
