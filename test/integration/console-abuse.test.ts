// Integration: the console under a hostile or careless visitor, through its real TLS listener and a real gateway:
// - forty wrong passwords sent at once from one address: at most ten are checked (the limit), the rest get 429;
// - a live-tail stream asked for with a filter that does not compile: a 400, where it once opened, failed at every
//   audit batch and kept the streams opened after it from getting rows;
// - HEAD on the live tail: headers only, never one of its hundred places.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { consoleRequest, consoleSignIn } from '../helpers/console-client.js';
import { caPaths } from '../../src/intercept/ca-store.js';
import { ConsoleUsers } from '../../src/console/console-users.js';

let dir: string;
let gw: TestGateway;
let port: number;
let ca: string;
let cookie: string;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gmg-console-abuse-'));
  mkdirSync(join(dir, 'data'), { recursive: true });
  new ConsoleUsers(join(dir, 'data')).set('alice', 'first-password');
  gw = await startTestGateway({ upstream: 'https://127.0.0.1:9', consoleListen: '127.0.0.1:0' }, { dir });
  port = gw.gateway.ports.console;
  ca = readFileSync(caPaths(join(dir, 'certs')).certFile, 'utf8');
  const s = await consoleSignIn(port, ca, 'alice', 'first-password');
  assert.equal(s.answer.status, 303);
  cookie = s.cookie;
});

after(async () => {
  await gw?.close();
  rmSync(dir, { recursive: true, force: true });
});

test('forty wrong passwords sent at once from one address: ten are checked, the others are refused with 429', async () => {
  const form = await consoleRequest(port, ca, '/sign-in', { from: '127.0.0.9' });
  const csrf = /name="csrf" value="([^"]+)"/.exec(form.body)?.[1] ?? '';
  const formCookie = String(form.headers['set-cookie'] ?? '').split(';')[0]!;
  const tries = await Promise.all(
    Array.from({ length: 40 }, (_, i) =>
      consoleRequest(port, ca, '/sign-in', {
        method: 'POST',
        from: '127.0.0.9',
        headers: { cookie: formCookie, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ csrf, user: 'alice', password: `guess-${i}` }).toString(),
      }),
    ),
  );
  const statuses = tries.map((t) => t.status);
  assert.equal(statuses.filter((s) => s === 401).length, 10, `passwords checked: ${statuses.join(' ')}`);
  assert.equal(statuses.filter((s) => s === 429).length, 30, statuses.join(' '));
  // another address is not affected
  assert.equal((await consoleSignIn(port, ca, 'alice', 'first-password')).answer.status, 303);
});

test('a live-tail stream with a filter that does not compile is a 400, and HEAD holds no place', async () => {
  for (const q of ['client=not-an-address', 'module=a%5Bb']) {
    const r = await consoleRequest(port, ca, `/events/stream?${q}`, { headers: { cookie } });
    assert.equal(r.status, 400, `${q}: ${r.body.slice(0, 200)}`);
  }
  const heads = await Promise.all(Array.from({ length: 120 }, () => consoleRequest(port, ca, '/events/stream', { method: 'HEAD', headers: { cookie } })));
  assert.deepEqual([...new Set(heads.map((h) => h.status))], [200]);
  assert.match(String(heads[0]!.headers['content-type']), /^text\/event-stream/);
  // the hundred places are all free: a real stream opens (its first bytes are the retry line, not "busy")
  const opened = await new Promise<string>((resolve, reject) => {
    import('node:https').then(({ default: https }) => {
      const req = https.get({ host: '127.0.0.1', port, path: '/events/stream', ca, headers: { cookie }, agent: false }, (res) => {
        res.setEncoding('utf8');
        res.once('data', (d: string) => {
          req.destroy();
          resolve(d);
        });
      });
      req.on('error', (e) => (e.message.includes('socket hang up') ? undefined : reject(e)));
    }, reject);
  });
  assert.match(opened, /^retry: /);
});
