// Integration: request lines that are not an ordinary origin-form HTTP/1.1 request, against a real gomodgate child
// process (its log read) through the plain GOPROXY endpoint and inside an intercepted TLS connection (CONNECT to
// proxy.golang.org: the TLS terminator and HTTP server the REDIRECT feeds too). A server-wide OPTIONS * is
// answered by the gateway as the Go module origin it stands for (200, Allow: GET, HEAD, no body), audited and
// logged like any request; another method with the * target is a 400 that says so, not a routing refusal.
// Node's parser takes a request line of version HTTP/2.0 over HTTP/1 framing, and one without a version (read as
// HTTP/0.9): the gateway answers 505 and 400, one line each, closes the connection, audits and logs them.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnGatewayProcess, waitFor, type GatewayProcess } from '../helpers/gateway.js';
import { RawClient } from '../helpers/hostile-client.js';
import { openTlsViaConnect } from '../helpers/connect-client.js';
import { startModuleUpstream, type ModuleUpstream } from '../helpers/module-upstream.js';
import { openDatabase } from '../../src/store/database.js';

const WAIT_MS = 8000;
const H = 'Host: proxy.golang.org\r\n';
const C = 'Connection: close\r\n';

let dir: string;
let gw: GatewayProcess;
let upstream: ModuleUpstream;
let proxyPort: number;
let caPem: string;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gmg-reqline-'));
  upstream = await startModuleUpstream({ tls: false });
  upstream.addModule({ path: 'example.com/line', version: 'v1.0.0', files: { 'line.go': 'package line\n' } });
  gw = await spawnGatewayProcess([
    '--data-dir', join(dir, 'data'), '--ca-dir', join(dir, 'certs'), '--listen', '127.0.0.1', '--tls-port', '0', '--http-port', '0',
    '--proxy-port', '0', '--admin-port', '0', '--sumdb', 'off', '--upstream', upstream.url,
    '--intercept-host', 'proxy.golang.org', '--log-level', 'debug',
  ]);
  proxyPort = Number(new URL(gw.baseUrl).port);
  caPem = readFileSync(join(dir, 'certs', 'certs', 'ca.pem'), 'utf8');
});

after(async () => {
  await gw?.stop();
  await upstream?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

interface Answer {
  status: number;
  head: string;
  body: string;
  closedByGateway: boolean;
}

function parse(text: string, closedByGateway: boolean): Answer {
  const end = text.indexOf('\r\n\r\n');
  const head = end < 0 ? text : text.slice(0, end);
  return { status: Number(/^HTTP\/1\.1 (\d{3}) /.exec(text)?.[1] ?? 0), head, body: end < 0 ? '' : text.slice(end + 4), closedByGateway };
}

/** Writes `request` on a fresh connection to the plain GOPROXY endpoint; what came back until the gateway closed it. */
async function plain(request: string): Promise<Answer> {
  const c = await RawClient.connect(proxyPort);
  c.write(request);
  const closed = await c.waitForClose(WAIT_MS);
  c.destroy();
  return parse(c.received.toString('latin1'), closed);
}

/** Writes `request` inside a fresh intercepted TLS connection to proxy.golang.org; what came back until it closed. */
async function intercepted(request: string): Promise<Answer> {
  const s = await openTlsViaConnect({ proxyPort, ca: caPem });
  let text = '';
  s.on('data', (d: Buffer) => (text += d.toString('latin1')));
  s.write(request);
  const closed = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), WAIT_MS);
    s.once('close', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
  s.destroy();
  return parse(text, closed);
}

const VIAS = [['the plain GOPROXY endpoint', plain], ['intercepted TLS', intercepted]] as const;

/** `request` sent on each path: [path, answer]. */
async function each(request: string): Promise<[string, Answer][]> {
  const out: [string, Answer][] = [];
  for (const [via, send] of VIAS) out.push([via, await send(request)]);
  return out;
}

interface Row {
  host: string;
  method: string;
  path: string;
  outcome: string;
  status: number;
  reason: string | null;
}

/** Audit rows matching `where`, once there are at least `n` (the audit is written in batches). */
function auditRows(where: string, n: number): Promise<Row[]> {
  return waitFor(`${n} audit rows with ${where}`, () => {
    const db = openDatabase(join(dir, 'data', 'gomodgate.db'), { readonly: true });
    try {
      const rows = db.prepare(`SELECT host, method, path, outcome, status, reason FROM audit WHERE ${where} ORDER BY id`).all() as Row[];
      return rows.length >= n ? rows : null;
    } finally {
      db.close();
    }
  }, WAIT_MS);
}

/** The gateway's "go request" log lines (JSON) that `match`. */
function requestLines(match: (line: Record<string, unknown>) => boolean): Record<string, unknown>[] {
  return gw.log().split('\n').filter((l) => l.includes('"go request"')).map((l) => JSON.parse(l) as Record<string, unknown>).filter(match);
}

test('OPTIONS * is answered 200 with Allow: GET, HEAD and no body, on both paths, and audited and logged as a request', async () => {
  const answers = await each(`OPTIONS * HTTP/1.1\r\n${H}${C}\r\n`);
  assert.deepEqual(answers.map(([via, r]) => [via, r.status, r.body]), VIAS.map(([via]) => [via, 200, '']));
  for (const [via, r] of answers) {
    assert.match(r.head, /^allow: GET, HEAD$/im, via);
    assert.match(r.head, /^content-length: 0$/im, via);
  }
  const rows = await auditRows("method = 'OPTIONS'", 2);
  assert.deepEqual(rows.map((r) => [r.path, r.status, r.outcome]), [['*', 200, 'hit'], ['*', 200, 'hit']]);
  assert.deepEqual(rows.map((r) => r.host), ['127.0.0.1', 'proxy.golang.org'], 'the endpoint\'s upstream host, the intercepted host');
  assert.equal(requestLines((l) => l.method === 'OPTIONS' && l.path === '*' && l.status === 200).length, 2, 'one log line each');
});

test('another method with the * target is a 400 that says the * target is for OPTIONS, not a routing refusal', async () => {
  const answers = await each(`GET * HTTP/1.1\r\n${H}${C}\r\n`);
  const why = 'gomodgate: the request target * (the whole server) is for OPTIONS only, not GET\n';
  assert.deepEqual(answers.map(([via, r]) => [via, r.status, r.body]), VIAS.map(([via]) => [via, 400, why]));
  const rows = await auditRows("method = 'GET' AND path = '*'", 2);
  assert.deepEqual(rows.map((r) => [r.status, r.outcome]), [[400, 'error'], [400, 'error']]);
});

test('HTTP/2.0 in an HTTP/1 request line is a 505 and a line without a version a 400: one line, connection closed, audited and logged', async () => {
  const list = '/example.com/line/@v/list';
  const v2 = await each(`GET ${list} HTTP/2.0\r\n${H}\r\n`);
  const noVersion = [...(await each(`GET ${list}\r\n\r\n`)), ...(await each(`GET ${list}\r\n${H}\r\n`))];
  const v2Why = 'gomodgate: HTTP/2.0 is not supported in an HTTP/1 request line; send HTTP/1.1\n';
  const noVersionWhy = 'gomodgate: the request line has no HTTP version (HTTP/0.9 is not supported); send HTTP/1.1\n';
  assert.deepEqual(
    [...v2, ...noVersion].map(([via, r]) => [via, r.status, r.body, r.closedByGateway]),
    [...v2.map(([via]) => [via, 505, v2Why, true]), ...noVersion.map(([via]) => [via, 400, noVersionWhy, true])],
  );
  for (const [via, r] of [...v2, ...noVersion]) assert.match(r.head, /^content-type: text\/plain; charset=utf-8$/im, via);
  const rows = await auditRows(`path = '${list}' AND status IN (400, 505)`, 6);
  assert.deepEqual(rows.map((r) => [r.status, r.outcome]), [[505, 'error'], [505, 'error'], [400, 'error'], [400, 'error'], [400, 'error'], [400, 'error']]);
  assert.equal(upstream.hits(list), 0, 'nothing was fetched for them');
  const lines = requestLines((l) => l.path === list && (l.status === 505 || l.status === 400));
  assert.deepEqual(lines.map((l) => [l.level, l.status, l.reason]), [
    ...v2.map(() => ['warn', 505, v2Why.slice('gomodgate: '.length, -1)]),
    ...noVersion.map(() => ['info', 400, noVersionWhy.slice('gomodgate: '.length, -1)]),
  ]);
});
