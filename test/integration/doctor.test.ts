// Integration: `gomodgate doctor` as a child process (the real CLI) against a real HTTPS module upstream with a
// test CA: a live upstream passes every layer; a dead one fails at TCP with the refused explanation; a forced
// 403 and an untrusted certificate are explained; an egress proxy (a real CONNECT proxy here) is walked through;
// the checksum-database route is followed to a direct URL when the upstream does not proxy it. Asserts exit
// codes, check ids and their outcomes, and the upstream's hit counts.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startModuleUpstream, type ModuleUpstream } from '../helpers/module-upstream.js';
import { createCertificateAuthority } from '../../src/intercept/certificates.js';
import { startTestGateway } from '../helpers/gateway.js';
import { procAddress } from '../../src/tools/listening-sockets.js';
import { openDatabase } from '../../src/store/database.js';

interface Check {
  id: string;
  title: string;
  ok: boolean | 'warn';
  detail: string;
  hint: string;
}

const BIN = resolve('bin/gomodgate.js');
const PROBE = '/golang.org/x/text/@v/list';
const SUMDB_KEY = 'sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8';

let dir: string;
let caDir: string;
let dataDir: string;
let emptyPath: string;
let upstream: ModuleUpstream;
let deadPort: number;

/** The environment without anything that would change the doctor's view (proxies, extra roots, GOMODGATE_*), and a
 *  PATH without iptables-save so the REDIRECT checks are deterministic warnings on any host. */
function cleanEnv(path = emptyPath): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^GOMODGATE_|_PROXY$|^NODE_EXTRA_CA_CERTS$|^NODE_OPTIONS$/i.test(k)) continue;
    env[k] = v;
  }
  env.PATH = path;
  return env;
}

function doctor(args: string[], ca = caDir, path = emptyPath, data = dataDir): Promise<{ code: number; checks: Check[]; stderr: string }> {
  const all = ['doctor', '--ca-dir', ca, '--data-dir', data, '--json', '--probe-timeout', '5s', ...args];
  return new Promise((done, fail) => {
    execFile(process.execPath, [BIN, ...all], { env: cleanEnv(path), timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
      if (code === -1) return fail(new Error(`doctor did not finish: ${err?.message}\n${stderr}`));
      let checks: Check[];
      try {
        checks = JSON.parse(stdout) as Check[];
      } catch {
        return fail(new Error(`doctor printed no JSON (exit ${code}): ${stdout}\n${stderr}`));
      }
      done({ code, checks, stderr });
    });
  });
}

function byId(checks: Check[], id: string): Check {
  const c = checks.find((x) => x.id === id);
  assert.ok(c, `check ${id} present among ${checks.map((x) => x.id).join(', ')}`);
  return c;
}

/** A CONNECT-only egress proxy: 'allow' tunnels to the requested host:port, 'deny' answers 403 with a block page. */
async function startConnectProxy(mode: 'allow' | 'deny'): Promise<{ port: number; targets: string[]; close(): Promise<void> }> {
  const targets: string[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => undefined);
    let head = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      client.off('data', onData);
      const [method, target] = head.subarray(0, end).toString('latin1').split(' ');
      targets.push(`${method} ${target}`);
      if (method !== 'CONNECT' || mode === 'deny') {
        const body = 'blocked by egress policy rule 7\n';
        client.end(`HTTP/1.1 403 Forbidden\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`);
        return;
      }
      const i = target!.lastIndexOf(':');
      const outbound = net.connect({ host: target!.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(target!.slice(i + 1)) }, () => {
        client.write('HTTP/1.1 200 Connection established\r\n\r\n');
        const rest = head.subarray(end + 4);
        if (rest.length) outbound.write(rest);
        client.pipe(outbound).pipe(client);
      });
      sockets.add(outbound);
      outbound.on('close', () => sockets.delete(outbound));
      outbound.on('error', () => client.destroy());
    };
    client.on('data', onData);
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  return {
    port: (server.address() as net.AddressInfo).port,
    targets,
    close: () =>
      new Promise<void>((ok) => {
        for (const s of sockets) s.destroy();
        server.close(() => ok());
      }),
  };
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gmg-doctor-'));
  caDir = join(dir, 'ca');
  dataDir = join(dir, 'data');
  emptyPath = join(dir, 'empty-path');
  mkdirSync(dataDir);
  mkdirSync(emptyPath);
  execFileSync(process.execPath, [BIN, 'ca', 'init', '--ca-dir', caDir], { env: cleanEnv(), timeout: 60_000 });
  upstream = await startModuleUpstream();
  upstream.addModule({ path: 'golang.org/x/text', version: 'v0.3.0', files: { 'doc.go': 'package text\n' } });
  upstream.addModule({ path: 'golang.org/x/text', version: 'v0.3.2', files: { 'doc.go': 'package text\n' } });
  const closed = net.createServer();
  await new Promise<void>((ok) => closed.listen(0, '127.0.0.1', ok));
  deadPort = (closed.address() as net.AddressInfo).port;
  await new Promise<void>((ok) => closed.close(() => ok()));
});

after(async () => {
  await upstream?.close();
  rmSync(dir, { recursive: true, force: true });
});

test('a live upstream passes DNS, TCP, TLS and the module probe; local checks pass; exit 0', async () => {
  upstream.resetFaults();
  const before = upstream.hits(PROBE);
  const { code, checks } = await doctor(['--upstream', upstream.url, '--upstream-ca', upstream.caFile, '--sumdb', 'off']);
  const u = upstream.url;
  assert.equal(byId(checks, `upstream-dns@${u}`).ok, true);
  assert.equal(byId(checks, `upstream-tcp@${u}`).ok, true);
  const tlsCheck = byId(checks, `upstream-tls@${u}`);
  assert.equal(tlsCheck.ok, true);
  assert.match(tlsCheck.detail, /issued by "gomodgate test public CA", expires \d{4}-\d\d-\d\d \(\d+ days\)/);
  const http = byId(checks, `upstream-http@${u}`);
  assert.equal(http.ok, true);
  assert.equal(http.detail, `GET ${PROBE}: 200, 2 versions listed`);
  assert.equal(upstream.hits(PROBE) - before, 1, 'exactly one probe request reached the upstream');
  assert.equal(byId(checks, 'upstream-ca').ok, true);
  assert.equal(byId(checks, 'ca').ok, true);
  assert.equal(byId(checks, 'ca-key').ok, true);
  assert.equal(byId(checks, 'data-dir').ok, true);
  for (const id of ['listener-tls', 'listener-http', 'listener-proxy', 'listener-admin']) assert.notEqual(byId(checks, id).ok, false, id);
  const redirect = byId(checks, 'redirect-ipv4');
  assert.equal(redirect.ok, 'warn');
  assert.match(redirect.detail, /iptables-save is not installed/);
  assert.deepEqual(checks.filter((c) => c.ok === false), []);
  assert.equal(checks.some((c) => c.id === 'upstream-unreachable'), false, 'no advice when every upstream answers');
  assert.equal(code, 0);
});

test('a dead upstream (closed port) fails at TCP with the refused explanation; exit 1', async () => {
  const dead = `https://127.0.0.1:${deadPort}`;
  const { code, checks } = await doctor(['--upstream', dead, '--upstream-ca', upstream.caFile, '--sumdb', 'off']);
  assert.equal(code, 1);
  assert.equal(byId(checks, `upstream-dns@${dead}`).ok, true);
  const tcp = byId(checks, `upstream-tcp@${dead}`);
  assert.equal(tcp.ok, false);
  assert.equal(tcp.detail, `connection refused by 127.0.0.1:${deadPort}: nothing listens there, or a firewall rejects the connection`);
  assert.match(tcp.hint, /check the host and port in the URL/);
  assert.equal(checks.some((c) => c.id === `upstream-tls@${dead}` || c.id === `upstream-http@${dead}`), false, 'no layer above a failed one is reported');
  assert.equal(checks.filter((c) => c.ok === false).length, 1, 'the local checks still pass');
  // what an unreachable upstream means for clients, and the options that help: a warning, not a second failure
  assert.deepEqual(byId(checks, 'upstream-unreachable'), {
    id: 'upstream-unreachable',
    title: 'while an upstream is unreachable',
    ok: 'warn',
    detail: `clients get 502 for anything not already cached (failing: ${dead}); what is cached is still served`,
    hint: 'route through your corporate proxy with --egress-proxy http://proxy.corp:3128 (or HTTPS_PROXY); or put a mirror you can reach first in --upstream (e.g. --upstream "https://goproxy.corp.example,https://proxy.golang.org"); or run with --offline to answer only from the cache',
  });
});

test('a 403 from the upstream is explained as a refusal by the upstream or a proxy in between; exit 1', async () => {
  upstream.resetFaults();
  upstream.setStatusFor(PROBE, 403);
  try {
    const { code, checks } = await doctor(['--upstream', upstream.url, '--upstream-ca', upstream.caFile, '--sumdb', 'off']);
    assert.equal(code, 1);
    assert.equal(byId(checks, `upstream-tls@${upstream.url}`).ok, true);
    const http = byId(checks, `upstream-http@${upstream.url}`);
    assert.equal(http.ok, false);
    assert.match(http.detail, /^GET \/golang\.org\/x\/text\/@v\/list: 403 forbidden: the upstream or a proxy in between refuses: "test upstream: status 403 forced/);
    assert.match(http.hint, /corporate firewall\/egress proxy policy/);
  } finally {
    upstream.setStatusFor(PROBE, null);
  }
});

test('a module missing upstream is a warning naming --private, not a failure', async () => {
  const { code, checks } = await doctor(['--upstream', upstream.url, '--upstream-ca', upstream.caFile, '--sumdb', 'off', '--probe-module', 'example.com/Private/thing']);
  const http = byId(checks, `upstream-http@${upstream.url}`);
  assert.equal(http.ok, 'warn');
  assert.match(http.detail, /^GET \/example\.com\/!private\/thing\/@v\/list: 404: the module is not on this upstream/);
  assert.match(http.hint, /--private/);
  assert.equal(code, 0);
});

test('an upstream certificate the gateway does not trust fails at TLS with the issuer named; nothing is requested', async () => {
  upstream.resetFaults();
  const before = upstream.hits();
  const { code, checks } = await doctor(['--upstream', upstream.url, '--sumdb', 'off']);
  assert.equal(code, 1);
  const tlsCheck = byId(checks, `upstream-tls@${upstream.url}`);
  assert.equal(tlsCheck.ok, false);
  assert.match(tlsCheck.detail, /^the certificate of 127\.0\.0\.1 was issued by "gomodgate test public CA", a CA the gateway does not trust \(UNABLE_TO_VERIFY_LEAF_SIGNATURE\)$/);
  assert.match(tlsCheck.hint, /--upstream-ca/);
  assert.equal(checks.some((c) => c.id === `upstream-http@${upstream.url}`), false);
  assert.equal(upstream.hits() - before, 0, 'no HTTP request over an unverified connection');
});

test('through an egress proxy: CONNECT, then TLS and the probe inside the tunnel', async () => {
  const proxy = await startConnectProxy('allow');
  try {
    const { code, checks } = await doctor(['--upstream', upstream.url, '--upstream-ca', upstream.caFile, '--sumdb', 'off', '--egress-proxy', `http://127.0.0.1:${proxy.port}`]);
    assert.deepEqual(proxy.targets, [`CONNECT 127.0.0.1:${upstream.port}`]);
    const connect = byId(checks, `upstream-connect@${upstream.url}`);
    assert.equal(connect.ok, true);
    assert.equal(checks.some((c) => c.id === `upstream-tcp@${upstream.url}`), false, 'no direct connection attempted');
    assert.equal(byId(checks, `upstream-tls@${upstream.url}`).ok, true);
    assert.equal(byId(checks, `upstream-http@${upstream.url}`).ok, true);
    assert.equal(code, 0);
  } finally {
    await proxy.close();
  }
});

test('an egress proxy that refuses the tunnel is explained with its block page', async () => {
  const proxy = await startConnectProxy('deny');
  try {
    const { code, checks } = await doctor(['--upstream', upstream.url, '--upstream-ca', upstream.caFile, '--sumdb', 'off', '--egress-proxy', `http://127.0.0.1:${proxy.port}`]);
    assert.equal(code, 1);
    const connect = byId(checks, `upstream-connect@${upstream.url}`);
    assert.equal(connect.ok, false);
    assert.equal(connect.detail, `the egress proxy refuses a tunnel to 127.0.0.1:${upstream.port} (403): "blocked by egress policy rule 7"`);
    assert.match(connect.hint, /egress proxy policy/);
  } finally {
    await proxy.close();
  }
});

test('checksum database: asked directly when the upstream does not proxy it, so a dead database URL fails', async () => {
  const sumdbUrl = `https://localhost:${deadPort}`; // another host name than the upstream's: the gateway asks the proxy first
  const { code, checks } = await doctor(['--upstream', upstream.url, '--upstream-ca', upstream.caFile, '--sumdb', `${SUMDB_KEY} ${sumdbUrl}`]);
  const route = byId(checks, `sumdb-route@${upstream.url}`);
  assert.equal(route.ok, true);
  assert.match(route.detail, /: 404: the upstream does not proxy sum\.golang\.org, so the gateway asks https:\/\/localhost:\d+ directly/);
  const tcp = byId(checks, `upstream-tcp@${sumdbUrl}`);
  assert.equal(tcp.ok, false);
  assert.match(tcp.detail, /^connection refused by localhost:\d+/);
  assert.equal(code, 1);
});

test('checksum database: proxied by the upstream (supported: 200), the direct URL is not needed', async () => {
  upstream.setStatusFor('/sumdb/sum.golang.org/supported', 200);
  try {
    const before = upstream.hits('/sumdb/sum.golang.org/supported');
    const { code, checks } = await doctor(['--upstream', upstream.url, '--upstream-ca', upstream.caFile, '--sumdb', `${SUMDB_KEY} https://localhost:${deadPort}`]);
    assert.equal(byId(checks, `sumdb-route@${upstream.url}`).ok, true);
    assert.match(byId(checks, `sumdb-route@${upstream.url}`).detail, /200: the gateway verifies modules through this upstream/);
    assert.equal(checks.some((c) => c.id.endsWith(`@https://localhost:${deadPort}`)), false);
    assert.equal(upstream.hits('/sumdb/sum.golang.org/supported') - before, 1);
    assert.equal(code, 0);
  } finally {
    upstream.setStatusFor('/sumdb/sum.golang.org/supported', null);
  }
});

test('a CA key others can read fails the ca-key check', async () => {
  const key = join(caDir, 'keys', 'ca.private.key');
  chmodSync(key, 0o644);
  try {
    const { code, checks } = await doctor(['--offline']);
    assert.equal(byId(checks, 'upstream').ok, true, 'offline: no upstream is contacted');
    const k = byId(checks, 'ca-key');
    assert.equal(k.ok, false);
    assert.match(k.detail, /^mode 0644: others can read the CA key/);
    assert.equal(k.hint, `chmod 600 ${key}`);
    assert.equal(code, 1);
  } finally {
    chmodSync(key, 0o600);
  }
});

test('listeners: a listening port passes, a missing one is a warning that points at the running gateway', async () => {
  const listening = net.createServer((c) => c.destroy());
  await new Promise<void>((ok) => listening.listen(0, '127.0.0.1', ok));
  const port = (listening.address() as net.AddressInfo).port;
  // a gomodgate serves the data directory (its lock's holder is alive): this process stands for it
  writeFileSync(join(dataDir, 'gomodgate.pid'), `${process.pid}\n`);
  try {
    const { code, checks } = await doctor(['--offline', '--admin-listen', '127.0.0.1', '--admin-port', String(port), '--listen', '127.0.0.1', '--tls-port', String(deadPort)]);
    const admin = byId(checks, 'listener-admin');
    assert.equal(admin.ok, true);
    assert.equal(admin.detail, `something listens on 127.0.0.1:${port}`);
    const tlsListener = byId(checks, 'listener-tls');
    assert.equal(tlsListener.ok, 'warn');
    assert.equal(tlsListener.detail, `nothing listens on 127.0.0.1:${deadPort}`);
    assert.match(tlsListener.hint, new RegExp(`^gomodgate \\(pid ${process.pid}\\) serves this data directory, but not on this port: did serve fail to bind --tls-port`));
    assert.equal(code, 0);
  } finally {
    rmSync(join(dataDir, 'gomodgate.pid'), { force: true });
    await new Promise<void>((ok) => listening.close(() => ok()));
  }
});

test('listeners: with no gomodgate serving the data directory, what holds its ports is another program, not the gateway', async () => {
  const other = net.createServer((c) => c.destroy());
  await new Promise<void>((ok) => other.listen(0, '127.0.0.1', ok));
  const port = (other.address() as net.AddressInfo).port;
  // a lock file left by a process that is gone serves nothing
  writeFileSync(join(dataDir, 'gomodgate.pid'), '999999999\n');
  try {
    const { code, checks } = await doctor(['--offline', '--admin-listen', '127.0.0.1', '--admin-port', String(port), '--listen', '127.0.0.1', '--tls-port', String(deadPort)]);
    const admin = byId(checks, 'listener-admin');
    assert.equal(admin.ok, 'warn');
    assert.equal(admin.detail, `something listens on 127.0.0.1:${port}, but no gomodgate serves ${dataDir} (no live holder of its gomodgate.pid)`);
    assert.match(admin.hint, /^another program holds this port, and gomodgate serve would fail to bind it/);
    assert.equal(byId(checks, 'listener-tls').hint, 'the gateway is not running here: start it (gomodgate serve, or systemctl start gomodgate)');
    assert.equal(code, 0);
  } finally {
    rmSync(join(dataDir, 'gomodgate.pid'), { force: true });
    await new Promise<void>((ok) => other.close(() => ok()));
  }
});

test('a running gateway: its transparent listeners are found by their sockets, without a probe connection, so the audit records no refused client', async () => {
  const gwDir = join(dir, 'running-gateway');
  const gw = await startTestGateway({}, { dir: gwDir });
  const p = gw.gateway.ports;
  try {
    const { checks } = await doctor(['--offline', '--listen', '127.0.0.1', '--tls-port', String(p.tls), '--http-port', String(p.http), '--proxy-port', String(p.proxy), '--admin-listen', '127.0.0.1', '--admin-port', String(p.admin)], caDir, emptyPath, gw.dataDir);
    // found by their sockets: on loopback, which redirected LAN connections never reach (the next test)
    assert.match(byId(checks, 'listener-tls').detail, new RegExp(`^listens only on 127\\.0\\.0\\.1:${p.tls}: `));
    assert.match(byId(checks, 'listener-http').detail, new RegExp(`^listens only on 127\\.0\\.0\\.1:${p.http}: `));
    assert.equal(byId(checks, 'listener-proxy').ok, true);
  } finally {
    await gw.close(); // flushes the audit
  }
  const db = gw.db();
  try {
    assert.deepEqual(db.prepare("SELECT outcome, reason FROM audit WHERE outcome = 'refused'").all(), []);
  } finally {
    db.close();
  }
});

test('transparent listeners on loopback only: a failure when the LAN is redirected to them (--listen :: advice), a warning when no rule is', async () => {
  const tls = net.createServer((c) => c.destroy());
  const http = net.createServer((c) => c.destroy());
  await new Promise<void>((ok) => tls.listen(0, '127.0.0.1', ok));
  await new Promise<void>((ok) => http.listen(0, '::1', ok));
  const tlsPort = (tls.address() as net.AddressInfo).port;
  const httpPort = (http.address() as net.AddressInfo).port;
  // iptables-save and ip6tables-save as the rules install-iptables.sh --lan-if gmgdoc0 writes (no such interface here)
  const bin = join(dir, 'fake-iptables');
  mkdirSync(bin, { recursive: true });
  const fakeSave = (rules: string) => {
    const out = join(bin, 'saved.txt');
    writeFileSync(out, `*nat\n:PREROUTING ACCEPT [0:0]\n:GOMODGATE - [0:0]\n${rules}COMMIT\n`);
    for (const tool of ['iptables-save', 'ip6tables-save']) writeFileSync(join(bin, tool), `#!/bin/sh\nexec /bin/cat ${out}\n`, { mode: 0o755 });
  };
  const args = ['--offline', '--listen', '127.0.0.1', '--tls-port', String(tlsPort), '--http-port', String(httpPort)];
  try {
    fakeSave(`-A GOMODGATE -i gmgdoc0 -p tcp -m tcp --dport 80 -j REDIRECT --to-ports ${httpPort}\n-A GOMODGATE -i gmgdoc0 -p tcp -m tcp --dport 443 -j REDIRECT --to-ports ${tlsPort}\n`);
    const redirected = await doctor(args, caDir, bin);
    assert.equal(byId(redirected.checks, 'redirect-ipv4').ok, true);
    const failed = byId(redirected.checks, 'listener-tls');
    assert.deepEqual(failed, {
      id: 'listener-tls',
      title: `transparent TLS listener port ${tlsPort}`,
      ok: false,
      detail: `listens only on 127.0.0.1:${tlsPort}: connections REDIRECTed from the LAN arrive at the address of the interface they came in on, so every one is refused`,
      hint: 'restart gomodgate listening on every address: --listen :: (listen: "::" in the config file: the default)',
    });
    assert.equal(byId(redirected.checks, 'listener-http').ok, false);
    assert.match(byId(redirected.checks, 'listener-http').detail, new RegExp(`^listens only on \\[::1\\]:${httpPort}: `));
    assert.equal(redirected.code, 1);

    // no rule sends anything there: this machine alone uses the gateway, which --listen 127.0.0.1 is for
    fakeSave('');
    const alone = await doctor(args, caDir, bin);
    const warned = byId(alone.checks, 'listener-tls');
    assert.equal(warned.ok, 'warn');
    assert.match(warned.detail, /: no REDIRECT rule sends to it, and connections REDIRECTed from the LAN arrive at/);
    assert.match(warned.hint, /--listen :: \(listen: "::"/);
    assert.equal(alone.code, 0);
  } finally {
    await new Promise<void>((ok) => tls.close(() => ok()));
    await new Promise<void>((ok) => http.close(() => ok()));
  }
});

test('a cache index this user may not write fails the cache-index check (serve would refuse it)', async (t) => {
  if (process.getuid?.() !== 0) return t.skip('needs root to drop CAP_DAC_OVERRIDE for the child');
  if (spawnSync('setpriv', ['--help']).status !== 0) return t.skip('setpriv (util-linux) is not installed');
  const d = mkdtempSync(join(tmpdir(), 'gmg-doctor-db-'));
  try {
    const file = join(d, 'gomodgate.db');
    openDatabase(file).close();
    chmodSync(file, 0o444);
    // root without CAP_DAC_OVERRIDE: the file's mode applies, as to the service's user (setpriv by its full path:
    // doctor's PATH here is empty)
    const setpriv = execFileSync('sh', ['-c', 'command -v setpriv'], { encoding: 'utf8' }).trim();
    const cacheIndexCheck = () => {
      const r = spawnSync(setpriv, ['--bounding-set', '-dac_override', '--inh-caps', '-dac_override', process.execPath, BIN, 'doctor', '--ca-dir', caDir, '--data-dir', d, '--json', '--offline'], { env: cleanEnv(emptyPath), encoding: 'utf8', timeout: 60_000 });
      return byId(JSON.parse(r.stdout) as Check[], 'cache-index');
    };
    const index = cacheIndexCheck();
    assert.equal(index.ok, false, JSON.stringify(index));
    assert.match(index.detail, /this user may not write it: serve refuses to start on it/);
    assert.match(index.hint, /chmod 600 /);
    chmodSync(file, 0o644);
    assert.equal(cacheIndexCheck().ok, true);
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});

test('procAddress decodes /proc/net/tcp and tcp6 addresses', () => {
  assert.equal(procAddress('0100007F'), '127.0.0.1');
  assert.equal(procAddress('00000000'), '0.0.0.0');
  assert.equal(procAddress('00000000000000000000000001000000'), '::1');
  assert.equal(procAddress('00000000000000000000000000000000'), '::');
  assert.equal(procAddress('0000000000000000FFFF00000100007F'), '::ffff:7f00:1');
});

test('a CA that expires within 30 days is a warning, not a failure', async () => {
  const shortDir = join(dir, 'short-ca');
  mkdirSync(join(shortDir, 'certs'), { recursive: true, mode: 0o700 });
  mkdirSync(join(shortDir, 'keys'), { recursive: true, mode: 0o700 });
  chmodSync(shortDir, 0o700);
  const ca = createCertificateAuthority('short-lived test gateway CA', 10);
  writeFileSync(join(shortDir, 'certs', 'ca.pem'), ca.certPem);
  writeFileSync(join(shortDir, 'keys', 'ca.private.key'), ca.privateKeyPem, { mode: 0o600 });
  const { code, checks } = await doctor(['--offline'], shortDir);
  const c = byId(checks, 'ca');
  assert.equal(c.ok, 'warn');
  assert.match(c.detail, /^"short-lived test gateway CA", SHA-256 [0-9A-F:]+…, expires \d{4}-\d\d-\d\d: (9|10) days left$/);
  assert.equal(byId(checks, 'ca-key').ok, true);
  assert.equal(code, 0);
});

test('human output: one line per check with its mark, hints under problems, a summary', async () => {
  const dead = `https://127.0.0.1:${deadPort}`;
  const out = await new Promise<{ code: number; stdout: string }>((done) => {
    execFile(process.execPath, [BIN, 'doctor', '--ca-dir', caDir, '--data-dir', dataDir, '--upstream', dead, '--sumdb', 'off'], { env: cleanEnv(), timeout: 60_000 }, (err, stdout) =>
      done({ code: err ? Number((err as { code?: unknown }).code) : 0, stdout }),
    );
  });
  assert.equal(out.code, 1);
  const lines = out.stdout.split('\n');
  assert.ok(lines.includes(`✘ TCP 127.0.0.1:${deadPort}: connection refused by 127.0.0.1:${deadPort}: nothing listens there, or a firewall rejects the connection`));
  assert.ok(lines.some((l) => l.startsWith('✔ gateway CA ')));
  assert.ok(lines.some((l) => l.startsWith('! IPv4 REDIRECT rules')));
  assert.match(out.stdout, /\n\d+ checks: \d+ ok, \d+ warnings, 1 failed\n$/);
});

test('an invalid option value exits 2 with one line', async () => {
  const r = await new Promise<{ code: number; stderr: string }>((done) => {
    execFile(process.execPath, [BIN, 'doctor', '--ca-dir', caDir, '--data-dir', dataDir, '--probe-module', 'nodot/x'], { env: cleanEnv(), timeout: 60_000 }, (err, _stdout, stderr) =>
      done({ code: err ? Number((err as { code?: unknown }).code) : 0, stderr }),
    );
  });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^gomodgate: --probe-module "nodot\/x" is not a module path: missing dot in first path element\n$/);
});
