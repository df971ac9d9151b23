// End to end: the vulnerability database with the real go command through the transparent path (namespaces
// gmgvul-*, iptables REDIRECT), nginx serving test/fixtures/vulndb as vuln.go.dev with the test CA. A client
// fetches rsc.io/quote v1.5.2 before the gateway knows any advisory; `gomodgate vulndb sync` (run in the gateway
// namespace, through the upstream client) brings GO-2099-0001 in; `gomodgate vulns` names that client; a deny rule
// (gateway restarted with --policy) makes the next build fail with the sentence on go's stderr; with the upstream
// stopped, vuln.go.dev is still answered from the synced copy.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { createGoWorld, REPO_ROOT, VULNDB_HOST, type Gateway, type GoWorld } from '../helpers/go-world.js';
import { HELLO_QUOTE, type HelloRun } from '../helpers/go-client.js';
import { describeResult, runInNamespace, type CommandResult } from '../helpers/netns.js';
import { vulndbFixture } from '../helpers/vulndb-fixtures.js';

const CLI = resolve(REPO_ROOT, 'bin', 'gomodgate.js');
const SENTENCE = 'rsc.io/quote@v1.5.2 is affected by GO-2099-0001 (CVE-2099-1001); fixed in v1.5.3-pre1';

describe('vulnerability database end to end (network namespaces, real go command)', { timeout: 10 * 60_000 }, () => {
  let world: GoWorld;
  let gateway: Gateway;

  before(async () => {
    world = await createGoWorld({ prefix: 'gmgvul', subnet: 221 });
    gateway = await world.startGateway({ freshData: true });
  });

  after(async () => {
    await world?.close();
  });

  const explain = (run: HelloRun) => `${run.transcript()}\n${world.diagnostics(40)}`;

  /** `gomodgate ARGS` in the gateway namespace (where vuln.go.dev resolves to nginx), on the gateway's data. */
  function gomodgate(args: string[]): Promise<CommandResult> {
    return runInNamespace(world.namespaces.gateway, [process.execPath, CLI, ...args, '--data-dir', gateway.dataDir], { timeoutMs: 60_000 });
  }

  /** Polls (bounded) `vulns --json` until `want` rows appear: the audit is written in batches after the go run. */
  async function vulnsJson(extra: string[], want = 1): Promise<Record<string, unknown>[]> {
    let rows: Record<string, unknown>[] = [];
    for (let i = 0; i < 50; i++) {
      const r = await gomodgate(['vulns', '--json', ...extra]);
      assert.equal(r.code, 0, describeResult(r));
      rows = JSON.parse(r.stdout) as Record<string, unknown>[];
      if (rows.length >= want) break;
      await delay(200);
    }
    return rows;
  }

  test('a fetch made before the sync is matched, denied after a policy restart, and vuln.go.dev is served offline', async () => {
    // 1. the client builds against rsc.io/quote v1.5.2 through the REDIRECT; no advisory is known yet
    const first = await world.runHello({ ns: world.namespaces.client, certFile: gateway.caFile });
    assert.ok(first.ok && first.output === HELLO_QUOTE, `the go command failed:\n${explain(first)}`);

    // 2. sync through the upstream client (the test CA is trusted via --upstream-ca, as for modules)
    const sync = await gomodgate(['vulndb', 'sync', '--upstream-ca', world.pki.caFile]);
    assert.equal(sync.code, 0, describeResult(sync));
    assert.match(sync.stdout, /^https:\/\/vuln\.go\.dev: 3 advisories added or updated; 3 stored \(database modified 2099-01-12T00:00:00Z\)\n$/);
    const resync = await gomodgate(['vulndb', 'sync', '--upstream-ca', world.pki.caFile]);
    assert.match(resync.stdout, /unchanged since the last sync/);

    // 3. the fetch of the past is now an affected fetch, by that client
    const client = world.addresses.client.v4;
    // (and the pseudo-version of golang.org/x/text that rsc.io/sampler requires, inside GO-2099-0002's range)
    const all = await vulnsJson([], 2);
    all.sort((a, b) => String(a.advisory).localeCompare(String(b.advisory)));
    assert.deepEqual(all.map((r) => [r.advisory, r.module, r.version, r.clients, r.fixed]), [
      ['GO-2099-0001', 'rsc.io/quote', 'v1.5.2', [client], 'v1.5.3-pre1'],
      ['GO-2099-0002', 'golang.org/x/text', 'v0.0.0-20170915032832-14c0d48ead0c', [client], 'v0.0.0-20180101000000-000000000000'],
    ]);
    assert.ok((all[0]!.fetches as number) >= 2, `the .mod and .zip at least: ${JSON.stringify(all[0])}`);
    const byAdvisory = await vulnsJson(['--advisory', 'GO-2099-0001']);
    assert.deepEqual(byAdvisory.map((r) => r.clients), [[client]]);
    const table = await gomodgate(['vulns', '--advisory', 'CVE-2099-1001']);
    assert.match(table.stdout, new RegExp(`^GO-2099-0001 +rsc\\.io/quote@v1\\.5\\.2 +v1\\.5\\.3-pre1 +${client.replace(/\./g, '\\.')} `, 'm'));

    // 4. a deny rule: the next build of that version fails with the sentence on go's stderr
    const policy = join(world.dir, 'vuln-policy.yaml');
    writeFileSync(policy, 'rules:\n  - advisories: [CVE-2099-1001]\n    action: deny\n');
    await world.stopGateway();
    gateway = await world.startGateway({ args: ['--policy', policy] });
    const denied = await world.runHello({ ns: world.namespaces.client, certFile: gateway.caFile });
    assert.equal(denied.ok, false, `the build should fail:\n${explain(denied)}`);
    const stderr = denied.steps.map((s) => s.stderr).join('\n');
    assert.ok(stderr.includes(SENTENCE), `go's stderr lacks the reason:\n${explain(denied)}`);
    assert.ok(stderr.includes('403 Forbidden'), `go's stderr lacks the status:\n${explain(denied)}`);

    // 5. the upstream is gone: vuln.go.dev is answered from the synced copy, byte for byte
    await world.nginx.stop(5000);
    for (const path of ['index/db.json', 'index/modules.json', 'ID/GO-2099-0001.json']) {
      const res = await runInNamespace(world.namespaces.client, [
        'curl', '-sS', '--max-time', '20', '-D', '-', '--cacert', gateway.caFile, `https://${VULNDB_HOST}/${path}`,
      ]);
      assert.equal(res.code, 0, describeResult(res));
      const [head, ...rest] = res.stdout.split('\r\n\r\n');
      assert.match(head!, /^HTTP\/1\.1 200 /);
      assert.match(head!, /\r\ncontent-type: application\/json\r\n/i);
      assert.equal(rest.join('\r\n\r\n'), vulndbFixture(path).toString('utf8'), `${path} differs`);
    }
    const missing = await runInNamespace(world.namespaces.client, [
      'curl', '-sS', '--max-time', '20', '-o', '/dev/null', '-w', '%{http_code}', '--cacert', gateway.caFile, `https://${VULNDB_HOST}/ID/GO-1999-0001.json`,
    ]);
    assert.equal(missing.stdout, '404');
  });
});
