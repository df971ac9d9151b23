// Fault injection, client side: secrets a client puts into its requests never reach the gateway's log or audit
// table. On a real gomodgate child process (log level debug, so hits are logged too), through the plain GOPROXY
// endpoint and inside an intercepted TLS connection (CONNECT, the transparent listener's TLS terminator):
// userinfo in absolute-form targets, in a CONNECT target sent inside the TLS connection and in a Host header;
// query strings; fragments; credentials in headers; path parameters (";jsessionid=..."), which the answers' reasons
// must not echo either. Every audit column and every log line is searched for the marker each secret carries.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { startFaultWorld, type FaultWorld } from '../helpers/fault-world.js';
import { RawClient } from '../helpers/hostile-client.js';
import { openTlsViaConnect } from '../helpers/connect-client.js';
import { waitFor } from '../helpers/gateway.js';

const WAIT_MS = 3000;
const H = 'Host: proxy.golang.org\r\n';
const C = 'Connection: close\r\n';

let world: FaultWorld;

before(async () => {
  world = await startFaultWorld({ name: 'secrets', args: ['--log-level', 'debug'] });
  await world.assertAlive('start');
});

after(async () => {
  await world?.close();
});

/** Sends `request` on the plain GOPROXY endpoint; what came back until the gateway closed the connection. */
async function plain(request: string): Promise<string> {
  const c = await RawClient.connect(world.ports.proxy);
  c.write(request);
  await c.waitForClose(WAIT_MS);
  c.destroy();
  return c.received.toString('latin1');
}

/** Sends `request` inside an intercepted TLS connection; what came back until the gateway closed it. */
async function intercepted(request: string): Promise<string> {
  const s = await openTlsViaConnect({ proxyPort: world.ports.proxy, ca: world.gatewayCa });
  let text = '';
  s.on('data', (d: Buffer) => (text += d.toString('latin1')));
  const closed = new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, WAIT_MS);
    s.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
  s.write(request);
  await closed;
  s.destroy();
  return text;
}

function auditRowsWith(marker: string): unknown[] {
  const db = new Database(join(world.dataDir, 'gomodgate.db'), { readonly: true });
  try {
    const columns = ['client', 'orig_dst', 'host', 'method', 'path', 'module', 'version', 'kind', 'outcome', 'upstream_url', 'reason'];
    return db.prepare(`SELECT * FROM audit WHERE ${columns.map((c) => `${c} LIKE ?`).join(' OR ')}`).all(...columns.map(() => `%${marker}%`));
  } finally {
    db.close();
  }
}

const auditCount = (): number => {
  const db = new Database(join(world.dataDir, 'gomodgate.db'), { readonly: true });
  try {
    return (db.prepare('SELECT count(*) AS n FROM audit').get() as { n: number }).n;
  } finally {
    db.close();
  }
};

describe('secrets a client sends', () => {
  it('never reach the log or the audit table, through either path', () => world.guard(async () => {
    const before = auditCount();
    const insideTls = [
      `CONNECT user:T1SECRET@x.example:443 HTTP/1.1\r\nHost: x.example:443\r\nProxy-Authorization: Basic T2SECRET\r\n\r\n`,
      `GET https://user:T3SECRET@proxy.golang.org/example.com/probe/@v/list?token=T4SECRET HTTP/1.1\r\n${H}${C}\r\n`,
      `GET /example.com/probe/@v/list#T5SECRET HTTP/1.1\r\n${H}${C}\r\n`,
      `GET /example.com/probe/@v/list HTTP/1.1\r\nHost: user:T6SECRET@evil.example\r\n${C}\r\n`,
      `GET /example.com/probe/@v/list HTTP/1.1\r\n${H}Cookie: a=T7SECRET\r\nAuthorization: Bearer T8SECRET\r\n${C}\r\n`,
    ];
    const onPlain = [
      `GET http://user:P1SECRET@proxy.golang.org/example.com/probe/@v/list?token=P2SECRET HTTP/1.1\r\n${H}${C}\r\n`,
      `GET /example.com/probe/@v/v9.9.9.info?token=P3SECRET HTTP/1.1\r\n${H}${C}\r\n`,
      `GET /example.com/nope/@v/list#P4SECRET HTTP/1.1\r\n${H}${C}\r\n`,
    ];
    for (const r of insideTls) await intercepted(r);
    for (const r of onPlain) await plain(r);
    // every request above is audited (a refused CONNECT inside TLS too): wait for the rows, not for time
    await waitFor('the audit rows of every request', () => auditCount() >= before + insideTls.length + onPlain.length, 15_000);
    assert.deepEqual(auditRowsWith('SECRET'), [], 'audit rows holding a secret');
    assert.deepEqual(world.gw.log().split('\n').filter((l) => l.includes('SECRET')), [], 'log lines holding a secret');
    await world.assertAlive('after requests carrying secrets');
  }));

  it('path parameters: their values are in no answer, log line or audit row, not even case-escaped', () => world.guard(async () => {
    const before = auditCount();
    const paths = [
      '/example.com/probe;jsessionid=j5secret/@v/list',
      '/example.com/Probe;jsessionid=J5SECRET/@v/list', // a 400 that suggests the case-escaped path
      '/example.com/probe/@v/v1.0.0.info;sid=j5secret',
      '/example.com/probe;j5secret/@latest',
      '/sumdb/sum.golang.org;s=j5secret/lookup/example.com/probe@v1.0.0',
      '/index.html;jsessionid=j5secret',
    ];
    const answers: string[] = [];
    for (const path of paths) {
      answers.push(await plain(`GET ${path} HTTP/1.1\r\n${H}${C}\r\n`));
      answers.push(await intercepted(`GET ${path} HTTP/1.1\r\n${H}${C}\r\n`));
    }
    await waitFor('the audit rows of every request', () => auditCount() >= before + 2 * paths.length, 15_000);
    const leaks = (text: string): boolean => /j5secret|!j5!s!e!c!r!e!t/i.test(text);
    assert.deepEqual(answers.filter(leaks), [], 'answers holding a path parameter\'s value');
    assert.ok(answers.filter((a) => a.startsWith('HTTP/1.1 400 ')).length >= 2, `module paths are refused: ${answers.map((a) => a.split('\r\n')[0]).join(', ')}`);
    assert.deepEqual(auditRowsWith('j5secret'), [], 'audit rows holding a path parameter\'s value');
    assert.deepEqual(auditRowsWith('!j5!s!e!c'), [], 'audit rows holding a path parameter\'s value, case-escaped');
    assert.deepEqual(world.gw.log().split('\n').filter(leaks), [], 'log lines holding a path parameter\'s value');
    assert.ok(auditRowsWith(';jsessionid=redacted/@v/list').length >= 2, 'the audit keeps the path, the value masked');
    await world.assertAlive('after requests with path parameters');
  }));
});
