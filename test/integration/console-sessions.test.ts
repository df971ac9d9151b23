// The console's password sessions against the user file, through the real console listener (TLS, the gateway
// CA): a session ends at its next request once its user is removed or their password replaced (`console
// remove-user` / `add-user` write the file; the running gateway re-reads it), however recently it was used.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestGateway } from '../helpers/gateway.js';
import { consoleRequest, consoleSignIn } from '../helpers/console-client.js';
import { caPaths } from '../../src/intercept/ca-store.js';
import { ConsoleUsers } from '../../src/console/console-users.js';

test('removing a console user or replacing the password ends their open sessions at the next request', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gmg-console-sessions-'));
  mkdirSync(join(dir, 'data'), { recursive: true });
  const users = new ConsoleUsers(join(dir, 'data'));
  users.set('alice', 'first-password');
  users.set('bob', 'bobs-password');
  const gw = await startTestGateway({ upstream: 'https://127.0.0.1:9', consoleListen: '127.0.0.1:0' }, { dir });
  try {
    const port = gw.gateway.ports.console;
    const ca = readFileSync(caPaths(join(dir, 'certs')).certFile, 'utf8');
    const as = (cookie: string, path = '/') => consoleRequest(port, ca, path, { headers: { cookie } });

    const alice = await consoleSignIn(port, ca, 'alice', 'first-password');
    assert.equal(alice.answer.status, 303, alice.answer.body);
    const bob = await consoleSignIn(port, ca, 'bob', 'bobs-password');
    assert.equal((await as(alice.cookie)).status, 200);
    assert.equal((await as(bob.cookie, '/export/rows.csv')).status, 200);

    users.set('alice', 'second-password');
    const replaced = await as(alice.cookie);
    assert.equal(replaced.status, 303, 'the password was replaced: signed out');
    assert.equal(replaced.headers.location, '/sign-in');
    assert.equal((await as(alice.cookie)).status, 303, 'and the session is gone');
    assert.equal((await consoleSignIn(port, ca, 'alice', 'first-password')).answer.status, 401);
    const again = await consoleSignIn(port, ca, 'alice', 'second-password');
    assert.equal((await as(again.cookie)).status, 200, 'the new password signs in');

    users.remove('bob');
    assert.equal((await as(bob.cookie, '/export/rows.csv')).status, 401, 'a removed user exports nothing');
    assert.equal((await as(again.cookie)).status, 200, "another user's session is untouched");
  } finally {
    await gw.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
