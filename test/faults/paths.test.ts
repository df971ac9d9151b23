// Every advertised path, end to end in network namespaces (prefix gmgfp, go-world: client → gateway behind
// iptables/ip6tables REDIRECT → nginx + the Go test proxy as proxy.golang.org): plain HTTP on port 80 to an
// intercepted host (IPv4 and IPv6, fetched upstream over HTTPS), the explicit proxy with CONNECT, the plain GOPROXY
// endpoint, offline mode (--offline, the upstream stopped), and `wrk -t2 -c64 -d4s` against a cached zip through
// the transparent TLS path (wrk resets its connections when it ends). Each ends with the gateway still running
// and its cache pointing at complete, right objects.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { createGoWorld, type Gateway, type GoWorld } from '../helpers/go-world.js';
import { HELLO_QUOTE } from '../helpers/go-client.js';
import { describeResult, runInNamespace } from '../helpers/netns.js';
import { assertStoreConsistent } from '../helpers/store-check.js';

const isRoot = process.getuid?.() === 0;
const QUOTE_ZIP = '/rsc.io/quote/@v/v1.5.2.zip';

describe('advertised paths end to end (namespaces gmgfp-*)', { skip: isRoot ? false : 'needs root for network namespaces', timeout: 5 * 60_000 }, () => {
  let world: GoWorld;
  let gateway: Gateway;
  let zipSha = '';
  const expected: Record<string, string> = {};

  /** curl in a namespace, body to stdout as hex-safe base64 is overkill: we hash what arrives. */
  async function curl(ns: string, args: string[], timeoutS = 20): Promise<{ code: number | null; status: string; sha256: string; body: string; detail: string }> {
    const res = await runInNamespace(ns, ['bash', '-c', `curl -sS --max-time ${timeoutS} -o /dev/stdout -w '\\n%{http_code}' "$@" | base64 -w0`, 'curl', ...args], { timeoutMs: (timeoutS + 10) * 1000 });
    const raw = Buffer.from(res.stdout.trim(), 'base64');
    const text = raw.toString('latin1');
    const cut = text.lastIndexOf('\n');
    const body = raw.subarray(0, cut);
    return { code: res.code, status: text.slice(cut + 1), sha256: createHash('sha256').update(body).digest('hex'), body: body.toString('utf8'), detail: describeResult(res) };
  }

  function assertAlive(when: string): void {
    assert.equal(gateway.process.hasExited(), false, `${when}: the gateway exited:\n${gateway.logs(60)}`);
  }

  before(async () => {
    world = await createGoWorld({ prefix: 'gmgfp', subnet: 226 });
    gateway = await world.startGateway({ freshData: true, args: ['--log-level', 'info'] });
    // the real zip, straight from the test proxy in the upstream namespace
    const direct = await curl(world.namespaces.upstream, [`http://${world.goProxyAddress}/mod${QUOTE_ZIP}`]);
    assert.equal(direct.status, '200', direct.detail);
    zipSha = direct.sha256;
    expected['mod:rsc.io/quote@v1.5.2.zip'] = zipSha;
  });

  after(async () => {
    await world?.close();
  });

  it('plain HTTP on port 80 to proxy.golang.org (IPv4): answered from upstream over HTTPS, within 20 s', async () => {
    const r = await curl(world.namespaces.client, [`http://proxy.golang.org/rsc.io/quote/@v/list`]);
    assert.equal(r.status, '200', `no answer within 20 s through the port-80 REDIRECT: ${r.detail}\n${world.diagnostics(20)}`);
    assert.ok(r.body.split('\n').includes('v1.5.2'), r.body);
    const z = await curl(world.namespaces.client, [`http://proxy.golang.org${QUOTE_ZIP}`]);
    assert.equal(z.status, '200', z.detail);
    assert.equal(z.sha256, zipSha, 'the zip is byte-exact');
    assertAlive('after port 80 (IPv4)');
  });

  it('plain HTTP on port 80 to proxy.golang.org (IPv6), within 20 s', async () => {
    const v6 = world.addresses.upstream.v6;
    const r = await curl(world.namespaces.client, ['-g', '--resolve', `proxy.golang.org:80:[${v6}]`, `http://proxy.golang.org/rsc.io/quote/@v/list`]);
    assert.equal(r.status, '200', `no answer within 20 s through the ip6tables port-80 REDIRECT: ${r.detail}\n${world.diagnostics(20)}`);
    assert.ok(r.body.split('\n').includes('v1.5.2'), r.body);
    assertAlive('after port 80 (IPv6)');
  });

  it('the go command with GOPROXY=http://proxy.golang.org (port 80 only, 443 blocked) builds', async () => {
    const runHello = await world.withClientPortsBlocked([443], () =>
      world.runHello({ ns: world.namespaces.client, certFile: gateway.caFile, env: { GOPROXY: 'http://proxy.golang.org' } }),
    );
    assert.ok(runHello.ok, `the go command failed:\n${runHello.transcript()}\n${world.diagnostics(20)}`);
    assert.equal(runHello.output, HELLO_QUOTE);
    assertAlive('after a go build over port 80');
  });

  it('explicit proxy: CONNECT through the proxy port, byte-exact zip (curl) and a go build (HTTPS_PROXY)', async () => {
    const gw = world.addresses.gatewayClientSide.v4;
    const proxy = `http://${gw}:${gateway.proxyPort}`;
    const z = await world.withClientPortsBlocked([443, 80], () =>
      curl(world.namespaces.client, ['--proxy', proxy, '--cacert', gateway.caFile, `https://proxy.golang.org${QUOTE_ZIP}`]),
    );
    assert.equal(z.status, '200', z.detail);
    assert.equal(z.sha256, zipSha);
    const built = await world.withClientPortsBlocked([443, 80], () =>
      world.runHello({ ns: world.namespaces.client, certFile: gateway.caFile, env: { HTTPS_PROXY: proxy }, timeoutMs: 60_000 }),
    );
    assert.ok(built.ok, `${built.transcript()}\n${world.diagnostics(20)}`);
    assertAlive('after CONNECT');
  });

  it('the plain GOPROXY endpoint: byte-exact zip (curl) and a go build (GOPROXY=http://gateway:port)', async () => {
    const base = `http://${world.addresses.gatewayClientSide.v4}:${gateway.proxyPort}`;
    const z = await curl(world.namespaces.client, [`${base}${QUOTE_ZIP}`]);
    assert.equal(z.status, '200', z.detail);
    assert.equal(z.sha256, zipSha);
    const built = await world.withClientPortsBlocked([443, 80], () =>
      world.runHello({ ns: world.namespaces.client, certFile: gateway.caFile, env: { GOPROXY: base }, timeoutMs: 60_000 }),
    );
    assert.ok(built.ok, `${built.transcript()}\n${world.diagnostics(20)}`);
    assertAlive('after the GOPROXY endpoint');
  });

  it('wrk -t2 -c64 -d4s against the cached zip through the transparent TLS path, twice: the gateway survives', async () => {
    for (let round = 1; round <= 2; round++) {
      const res = await runInNamespace(world.namespaces.client, ['wrk', '-t2', '-c64', '-d4s', `https://proxy.golang.org${QUOTE_ZIP}`], { timeoutMs: 30_000 });
      console.log(`wrk round ${round}: ${res.stdout.split('\n').filter((l) => /Requests\/sec|requests in|Socket errors|Non-2xx/.test(l)).join(' | ')}`);
      await new Promise((r) => setTimeout(r, 500)); // the resets reach the gateway after wrk exits
      assertAlive(`after wrk round ${round}`);
      const z = await curl(world.namespaces.client, ['--cacert', gateway.caFile, `https://proxy.golang.org${QUOTE_ZIP}`]);
      assert.equal(z.status, '200', `a normal request after wrk round ${round}: ${z.detail}\n${gateway.logs(30)}`);
      assert.equal(z.sha256, zipSha);
    }
    await assertStoreConsistent(gateway.dataDir, expected, 'after wrk');
  });

  it('offline mode (--offline, the upstream stopped): a fresh go build from the cache; an uncached module is refused quickly', async () => {
    await world.stopGateway();
    await world.stopGoProxy();
    try {
      gateway = await world.startGateway({ args: ['--log-level', 'info', '--offline'] });
      const built = await world.runHello({ ns: world.namespaces.client, certFile: gateway.caFile, timeoutMs: 60_000 });
      assert.ok(built.ok, `offline build from the cache failed:\n${built.transcript()}\n${world.diagnostics(20)}`);
      assert.equal(built.output, HELLO_QUOTE);
      const unknown = await curl(world.namespaces.client, ['--cacert', gateway.caFile, 'https://proxy.golang.org/golang.org/x/tools/@v/v0.1.0.info']);
      assert.ok(unknown.status.startsWith('5') || unknown.status === '404', `an uncached object offline: ${unknown.status} (${unknown.detail})`);
      assertAlive('offline');
      await assertStoreConsistent(gateway.dataDir, expected, 'offline');
    } finally {
      await world.startGoProxy();
    }
  });
});

