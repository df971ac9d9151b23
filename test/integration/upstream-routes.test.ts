// Integration: how the gateway reaches upstreams — a GOPROXY-style chain (',' falls through on 404/410
// only, '|' on any error), --offline (cache only, upstream never contacted), and an egress CONNECT proxy
// (credentials sent, TLS still verified for the upstream's name). Real sockets and fixtures that count hits.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestPki, type TestPki } from '../helpers/test-pki.js';
import { startModuleUpstream, type ModuleUpstream } from '../helpers/module-upstream.js';
import { startTestGateway, fetchVia } from '../helpers/gateway.js';
import { openTlsViaConnect } from '../helpers/connect-client.js';

let dir: string;
let pki: TestPki;
let a: ModuleUpstream;
let b: ModuleUpstream;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gmg-routes-'));
  pki = createTestPki(join(dir, 'pki'));
  a = await startModuleUpstream({ pki });
  b = await startModuleUpstream({ pki });
  a.addModule({ path: 'example.com/ona', version: 'v1.0.0', files: { 'a.go': 'package ona\n' } });
  b.addModule({ path: 'example.com/onb', version: 'v1.0.0', files: { 'b.go': 'package onb\n' } });
});

after(async () => {
  await a?.close();
  await b?.close();
  rmSync(dir, { recursive: true, force: true });
});

test("',' falls through to the next upstream on 404 but stops on a 500", async () => {
  const g = await startTestGateway({ upstream: `${a.url},${b.url}`, upstreamCa: [pki.caFile] });
  try {
    const fromB = await fetchVia(`${g.baseUrl}/example.com/onb/@v/v1.0.0.mod`);
    assert.equal(fromB.status, 200);
    assert.equal(a.hits('/example.com/onb/@v/v1.0.0.mod'), 1);
    assert.equal(b.hits('/example.com/onb/@v/v1.0.0.mod'), 1);
    a.setStatusFor('/example.com/onb/@v/v1.0.0.info', 500);
    const stopped = await fetchVia(`${g.baseUrl}/example.com/onb/@v/v1.0.0.info`);
    assert.equal(stopped.status, 502);
    assert.equal(b.hits('/example.com/onb/@v/v1.0.0.info'), 0, 'a 500 before "," ends the walk');
  } finally {
    a.setStatusFor('/example.com/onb/@v/v1.0.0.info', null);
    await g.close();
  }
});

test("'|' falls through on any error, including an unreachable upstream", async () => {
  const g = await startTestGateway({ upstream: `${a.url}|${b.url}`, upstreamCa: [pki.caFile] });
  try {
    a.setDown(true);
    const r = await fetchVia(`${g.baseUrl}/example.com/onb/@v/v1.0.0.info`);
    assert.equal(r.status, 200);
    assert.match(r.body.toString(), /"Version":"v1.0.0"/);
  } finally {
    a.setDown(false);
    await g.close();
  }
});

test('--offline answers from the cache and never contacts upstream', async () => {
  const gdir = mkdtempSync(join(tmpdir(), 'gmg-offline-'));
  try {
    const online = await startTestGateway({ upstream: a.url, upstreamCa: [pki.caFile], mutableTtl: 0 }, { dir: gdir });
    assert.equal((await fetchVia(`${online.baseUrl}/example.com/ona/@v/v1.0.0.zip`)).status, 200);
    assert.equal((await fetchVia(`${online.baseUrl}/example.com/ona/@v/list`)).status, 200);
    await online.close();
    a.resetHits();
    const offline = await startTestGateway({ upstream: a.url, upstreamCa: [pki.caFile], offline: true, mutableTtl: 0 }, { dir: gdir });
    try {
      const zip = await fetchVia(`${offline.baseUrl}/example.com/ona/@v/v1.0.0.zip`);
      assert.equal(zip.status, 200);
      const list = await fetchVia(`${offline.baseUrl}/example.com/ona/@v/list`);
      assert.equal(list.status, 200);
      assert.equal(list.headers['x-gomodgate-cache'], 'stale');
      const missing = await fetchVia(`${offline.baseUrl}/example.com/ona/@v/v9.9.9.info`);
      assert.equal(missing.status, 502);
      assert.match(missing.body.toString(), /offline/);
      assert.equal(a.hits(), 0);
    } finally {
      await offline.close();
    }
  } finally {
    rmSync(gdir, { recursive: true, force: true });
  }
});

interface ConnectProxy {
  url: string;
  tunnels: string[];
  auth: Array<string | undefined>;
  refuse: boolean;
  portFor443: number;
  close(): void;
}

async function startConnectProxy(): Promise<ConnectProxy> {
  const state = { tunnels: [] as string[], auth: [] as Array<string | undefined>, refuse: false, portFor443: 0 };
  const server = http.createServer((_req, res) => res.writeHead(405).end());
  server.on('connect', (req, socket: net.Socket, head) => {
    state.tunnels.push(req.url ?? '');
    state.auth.push(req.headers['proxy-authorization']);
    if (state.refuse) {
      socket.end('HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n');
      return;
    }
    const [host, port] = (req.url ?? '').split(':');
    // the upstream fixtures answer on 127.0.0.1: resolve their name here as a corporate proxy's DNS would
    // (and map port 443 to the fixture named in portFor443, as a proxy's view of the internet would)
    const target = port === '443' && state.portFor443 ? state.portFor443 : Number(port);
    const up = net.connect(target, host === 'localhost' || host === 'proxy.golang.org' ? '127.0.0.1' : host!, () => {
      socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length) up.write(head);
      up.pipe(socket);
      socket.pipe(up);
    });
    up.on('error', () => socket.destroy());
    socket.on('error', () => up.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  return Object.assign(state, {
    url: `http://gw:s3cret@127.0.0.1:${port}`,
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  }) as ConnectProxy;
}

test('--egress-proxy tunnels upstream TLS through CONNECT with credentials, and a refusal is a clear 502', async () => {
  const proxy = await startConnectProxy();
  const upstreamByName = a.url.replace('127.0.0.1', 'localhost');
  const g = await startTestGateway({ upstream: upstreamByName, upstreamCa: [pki.caFile], egressProxy: proxy.url });
  try {
    const r = await fetchVia(`${g.baseUrl}/example.com/ona/@v/v1.0.0.mod`);
    assert.equal(r.status, 200);
    assert.equal(r.body.toString(), 'module example.com/ona\n');
    assert.ok(proxy.tunnels.includes(`localhost:${a.port}`), `tunnels: ${proxy.tunnels.join(', ')}`);
    assert.equal(proxy.auth[0], `Basic ${Buffer.from('gw:s3cret').toString('base64')}`);
  } finally {
    await g.close();
  }
  // a new tunnel (another upstream) that the proxy refuses
  b.resetHits();
  proxy.refuse = true;
  const g2 = await startTestGateway({ upstream: b.url.replace('127.0.0.1', 'localhost'), upstreamCa: [pki.caFile], egressProxy: proxy.url });
  try {
    const refused = await fetchVia(`${g2.baseUrl}/example.com/onb/@v/v1.0.0.info`);
    assert.equal(refused.status, 502);
    assert.match(refused.body.toString(), /egress proxy refused the tunnel/);
    assert.equal(b.hits('/example.com/onb/@v/v1.0.0.info'), 0);
  } finally {
    await g2.close();
    proxy.close();
  }
});

test('a request that is not a Go module request is relayed unchanged through the egress proxy, with the upstream timeout', async () => {
  const proxy = await startConnectProxy();
  proxy.portFor443 = a.port;
  const g = await startTestGateway({ interceptHosts: ['proxy.golang.org'], upstreamCa: [pki.caFile], egressProxy: proxy.url, upstreamTimeout: 3 });
  const ca = readFileSync(join(g.dir, 'certs', 'certs', 'ca.pem'), 'utf8');
  const viaTunnel = (path: string) => tunnelRequest(g.gateway.ports.proxy, ca, 'GET', path);
  try {
    a.resetHits();
    const r = await viaTunnel('/robots.txt');
    assert.equal(r.status, 404, 'the upstream fixture\'s own answer');
    assert.equal(a.hits('/robots.txt'), 1, 'relayed once, to the upstream');
    assert.ok(proxy.tunnels.includes('proxy.golang.org:443'), `through the egress proxy: ${proxy.tunnels.join(', ')}`);
    a.setDelay(10_000); // well past the 3 s timeout (3 s, not 1: the relayed request that must pass shares this busy process)
    const slow = await viaTunnel('/slow.txt');
    assert.equal(slow.status, 504, `an upstream silent past --upstream-timeout: ${slow.body}`);
    assert.match(slow.body, /^gomodgate: upstream proxy\.golang\.org (did not finish in time|sent nothing)/);
  } finally {
    a.setDelay(0);
    await g.close();
    proxy.close();
  }
});

test('a relayed request to an upstream whose certificate the gateway does not trust: 502 that says so, nothing relayed', async () => {
  const proxy = await startConnectProxy();
  proxy.portFor443 = a.port;
  // no --upstream-ca: the fixture's certificate (from the test CA) is not trusted
  const g = await startTestGateway({ interceptHosts: ['proxy.golang.org'], egressProxy: proxy.url });
  const ca = readFileSync(join(g.dir, 'certs', 'certs', 'ca.pem'), 'utf8');
  try {
    a.resetHits();
    const r = await tunnelRequest(g.gateway.ports.proxy, ca, 'GET', '/robots.txt');
    assert.equal(r.status, 502, r.body);
    assert.equal(r.body, 'gomodgate: upstream proxy.golang.org failed TLS verification; the gateway refuses to use it\n');
    assert.equal(a.hits('/robots.txt'), 0);
  } finally {
    await g.close();
    proxy.close();
  }
});

/** One request through a CONNECT tunnel to the gateway's proxy port, TLS to proxy.golang.org (the gateway's CA). */
async function tunnelRequest(proxyPort: number, ca: string, method: string, path: string): Promise<{ status: number; head: string; body: string }> {
  const t = await openTlsViaConnect({ proxyPort, ca });
  let text = '';
  t.on('data', (d: Buffer) => (text += d.toString('latin1')));
  const closed = new Promise((resolve) => t.once('close', resolve));
  t.write(`${method} ${path} HTTP/1.1\r\nHost: proxy.golang.org\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
  await closed;
  const [head = '', ...rest] = text.split('\r\n\r\n');
  return { status: Number(text.slice(9, 12)), head, body: rest.join('\r\n\r\n') };
}

test('a module path asked with another method than GET or HEAD is refused with 405 and never relayed: no way past the private patterns', async () => {
  const proxy = await startConnectProxy();
  proxy.portFor443 = a.port;
  const g = await startTestGateway({ interceptHosts: ['proxy.golang.org'], upstreamCa: [pki.caFile], egressProxy: proxy.url, private: ['example.com/ona'] });
  const ca = readFileSync(join(g.dir, 'certs', 'certs', 'ca.pem'), 'utf8');
  try {
    a.resetHits();
    const paths = ['/example.com/ona/@v/v1.0.0.zip', '/example.com/ona/@v/list', '/example.com/ona/@latest', '/example.com/ona/@v/v1.0.0.info'];
    for (const method of ['POST', 'PUT', 'OPTIONS', 'PROPFIND']) {
      for (const path of paths) {
        const r = await tunnelRequest(g.gateway.ports.proxy, ca, method, path);
        assert.equal(r.status, 405, `${method} ${path}: ${r.head}`);
        assert.match(r.head, /^allow: GET, HEAD$/im, `${method} ${path}`);
        assert.equal(r.body, `gomodgate: ${method} is not a Go module request method (GET or HEAD)\n`);
      }
    }
    const get = await tunnelRequest(g.gateway.ports.proxy, ca, 'GET', '/example.com/ona/@v/list');
    assert.equal(get.status, 404, 'and GET of the private path is answered here');
    const relayed = await tunnelRequest(g.gateway.ports.proxy, ca, 'POST', '/robots.txt');
    assert.equal(a.hits('/robots.txt'), 1, `a path that is no module request is still relayed as it came: ${relayed.status} ${relayed.body}`);
    assert.equal(a.requests.find((q) => q.path === '/robots.txt')?.method, 'POST');
    assert.doesNotMatch(relayed.body, /^gomodgate:/, 'the fixture\'s own answer');
    const upstreamPaths = a.requests.map((q) => q.path);
    assert.ok(!upstreamPaths.some((p) => p.includes('example.com/ona')), `nothing of the private module went upstream: ${upstreamPaths.join(', ')}`);
  } finally {
    await g.close();
    proxy.close();
  }
});

test('credentials in an --upstream URL are sent as Basic auth to that upstream, and appear in no log or audit row', async () => {
  const withCreds = a.url.replace('https://', 'https://gw-user:p%40ss-w0rd@');
  const g = await startTestGateway({ upstream: withCreds, upstreamCa: [pki.caFile] });
  try {
    a.resetHits();
    const r = await fetchVia(`${g.baseUrl}/example.com/ona/@v/v1.0.0.info`);
    assert.equal(r.status, 200);
    const sent = a.requests.filter((q) => q.path === '/example.com/ona/@v/v1.0.0.info').map((q) => q.headers.authorization);
    assert.deepEqual(sent, [`Basic ${Buffer.from('gw-user:p@ss-w0rd').toString('base64')}`]);
    const db = g.db();
    try {
      const rows = JSON.stringify([...db.prepare('SELECT * FROM audit').all(), ...db.prepare('SELECT key, upstream_url FROM objects').all()]);
      assert.ok(!rows.includes('w0rd') && !rows.includes('gw-user'), `no credentials stored: ${rows.slice(0, 300)}`);
    } finally {
      db.close();
    }
  } finally {
    await g.close();
  }
});

test('a parent gomodgate as the upstream: two child gateways, one fetch from the origin', async () => {
  const parent = await startTestGateway({ upstream: a.url, upstreamCa: [pki.caFile] });
  const children = [await startTestGateway({ upstream: parent.baseUrl }), await startTestGateway({ upstream: parent.baseUrl })];
  try {
    a.resetHits();
    const path = '/example.com/ona/@v/v1.0.0.zip';
    const first = await fetchVia(children[0]!.baseUrl + path);
    const second = await fetchVia(children[1]!.baseUrl + path);
    assert.equal(first.status, 200);
    assert.equal(second.sha256, first.sha256);
    assert.equal(second.headers['x-gomodgate-cache'], 'miss', 'the second child had not seen it');
    assert.equal(a.hits(path), 1, 'the origin served it once, to the parent');
  } finally {
    for (const c of children) await c.close();
    await parent.close();
  }
});
