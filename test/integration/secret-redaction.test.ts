// Integration: secrets given to gomodgate never come back out. Passwords in --upstream and --egress-proxy and
// signed query strings (X-Amz-Signature=) are fed through every path reachable without the intercept layer:
// `serve` start-up and reload lines, a request's log and audit rows, `config show`, `config check` errors,
// `doctor` (text and JSON), and the audit/cache-index writers with a real SQLite file; all output is grepped.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import http from 'node:http';
import net from 'node:net';
import { Writable } from 'node:stream';
import { runCli, spawnTracked, killRunningChildren, runTracked, CLI, cliEnv } from '../helpers/cli.js';
import { waitFor } from '../helpers/gateway.js';
import { openDatabase } from '../../src/store/database.js';
import { AuditLog } from '../../src/audit/audit-log.js';
import { CacheIndex } from '../../src/store/cache-index.js';
import { createLogger } from '../../src/logger.js';

const SECRETS = ['UpstreamPw-7f3a', 'EgressPw-91c2', 'AmzSig-5d0e', 'tokenuser-22b8'];
const dir = mkdtempSync(join(tmpdir(), 'gmg-secret-'));

after(() => {
  killRunningChildren();
  rmSync(dir, { recursive: true, force: true });
});

function assertNoSecret(where: string, text: string): void {
  for (const s of SECRETS) assert.ok(!text.includes(s), `${where} leaks ${s}:\n${text.slice(0, 4000)}`);
}

/** A port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

const upstreamPort = await closedPort();
const egressPort = await closedPort();
const UPSTREAM = `http://alice:${SECRETS[0]}@127.0.0.1:${upstreamPort}|https://${SECRETS[3]}@127.0.0.1:${upstreamPort}/x?X-Amz-Signature=${SECRETS[2]}`;
const EGRESS = `http://bob:${SECRETS[1]}@127.0.0.1:${egressPort}`;
const BASE = ['--data-dir', join(dir, 'data'), '--ca-dir', join(dir, 'certs'), '--listen', '127.0.0.1', '--tls-port', '0', '--http-port', '0', '--proxy-port', '0', '--admin-port', '0', '--sumdb', 'off'];

test('config show and config check print neither passwords nor signed query values', async () => {
  const env = cliEnv({ GOMODGATE_UPSTREAM: UPSTREAM, GOMODGATE_EGRESS_PROXY: EGRESS });
  const show = await runTracked(process.execPath, [CLI, 'config', 'show'], { env });
  assert.equal(show.code, 0, show.stderr);
  assertNoSecret('config show', show.stdout + show.stderr);
  const shown = JSON.parse(show.stdout);
  assert.equal(shown.egressProxy, `http://redacted@127.0.0.1:${egressPort}`, 'the proxy is still named');

  const file = join(dir, 'bad.yaml');
  writeFileSync(file, `egressProxy: "https://bob:${SECRETS[1]}@proxy.corp:3128"\n`);
  const check = await runCli(['config', 'check', file]);
  assert.equal(check.code, 2);
  assert.match(check.stderr, /egressProxy must be an http:\/\/ proxy URL/);
  assertNoSecret('config check error', check.stdout + check.stderr);

  const bad = await runCli(['serve', ...BASE, '--upstream', `ftp://carol:${SECRETS[0]}@h`]);
  assert.equal(bad.code, 2);
  assertNoSecret('serve config error', bad.stdout + bad.stderr);
});

test('serve: start-up, request, reload and shutdown lines and the audit rows hold no secret', async () => {
  const config = join(dir, 'serve.yaml');
  writeFileSync(config, `upstream: "${UPSTREAM}"\negressProxy: "${EGRESS}"\n`);
  const child = spawnTracked(process.execPath, [CLI, 'serve', '--config', config, ...BASE, '--log-level', 'debug']);
  let out = '';
  child.stdout!.on('data', (c) => (out += c));
  child.stderr!.on('data', (c) => (out += c));
  const ports = await waitFor('gomodgate ready', () => {
    if (child.exitCode !== null) throw new Error(out);
    const line = out.split('\n').find((l) => l.includes('"gomodgate ready"'));
    return line ? JSON.parse(line).ports : null;
  }, 20_000);
  assert.match(out, /redacted@127\.0\.0\.1/, 'the start-up lines still name the upstream');
  // a module request: the upstreams are unreachable, so errors (with their URLs) are logged and audited
  const status = await new Promise<number>((resolve, reject) => {
    http.get({ host: '127.0.0.1', port: ports.proxy, path: '/example.com/m/@v/list', agent: false, timeout: 30_000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    }).on('error', reject);
  });
  assert.ok(status >= 400, `the request fails (status ${status})`);
  // a reload whose new file is invalid: the rejection names the bad URL
  writeFileSync(config, `upstream: "${UPSTREAM}"\negressProxy: "socks5://bob:${SECRETS[1]}@127.0.0.1:1"\n`);
  child.kill('SIGHUP');
  await waitFor('the reload to be rejected', () => out.includes('reload rejected'), 15_000);
  child.kill('SIGTERM');
  await waitFor('gomodgate exit', () => child.exitCode !== null, 15_000);
  assert.equal(child.exitCode, 0, out);
  assertNoSecret('serve output', out);

  const db = openDatabase(join(dir, 'data', 'gomodgate.db'), { readonly: true });
  try {
    const rows = db.prepare('SELECT * FROM audit').all();
    assert.ok(rows.length > 0, 'the failed request was audited');
    assertNoSecret('audit rows', JSON.stringify(rows));
    assertNoSecret('cache index', JSON.stringify(db.prepare('SELECT key, upstream_url FROM objects').all()));
  } finally {
    db.close();
  }
});

test('doctor, as text and as JSON, names the proxies without their credentials', async () => {
  for (const extra of [[], ['--json']]) {
    const r = await runCli(['doctor', ...BASE, '--upstream', UPSTREAM, '--egress-proxy', EGRESS, '--probe-timeout', '2s', ...extra]);
    assert.ok(r.code === 0 || r.code === 1, `doctor ran (${r.code}): ${r.stderr}`);
    assert.match(r.stdout, /127\.0\.0\.1/);
    assertNoSecret(`doctor ${extra.join(' ')}`, r.stdout + r.stderr);
  }
});

test('the audit log, the cache index and the logger redact signed URLs handed to them', () => {
  const file = join(dir, 'writers.db');
  const db = openDatabase(file);
  const signed = `https://bucket.s3.amazonaws.com/blob?X-Amz-Credential=AKIA&X-Amz-Signature=${SECRETS[2]}`;
  const audit = new AuditLog(db);
  audit.record({
    ts: 1, client: '10.0.0.1', origDst: null, host: 'proxy.golang.org', method: 'GET', path: '/m/@v/v1.0.0.zip', module: 'm', version: 'v1.0.0', kind: 'zip',
    outcome: 'miss', status: 200, bytes: 1, durationMs: 1, sha256: null, upstreamUrl: signed, reason: `redirected to ${signed}`, joined: false,
  });
  // a client's absolute-form request line refused before it is rewritten (421 on an intercepted connection)
  audit.record({
    ts: 2, client: '10.0.0.1', origDst: null, host: 'proxy.golang.org', method: 'GET', path: `https://${SECRETS[3]}:${SECRETS[0]}@proxy.golang.org/m/@v/list`,
    module: null, version: null, kind: null, outcome: 'refused', status: 421, bytes: 0, durationMs: 1, sha256: null, upstreamUrl: null, reason: 'misdirected', joined: false,
  });
  audit.flush();
  assert.equal(db.prepare('SELECT path FROM audit WHERE ts = 2').pluck().get(), 'https://redacted@proxy.golang.org/m/@v/list');
  new CacheIndex(db).put({ key: 'k', kind: 'zip', module: 'm', version: 'v1.0.0', status: 200, sha256: null, h1: null, size: 1, contentType: 'application/zip', bodyInline: Buffer.from('x'), upstreamUrl: signed, storedAt: 1, expiresAt: null });
  const audited = db.prepare('SELECT upstream_url AS u, reason FROM audit').get() as { u: string; reason: string };
  assert.equal(audited.u, 'https://bucket.s3.amazonaws.com/blob?X-Amz-Credential=redacted&X-Amz-Signature=redacted');
  assertNoSecret('audit writer', JSON.stringify(db.prepare('SELECT * FROM audit').all()));
  assertNoSecret('cache index writer', JSON.stringify(db.prepare('SELECT upstream_url FROM objects').all()));
  db.close();

  let logged = '';
  const capture = new Writable({ write(c, _e, cb) { logged += c; cb(); } });
  const log = createLogger('debug', capture);
  log.child({ upstream: UPSTREAM }).warn({ url: signed, err: new Error(`GET ${EGRESS}/x failed`) }, `fetching ${signed}`);
  assert.match(logged, /X-Amz-Signature=redacted/);
  assertNoSecret('log line', logged);
});
