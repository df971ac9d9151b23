// End to end: a CA rotation as the go command sees it. The real-go world of test/helpers/go-world.ts (namespaces
// gmgfor-*: client → gateway with iptables REDIRECT → nginx + the Go test module proxy), the real CLI
// (`ca rotate`, `ca rotate --switch-now`) and SIGHUP as `systemctl reload` sends it. A client that trusts the old
// CA, then both (the onboarding page's PEM bundle), then only the new one: each builds exactly while the CA it
// trusts signs the gateway's leaves, and fails with a certificate error otherwise.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createGoWorld, REPO_ROOT, type Gateway, type GoWorld } from '../helpers/go-world.js';
import { HELLO_QUOTE, type HelloRun } from '../helpers/go-client.js';
import { describeResult, runChecked, runInNamespace } from '../helpers/netns.js';

const skip = process.getuid?.() !== 0 ? 'needs root (network namespaces, iptables)' : false;

describe('CA rotation with the real go client (namespaces gmgfor-*)', { skip, timeout: 12 * 60_000 }, () => {
  let world: GoWorld;
  let gateway: Gateway;
  const cli = resolve(REPO_ROOT, 'bin', 'gomodgate.js');

  before(async () => {
    world = await createGoWorld({ prefix: 'gmgfor', subnet: 219 });
    gateway = await world.startGateway({ freshData: true });
  });

  after(async () => {
    await world?.close();
  });

  const explain = (run: HelloRun) => `${run.transcript()}\n${world.diagnostics(30)}`;
  const hello = (certFile: string) => world.runHello({ ns: world.namespaces.client, certFile });
  async function assertBuilds(certFile: string, what: string): Promise<void> {
    const run = await hello(certFile);
    assert.ok(run.ok, `${what}: the go command failed:\n${explain(run)}`);
    assert.equal(run.output, HELLO_QUOTE, explain(run));
  }
  async function assertRefusesCertificate(certFile: string, what: string): Promise<void> {
    const run = await hello(certFile);
    assert.equal(run.ok, false, `${what}: the go command succeeded although it trusts only the other CA:\n${explain(run)}`);
    assert.match(run.transcript(), /x509: certificate signed by unknown authority/, explain(run));
  }
  /** A download from the onboarding page on the proxy port, as a client fetches it. */
  async function download(path: string): Promise<string> {
    const url = `http://${world.addresses.gatewayClientSide.v4}:${gateway.proxyPort}${path}`;
    const res = await runInNamespace(world.namespaces.client, ['curl', '-fsS', '--max-time', '20', url]);
    assert.equal(res.code, 0, describeResult(res));
    return res.stdout;
  }
  async function ca(args: string[]): Promise<string> {
    return (await runChecked([process.execPath, cli, 'ca', ...args, '--ca-dir', gateway.caDir], { timeoutMs: 60_000 })).stdout;
  }
  function reload(): void {
    process.kill(gateway.process.pid, 'SIGHUP');
  }
  const logged = (msg: string, extra: (o: Record<string, unknown>) => boolean = () => true) => (line: string) => {
    try {
      const o = JSON.parse(line) as Record<string, unknown>;
      return o.msg === msg && extra(o);
    } catch {
      return false;
    }
  };

  test('old CA → both during the overlap → only the new one after the switch', async () => {
    const oldPem = await download('/gomodgate-ca.pem');
    const oldFile = join(world.dir, 'old-ca.pem');
    writeFileSync(oldFile, oldPem);
    await assertBuilds(oldFile, 'trusting the CA before the rotation');

    // ca rotate: a new CA, published beside the old one once the gateway reloads
    const rotated = await ca(['rotate', '--overlap', '30d']);
    assert.match(rotated, /^created: .*\/next\/certs\/ca\.pem$/m);
    reload();
    await gateway.process.waitForLine(logged('configuration reloaded', (o) => Array.isArray(o.applied) && o.applied.includes('ca')), 30_000);
    const newPem = await download('/gomodgate-ca-next.pem');
    const bundle = await download('/gomodgate-ca.pem');
    assert.equal(bundle, oldPem + newPem, 'the PEM download holds the old CA and the new one');
    assert.equal(await ca(['export', '--all']), bundle, 'ca export --all publishes the same');
    const newFile = join(world.dir, 'new-ca.pem');
    const bothFile = join(world.dir, 'both-ca.pem');
    writeFileSync(newFile, newPem);
    writeFileSync(bothFile, bundle);

    // the overlap: the old CA still signs
    await assertBuilds(oldFile, 'trusting the old CA during the overlap');
    await assertBuilds(bothFile, 'trusting both during the overlap');
    await assertRefusesCertificate(newFile, 'trusting only the new CA during the overlap');

    // the switch (here at once; at the end of the overlap the gateway does it by itself)
    const switched = await ca(['rotate', '--switch-now']);
    assert.match(switched, /^switched: /m);
    assert.match(switched, /^retired: /m);
    reload();
    await gateway.process.waitForLine(logged('leaf certificates are now issued by the new gateway CA; the old one is retired'), 30_000);
    assert.equal(await download('/gomodgate-ca.pem'), newPem, 'only the new CA is published');
    await assertBuilds(newFile, 'trusting only the new CA after the switch');
    await assertBuilds(bothFile, 'trusting both after the switch');
    await assertRefusesCertificate(oldFile, 'trusting only the retired CA');
  });
});
