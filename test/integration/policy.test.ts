// Integration: private module paths never leave the gateway, policy rules refuse what must not come in, and
// --nosumdb is the only way around verification — through a real gateway, with an upstream that counts hits.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestPki, type TestPki } from '../helpers/test-pki.js';
import { startModuleUpstream, type ModuleUpstream } from '../helpers/module-upstream.js';
import { startTestGateway, spawnGatewayProcess, fetchVia, waitFor, type GatewayProcess, type TestGateway } from '../helpers/gateway.js';
import { TEST_SUMDB_KEY } from '../helpers/go-test-proxy.js';

let dir: string;
let pki: TestPki;
let upstream: ModuleUpstream;
let policyFile: string;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gmg-policy-'));
  pki = createTestPki(join(dir, 'pki'));
  upstream = await startModuleUpstream({ pki });
  for (const v of ['v1.1.0', 'v1.2.0']) upstream.addModule({ path: 'example.com/lib', version: v, files: { 'l.go': 'package lib\n' } });
  upstream.addModule({ path: 'example.com/evil/miner', version: 'v1.0.0', files: { 'm.go': 'package miner\n' } });
  upstream.addModule({ path: 'corp.example/secret', version: 'v1.0.0', files: { 's.go': 'package secret\n' } });
  policyFile = join(dir, 'policy.yaml');
  writeFileSync(policyFile, [
    'rules:',
    '  - module: example.com/evil/*',
    '    action: deny',
    '    reason: "known malware, see SEC-1234"',
    '  - module: example.com/lib',
    '    versions: "<v1.2.0"',
    '    action: deny',
    '    reason: "CVE-2099-0001: upgrade to v1.2.0 or later"',
  ].join('\n') + '\n');
});

after(async () => {
  await upstream?.close();
  rmSync(dir, { recursive: true, force: true });
});

function audit(g: TestGateway, outcome: string): Array<{ module: string; status: number; kind: string }> {
  const db = g.db();
  try {
    return db.prepare('SELECT module, status, kind FROM audit WHERE outcome = ? ORDER BY id').all(outcome) as Array<{ module: string; status: number; kind: string }>;
  } finally {
    db.close();
  }
}

test('a private module path is answered 404 locally (GOPROXY) and 403 with the GOPRIVATE hint (checksum DB), never sent upstream', async () => {
  const g = await startTestGateway({ upstream: upstream.url, upstreamCa: [pki.caFile], private: ['corp.example'] });
  try {
    upstream.resetHits();
    for (const p of ['/corp.example/secret/@v/list', '/corp.example/secret/@v/v1.0.0.info', '/corp.example/secret/@v/v1.0.0.zip', '/corp.example/secret/@latest']) {
      const r = await fetchVia(g.baseUrl + p);
      assert.equal(r.status, 404, p);
    }
    const lookup = await fetchVia(`${g.baseUrl}/sumdb/sum.golang.org/lookup/corp.example/secret@v1.0.0`);
    assert.equal(lookup.status, 403);
    assert.equal(lookup.body.toString(), 'corp.example/secret is private here: set GOPRIVATE=corp.example on this machine; the gateway never sends private module names to public services\n');
    assert.equal(upstream.hits(), 0, 'nothing reached the upstream');
    assert.ok(upstream.requests.every((r) => !r.path.includes('corp.example')));
    const rows = await waitFor('private rows', () => {
      const r = audit(g, 'private');
      return r.length === 5 ? r : null;
    });
    assert.deepEqual(rows.map((r) => r.status), [404, 404, 404, 404, 403]);
  } finally {
    await g.close();
  }
});

test('deny rules: 403 with the reason, version constraints on Go semver, first match wins, audit says denied', async () => {
  const g = await startTestGateway({ upstream: upstream.url, upstreamCa: [pki.caFile], policy: policyFile });
  try {
    upstream.resetHits();
    const evil = await fetchVia(`${g.baseUrl}/example.com/evil/miner/@v/v1.0.0.zip`);
    assert.equal(evil.status, 403);
    assert.match(evil.body.toString(), /^gomodgate: example\.com\/evil\/miner@v1\.0\.0 is blocked by the gateway policy: known malware, see SEC-1234\n$/);
    const old = await fetchVia(`${g.baseUrl}/example.com/lib/@v/v1.1.0.mod`);
    assert.equal(old.status, 403);
    assert.match(old.body.toString(), /CVE-2099-0001/);
    const fixed = await fetchVia(`${g.baseUrl}/example.com/lib/@v/v1.2.0.mod`);
    assert.equal(fixed.status, 200);
    const list = await fetchVia(`${g.baseUrl}/example.com/lib/@v/list`);
    assert.equal(list.status, 200, 'a version constraint does not block the version list');
    assert.equal(upstream.hits('/example.com/evil/miner/@v/v1.0.0.zip'), 0);
    assert.equal(upstream.hits('/example.com/lib/@v/v1.1.0.mod'), 0);
    const rows = await waitFor('denied rows', () => {
      const r = audit(g, 'denied');
      return r.length === 2 ? r : null;
    });
    assert.deepEqual(rows.map((r) => [r.module, r.status]), [['example.com/evil/miner', 403], ['example.com/lib', 403]]);
  } finally {
    await g.close();
  }
});

/** A gateway process with an empty policy file of its own, which the test then rewrites and SIGHUPs. */
async function gatewayWithPolicyFile(prefix: string, extra: string[] = []): Promise<{ gdir: string; file: string; proc: GatewayProcess }> {
  const gdir = mkdtempSync(join(tmpdir(), prefix));
  const file = join(gdir, 'policy.yaml');
  writeFileSync(file, 'rules: []\n');
  const proc = await spawnGatewayProcess([
    '--data-dir', join(gdir, 'data'), '--ca-dir', join(gdir, 'certs'), '--listen', '127.0.0.1', '--tls-port', '0', '--http-port', '0',
    '--proxy-port', '0', '--admin-port', '0', '--sumdb', 'off', '--upstream', upstream.url, '--upstream-ca', pki.caFile, '--policy', file, ...extra,
  ]);
  return { gdir, file, proc };
}

test('SIGHUP reloads the policy file; a broken file is rejected and the old rules stay in force', async () => {
  const { gdir, file, proc } = await gatewayWithPolicyFile('gmg-policy-hup-');
  try {
    assert.equal((await fetchVia(`${proc.baseUrl}/example.com/evil/miner/@v/v1.0.0.info`)).status, 200);
    writeFileSync(file, 'rules:\n  - module: example.com/evil\n    action: deny\n    reason: blocked today\n');
    proc.child.kill('SIGHUP');
    await waitFor('policy applied', () => proc.log().includes('"applied":["policy"]'));
    const denied = await fetchVia(`${proc.baseUrl}/example.com/evil/miner/@v/v1.0.0.mod`);
    assert.equal(denied.status, 403);
    assert.match(denied.body.toString(), /blocked today/);
    writeFileSync(file, 'rules:\n  - module: example.com/evil\n    action: block\n');
    proc.child.kill('SIGHUP');
    await waitFor('policy rejected', () => proc.log().includes('policy reload rejected'));
    assert.match(proc.log(), /rules\[0\]\.action must be/);
    assert.equal((await fetchVia(`${proc.baseUrl}/example.com/evil/miner/@v/v1.0.0.zip`)).status, 403, 'old rules still in force');
  } finally {
    await proc.stop();
    rmSync(gdir, { recursive: true, force: true });
  }
});

test('with --workers 2, a policy file every worker refuses is reported as applied by none of them', async () => {
  const { gdir, file, proc } = await gatewayWithPolicyFile('gmg-policy-workers-', ['--workers', '2']);
  try {
    writeFileSync(file, 'rules:\n  - module: example.com/evil\n    action: block\n');
    proc.child.kill('SIGHUP');
    await waitFor('the supervisor summary', () => /"msg":"configuration reload: \d of 2 workers applied it"/.test(proc.log()), 20_000);
    assert.match(proc.log(), /"msg":"configuration reload: 0 of 2 workers applied it"/);
    assert.equal((proc.log().match(/"msg":"policy reload rejected/g) ?? []).length, 2);
  } finally {
    await proc.stop();
    rmSync(gdir, { recursive: true, force: true });
  }
});

test('verification is on unless --nosumdb covers the module: an unverifiable module is refused, a nosumdb one served', async () => {
  const strict = await startTestGateway({ upstream: upstream.url, upstreamCa: [pki.caFile], sumdb: TEST_SUMDB_KEY });
  try {
    const r = await fetchVia(`${strict.baseUrl}/example.com/lib/@v/v1.2.0.zip`);
    assert.equal(r.status, 502, 'the fixture has no checksum database: nothing can vouch for the zip');
    assert.match(r.body.toString(), /cannot verify example\.com\/lib@v1\.2\.0/);
  } finally {
    await strict.close();
  }
  const relaxed = await startTestGateway({ upstream: upstream.url, upstreamCa: [pki.caFile], sumdb: TEST_SUMDB_KEY, nosumdb: ['example.com/lib'] });
  try {
    assert.equal((await fetchVia(`${relaxed.baseUrl}/example.com/lib/@v/v1.2.0.zip`)).status, 200);
    assert.equal((await fetchVia(`${relaxed.baseUrl}/example.com/evil/miner/@v/v1.0.0.zip`)).status, 502, 'other modules are still verified');
  } finally {
    await relaxed.close();
  }
});
