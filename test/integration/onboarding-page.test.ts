// Integration: the onboarding page on a real gateway's proxy port. The Host header is the client's to choose and
// ends up in shell commands people paste, so hostile values must not appear in the page (the commands fall back
// to the address the client connected to); a browser's /favicon.ico is answered there and never audited.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { safeGatewayHost } from '../../src/http/onboarding-page.js';

let gw: TestGateway;
const dir = mkdtempSync(join(tmpdir(), 'gmg-onboard-'));

before(async () => {
  gw = await startTestGateway({}, { dir }); // the directory outlives close(), to read the audit afterwards
});

after(async () => {
  await gw?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** One raw HTTP/1.1 request (any Host bytes), read to the end of the connection. */
function rawGet(port: number, path: string, host: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port });
    const parts: Buffer[] = [];
    s.setTimeout(10_000, () => s.destroy(new Error('timeout')));
    s.on('connect', () => s.write(`GET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`));
    s.on('data', (c: Buffer) => parts.push(c));
    s.on('error', reject);
    s.on('close', () => {
      const text = Buffer.concat(parts).toString('latin1');
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
      resolve({ status, body: text.slice(text.indexOf('\r\n\r\n') + 4) });
    });
  });
}

test('a hostile Host header never reaches the shell commands; the socket address is used instead', async () => {
  const port = gw.gateway.ports.proxy;
  const hostile = ['$(touch /tmp/gmg-pwned)', 'evil.example;rm -rf ~', 'a"b<script>alert(1)</script>', '`id`.example', 'example.com | sh', "x'y", 'gw.lan:80 &&curl'];
  for (const host of hostile) {
    const r = await rawGet(port, '/', host);
    assert.equal(r.status, 200, host);
    assert.ok(!r.body.includes(host), `page contains the raw Host ${JSON.stringify(host)}`);
    for (const bad of ['$(', '<script>alert', '`', ';rm', '| sh', '&&curl']) assert.ok(!r.body.includes(bad), `page contains ${bad} for Host ${JSON.stringify(host)}`);
    // the page's one script is its own, and the only one its Content-Security-Policy lets run
    assert.equal(r.body.split('<script').length - 1, 1, `more than one script for Host ${JSON.stringify(host)}`);
    assert.ok(r.body.includes(`http://127.0.0.1:${port}/gomodgate-ca.pem`), `falls back to the connected address for Host ${JSON.stringify(host)}`);
  }
  const good = await rawGet(port, '/', 'Gateway.LAN:3128');
  assert.ok(good.body.includes(`http://gateway.lan:${port}/gomodgate-ca.pem`), 'a valid name is used, without its port');
  const v6 = await rawGet(port, '/', '[fd00::1]:3128');
  assert.ok(v6.body.includes(`http://[fd00::1]:${port}/gomodgate-ca.pem`), 'an IPv6 literal stays bracketed');
});

test('safeGatewayHost accepts names and IPs only', () => {
  const table: [string | undefined, string | null][] = [
    ['proxy.lan', 'proxy.lan'], ['proxy.lan:3128', 'proxy.lan'], ['10.0.0.1:3128', '10.0.0.1'], ['[::1]:3128', '[::1]'], ['[::1]', '[::1]'],
    [undefined, null], ['', null], ['a b', null], ['-x.lan', null], ['x..lan', null], ['[zz::1]', null], ['::1', null], ['a.lan:1:2', null], ['a.lan:', null], ['é.lan', null],
  ];
  for (const [input, want] of table) assert.equal(safeGatewayHost(input), want, String(input));
});

test('/favicon.ico is answered by the onboarding page (204) and leaves no audit row', async () => {
  const r = await rawGet(gw.gateway.ports.proxy, '/favicon.ico', '127.0.0.1');
  assert.equal(r.status, 204);
  assert.equal(r.body, '');
  await gw.close(); // flushes the audit
  const db = gw.db();
  try {
    const rows = db.prepare("SELECT outcome, path FROM audit WHERE path LIKE '%favicon%'").all();
    assert.deepEqual(rows, []);
  } finally {
    db.close();
  }
});
