// Integration: what an admin touches on a running gateway process — the onboarding page and CA downloads on
// the proxy port (compared with `gomodgate ca export`), `config check` messages and exit codes, and a SIGHUP
// reload that applies a new allowClients list without a restart and keeps the old configuration when the
// new file is invalid.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import http from 'node:http';
import { REPO_ROOT, spawnGatewayProcess, waitFor, type GatewayProcess } from '../helpers/gateway.js';
import { DEFAULT_INTERCEPT_HOSTS } from '../../src/config/schema.js';

const run = promisify(execFile);
const CLI = join(REPO_ROOT, 'bin/gomodgate.js');
let dir: string;
let gw: GatewayProcess;
let configFile: string;

function get(url: string): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer } | Error> {
  return new Promise((resolve) => {
    const req = http.get(url, { agent: false, timeout: 5000 }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts) }));
      res.on('error', (e) => resolve(e));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (e) => resolve(e));
  });
}

async function cli(args: string[]): Promise<{ code: number; stdout: Buffer; stderr: string }> {
  try {
    const r = await run(process.execPath, [CLI, ...args], { encoding: 'buffer', timeout: 30_000 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr.toString() };
  } catch (err) {
    const e = err as { code: number; stdout: Buffer; stderr: Buffer };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr.toString() };
  }
}

function writeConfig(extra: string): void {
  writeFileSync(configFile, [
    `dataDir: ${join(dir, 'data')}`,
    `caDir: ${join(dir, 'certs')}`,
    'listen: 127.0.0.1',
    'tlsPort: 0',
    'httpPort: 0',
    'proxyPort: 0',
    'adminPort: 0',
    'sumdb: "off"',
    extra,
  ].join('\n') + '\n');
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gmg-ops-'));
  configFile = join(dir, 'gomodgate.yaml');
  writeConfig('allowClients: [127.0.0.0/8]');
  gw = await spawnGatewayProcess(['--config', configFile]);
});

after(async () => {
  await gw?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('the proxy port serves the onboarding page and the same CA as `ca export`, as PEM and DER', async () => {
  const pem = await cli(['ca', 'export', '--ca-dir', join(dir, 'certs')]);
  const der = await cli(['ca', 'export', '--ca-dir', join(dir, 'certs'), '--format', 'der']);
  assert.equal(pem.code, 0);
  const page = await get(`${gw.baseUrl}/`);
  assert.ok(!(page instanceof Error));
  assert.equal(page.status, 200);
  assert.match(String(page.headers['content-type']), /^text\/html/);
  const html = page.body.toString();
  for (const step of ['update-ca-certificates', 'update-ca-trust', 'security add-trusted-cert', 'Import-Certificate', 'SSL_CERT_FILE']) {
    assert.ok(html.includes(step), `page explains ${step}`);
  }
  const pemDownload = await get(`${gw.baseUrl}/gomodgate-ca.pem`);
  const derDownload = await get(`${gw.baseUrl}/gomodgate-ca.der`);
  assert.ok(!(pemDownload instanceof Error) && !(derDownload instanceof Error));
  assert.equal(pemDownload.body.toString(), pem.stdout.toString());
  assert.deepEqual(derDownload.body, der.stdout);
  assert.match(String(derDownload.headers['content-disposition']), /gomodgate-ca\.der/);
});

test('config check: a valid file passes; an invalid one exits 2 naming every problem with its line, a syntax error with a caret', async () => {
  const good = join(dir, 'good.yaml');
  writeFileSync(good, 'tlsPort: 9443\ncache:\n  maxBytes: 10G\nlimits:\n  peekTimeout: 5s\n');
  const ok = await cli(['config', 'check', good]);
  assert.equal(ok.code, 0, ok.stderr);
  const f = join(dir, 'bad.yaml');
  const cases: Array<[string, string]> = [
    ['cache:\n  maxBytes: -1\n', `gomodgate: ${f}:2: cache.maxBytes must be a size such as 10G, 500M or 1073741824 (K/M/G/T = KiB/MiB/GiB/TiB) (got -1)\n`],
    ['tlsport: 9443\n', `gomodgate: ${f}:1: unknown option "tlsport" (did you mean "tlsPort"?)\n`],
    ['mutableTtl: soon\n', `gomodgate: ${f}:1: mutableTtl must be a duration such as 60s, 5m or 1h (got "soon")\n`],
    ['allowClients: [10.0.0.0/33]\n', `gomodgate: ${f}:1: allowClients entries must be addresses or CIDRs such as 10.0.0.0/8 (got "10.0.0.0/33")\n`],
    ['upstream: "https://a.example,direct"\n', `gomodgate: ${f}:1: upstream entries must be proxy URLs; "direct" is for the go command, not the gateway (got "https://a.example,direct")\n`],
    ['proxyPort: 8443\n', `gomodgate: ${f}:1: proxyPort is 8443, the same port as --tls-port (default): each of gomodgate's listeners needs its own port\n`],
    // a glob serve would refuse is refused here too, with its line (config check once passed it)
    ['private: ["corp.example/*", "a[b"]\n', `gomodgate: ${f}:1: private: pattern "a[b" is not a valid glob: the character class at offset 1 is not closed with "]"\n`],
    ['nosumdb: ["a[b"]\n', `gomodgate: ${f}:1: nosumdb: pattern "a[b" is not a valid glob: the character class at offset 1 is not closed with "]"\n`],
    // a file with nothing in it is one still being written: never "every option at its default"
    ['\n  \n', `gomodgate: config file ${f} is empty (still being written?); for every option at its default, write {}\n`],
    // every problem at once, one per line, each with its line
    ['tlsPort: 9443\nprot: 1\ncache:\n  maxBytes: 10X\nadminPort: 9443\n', [
      'gomodgate: 3 problems in the configuration:',
      `  ${f}:2: unknown option "prot" (did you mean "tlsPort", "httpPort", "proxyPort" or "adminPort"?)`,
      `  ${f}:4: cache.maxBytes must be a size such as 10G, 500M or 1073741824 (K/M/G/T = KiB/MiB/GiB/TiB) (got "10X")`,
      `  ${f}:5: adminPort is 9443, the same port as tlsPort (line 1): each of gomodgate's listeners needs its own port`,
      '',
    ].join('\n')],
    // a syntax error shows where, with the line and a caret
    ['a: 1\ntlsPort: [9443\nproxyPort: 1\n', [
      `gomodgate: config file ${f} is not valid YAML:`,
      `  ${f}:3:1: Flow sequence in block collection must be sufficiently indented and end with a ]`,
      '    2 | tlsPort: [9443',
      '    3 | proxyPort: 1',
      '      | ^',
      '',
    ].join('\n')],
  ];
  for (const [text, expected] of cases) {
    writeFileSync(f, text);
    const r = await cli(['config', 'check', f]);
    assert.equal(r.code, 2, `${text} → exit 2`);
    assert.equal(r.stderr, expected);
  }
  const missing = await cli(['config', 'check', join(dir, 'nope.yaml')]);
  assert.equal(missing.code, 2);
  assert.equal(missing.stderr, `gomodgate: config file ${join(dir, 'nope.yaml')} does not exist (check the path given with --config, GOMODGATE_CONFIG or \`config check\`; systemd/gomodgate.yaml is a complete example)\n`);
  const mixedCase = join(dir, 'mixed.yaml');
  writeFileSync(mixedCase, 'interceptHosts: [Proxy.Golang.Org]\n');
  const shown = await cli(['config', 'check', mixedCase, '--json']);
  assert.equal(shown.code, 0, shown.stderr);
  assert.deepEqual(JSON.parse(shown.stdout.toString()).interceptHosts, ['proxy.golang.org'], 'host names are lower-cased, not refused');
});

test('SIGHUP applies a new allowClients list without a restart; an invalid, empty or bad-glob file is rejected whole and the old one stays', async () => {
  const pid = gw.child.pid!;
  const before = await get(`${gw.baseUrl}/`);
  assert.ok(!(before instanceof Error) && before.status === 200);

  writeConfig('allowClients: [10.0.0.0/8]');
  process.kill(pid, 'SIGHUP');
  await waitFor('reload logged', () => gw.log().includes('"applied":["allowClients"]'));
  const refused = await get(`${gw.baseUrl}/`);
  assert.ok(refused instanceof Error, 'loopback is no longer an allowed client');

  writeConfig('allowClients: [127.0.0.0/8]\nmutableTtl: soon');
  process.kill(pid, 'SIGHUP');
  await waitFor('rejection logged', () => gw.log().includes('configuration reload rejected'));
  assert.ok((await get(`${gw.baseUrl}/`)) instanceof Error, 'the rejected file changed nothing');

  // an empty file (one being written) and a file with a bad glob after a valid allowClients: both rejected
  // whole, and nothing of them applied (the bad glob once failed after allowClients was in force)
  writeFileSync(configFile, '');
  process.kill(pid, 'SIGHUP');
  await waitFor('empty file rejected', () => gw.log().split('configuration reload rejected').length === 3);
  assert.match(gw.log(), /is empty \(still being written\?\)/);
  writeConfig('allowClients: [127.0.0.0/8]\nprivate: ["corp.example/*", "a[b"]');
  process.kill(pid, 'SIGHUP');
  await waitFor('bad glob rejected', () => gw.log().split('configuration reload rejected').length === 4);
  assert.ok((await get(`${gw.baseUrl}/`)) instanceof Error, 'the allowClients of the rejected file is not in force');

  writeConfig('allowClients: [127.0.0.0/8]');
  process.kill(pid, 'SIGHUP');
  await waitFor('second reload', () => gw.log().split('"applied":["allowClients"]').length === 3);
  const after = await get(`${gw.baseUrl}/`);
  assert.ok(!(after instanceof Error) && after.status === 200);
  assert.equal(gw.child.pid, pid);
  assert.equal(gw.child.exitCode, null, 'same process throughout');
});

test('the admin port: /healthz, /readyz and /metrics counting real requests by kind and outcome', async () => {
  const ready = JSON.parse(gw.log().split('\n').find((l) => l.includes('"gomodgate ready"'))!) as { ports: { admin: number } };
  const admin = `http://127.0.0.1:${ready.ports.admin}`;
  const health = await get(`${admin}/healthz`);
  assert.ok(!(health instanceof Error) && health.status === 200);
  const readyz = await get(`${admin}/readyz`);
  assert.ok(!(readyz instanceof Error));
  assert.equal(readyz.status, 200);
  assert.equal(JSON.parse(readyz.body.toString()).ready, true);
  // two invalid module requests on the GOPROXY endpoint: counted as kind none, outcome error
  for (let i = 0; i < 2; i++) await get(`${gw.baseUrl}/Example.com/x/@v/list`);
  const metrics = await get(`${admin}/metrics`);
  assert.ok(!(metrics instanceof Error));
  const text = metrics.body.toString();
  assert.match(text, /^gomodgate_requests_total\{kind="none",outcome="error"\} 2$/m);
  assert.match(text, /^gomodgate_cache_objects \d+$/m);
  assert.match(text, /^# TYPE gomodgate_upstream_request_duration_seconds histogram$/m);
  assert.match(text, new RegExp(`^gomodgate_certificates_issued_total ${DEFAULT_INTERCEPT_HOSTS.length}$`, 'm'), 'one certificate per default intercepted host, issued at start-up');
});

test('a SIGHUP while the gateway is starting does not end it: the reload runs once it is ready', async () => {
  const own = mkdtempSync(join(tmpdir(), 'gmg-ops-hup-'));
  const file = join(own, 'gomodgate.yaml');
  writeFileSync(file, [`dataDir: ${join(own, 'data')}`, `caDir: ${join(own, 'certs')}`, 'listen: 127.0.0.1', 'tlsPort: 0', 'httpPort: 0', 'proxyPort: 0', 'adminPort: 0', 'sumdb: "off"', 'logFormat: json', ''].join('\n'));
  const child = spawn(process.execPath, [join(REPO_ROOT, 'bin/gomodgate.js'), 'serve', '--config', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (c) => (out += c));
  child.stderr!.on('data', (c) => (out += c));
  try {
    // as soon as the process catches SIGHUP (SigCgt in /proc), which `serve` arranges before it starts the gateway:
    // the start (a new CA, the index) is then still under way, and the signal must neither end it nor be lost
    const catchesHup = (): boolean => {
      try {
        const mask = /^SigCgt:\s*([0-9a-f]+)$/m.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1] ?? '0';
        return (BigInt(`0x${mask}`) & 1n) === 1n; // bit 0: signal 1, SIGHUP
      } catch {
        return false;
      }
    };
    await waitFor('the process to catch SIGHUP', () => catchesHup() || child.exitCode !== null, 15_000);
    const readyAlready = out.includes('gomodgate ready');
    child.kill('SIGHUP');
    await waitFor('the gateway ready', () => out.includes('gomodgate ready') || child.exitCode !== null || child.signalCode !== null, 30_000);
    assert.equal(child.signalCode, null, `ended by the SIGHUP: ${out.slice(0, 500)}`);
    assert.equal(child.exitCode, null, out.slice(0, 500));
    if (!readyAlready) {
      await waitFor('the reload it had been asked for', () => out.includes('configuration reloaded'), 15_000);
      assert.match(out, /SIGHUP while starting/);
    }
  } finally {
    child.kill('SIGTERM');
    await waitFor('exit', () => child.exitCode !== null || child.signalCode !== null, 20_000).catch(() => child.kill('SIGKILL'));
    rmSync(own, { recursive: true, force: true });
  }
});
