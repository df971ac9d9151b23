// `gomodgate console add-user | list-users | remove-user` as child processes (node bin/gomodgate.js): the password
// from stdin (--password-stdin) or refused without a terminal, the user file 0600 with a hash that verifies, exit
// codes; and the console options' validation messages.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, cliEnv } from '../helpers/cli.js';
import { ConsoleUsers } from '../../src/console/console-users.js';
import { loadConfig } from '../../src/config/load.js';

function gomodgate(args: string[], input?: string) {
  const r = spawnSync(process.execPath, [CLI, ...args], { env: cliEnv(), input: input ?? '', encoding: 'utf8', timeout: 30_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('console users from the command line: add (stdin), list, replace, remove; 0600; errors exit 2', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gmg-console-cli-'));
  const data = join(dir, 'data');
  try {
    let r = gomodgate(['console', 'add-user', 'alice', '--password-stdin', '--data-dir', data], 'first-password\n');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'added: console user alice\n');
    const file = join(data, 'console-users.json');
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.ok(!readFileSync(file, 'utf8').includes('first-password'));
    assert.equal(await new ConsoleUsers(data).verify('alice', 'first-password'), true, 'the trailing newline is not part of the password');
    r = gomodgate(['console', 'add-user', 'alice', '--password-stdin', '--data-dir', data], 'second-password\n');
    assert.equal(r.stdout, 'password changed: console user alice\n');
    assert.equal(await new ConsoleUsers(data).verify('alice', 'second-password'), true);
    r = gomodgate(['console', 'list-users', '--data-dir', data]);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /^USER {3}ADDED\nalice  \d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z\n$/);
    // no terminal and no --password-stdin: refused, nothing changed
    r = gomodgate(['console', 'add-user', 'bob', '--data-dir', data]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^gomodgate: no terminal to ask for the password: pipe it in with --password-stdin\n$/);
    r = gomodgate(['console', 'add-user', 'bad name', '--password-stdin', '--data-dir', data], 'long-enough\n');
    assert.equal(r.code, 2);
    assert.match(r.stderr, /user name is 1-64 letters/);
    r = gomodgate(['console', 'add-user', 'carol', '--password-stdin', '--data-dir', data], 'short\n');
    assert.equal(r.code, 2);
    assert.match(r.stderr, /at least 8 characters/);
    assert.deepEqual(new ConsoleUsers(data).list().map((u) => u.name), ['alice']);
    r = gomodgate(['console', 'remove-user', 'alice', '--data-dir', data]);
    assert.equal(r.code, 0);
    assert.equal(r.stdout, 'removed: console user alice\n');
    r = gomodgate(['console', 'remove-user', 'alice', '--data-dir', data]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /no console user "alice"/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('console options: precise messages for a bad address, a certificate without its key, SSO without its proxy', () => {
  const problems = (flags: Record<string, unknown>) => {
    try {
      loadConfig({ env: {}, flags });
      return '';
    } catch (err) {
      return (err as Error).message;
    }
  };
  assert.equal(problems({ consoleListen: '127.0.0.1:9443' }), '');
  assert.equal(problems({ consoleListen: '[::]:9443', consoleSsoHeader: 'X-Forwarded-User', consoleSsoProxy: ['10.0.0.7', '10.1.0.0/16'] }), '');
  assert.equal(problems({ consoleListen: 'console.corp:9443' }), '--console-listen must be ADDR:PORT with an IP address, such as 10.0.0.1:9443 or [::]:9443 (got "console.corp:9443")');
  assert.equal(problems({ consoleListen: '10.0.0.1' }), '--console-listen must be ADDR:PORT with an IP address, such as 10.0.0.1:9443 or [::]:9443 (got "10.0.0.1")');
  assert.equal(problems({ consoleCert: '/etc/c.pem' }), "--console-cert needs --console-key (consoleKey in the config file) too: give the console's certificate and its key together");
  assert.equal(problems({ consoleSsoHeader: 'X-User' }), "--console-sso-header needs --console-sso-proxy (consoleSsoProxy in the config file) too: the user header is trusted only from the SSO proxy's addresses");
  assert.equal(problems({ consoleSsoHeader: 'X User', consoleSsoProxy: ['10.0.0.7'] }), '--console-sso-header must be an HTTP header name such as X-Forwarded-User (got "X User")');
  assert.equal(problems({ consoleSsoHeader: 'X-User', consoleSsoProxy: ['proxy.corp'] }), '--console-sso-proxy entries must be addresses or CIDRs such as 10.0.0.5 or 10.0.0.0/24 (got "proxy.corp")');
  assert.equal(problems({ consoleSessionIdle: 'soon' }), '--console-session-idle must be a duration such as 60s, 5m or 1h (got "soon")');
});
