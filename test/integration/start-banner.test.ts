// Integration: what `gomodgate serve` (a real child process) prints at start. On a terminal (a pseudo-terminal
// from util-linux `script`): the banner with the listeners, the CA file's real path and its SHA-256 fingerprint,
// the onboarding URL, the data directory, the upstream, the next step, and, when the proxy port is not on
// loopback, which clients --allow-clients lets in; log lines for people unless --log-format json. Not on a
// terminal: JSON lines only, no banner. Every gateway is stopped with Ctrl-C (SIGINT) or SIGTERM.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { CLI, cliEnv, spawnTracked, killRunningChildren } from '../helpers/cli.js';
import { REPO_ROOT, waitFor } from '../helpers/gateway.js';

let dir: string;
const hasScript = spawnSync('script', ['--version']).status === 0;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'gmg-banner-'));
});

after(() => {
  killRunningChildren();
  rmSync(dir, { recursive: true, force: true });
});

function serveArgs(name: string, ...args: string[]): string[] {
  return ['serve', '--data-dir', join(dir, name, 'data'), '--ca-dir', join(dir, name, 'certs'), '--tls-port', '0', '--http-port', '0', '--proxy-port', '0', '--admin-port', '0', '--sumdb', 'off', ...args];
}

interface Running {
  child: ChildProcess;
  output: () => string;
}

/** `gomodgate ARGS` with stdout on a pseudo-terminal (script -q -e -c), NO_COLOR set; its stdin reaches the terminal. */
function onTerminal(args: string[]): Running {
  const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  // `exec`: the gateway replaces the shell `script` starts ($SHELL, or dash when unset, as under CI), so Ctrl-C
  // reaches gomodgate alone; a non-interactive dash would die of the SIGINT itself and report 130.
  const command = 'exec ' + [process.execPath, CLI, ...args].map(quote).join(' ');
  const child = spawnTracked('script', ['-qefc', command, '/dev/null'], { env: cliEnv({ NO_COLOR: '1', COLUMNS: '120' }), stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (c) => (out += c));
  child.stderr!.on('data', (c) => (out += c));
  return { child, output: () => out.replace(/\r\n/g, '\n') };
}

/** Ctrl-C on the terminal, then the exit code. */
async function interrupt(r: Running): Promise<number | null> {
  r.child.stdin!.write('\x03');
  await waitFor('gomodgate to stop', () => r.child.exitCode !== null || r.child.signalCode !== null, 20_000);
  return r.child.exitCode;
}

function bannerLine(output: string, label: string): string {
  const line = output.split('\n').find((l) => l.startsWith(`  ${label.padEnd(18)}`));
  assert.ok(line, `banner line "${label}" in:\n${output}`);
  return line.slice(2 + 18);
}

test('on a terminal: the banner names the real CA file, its fingerprint, the onboarding URL, the data directory and the next step', { skip: !hasScript && 'util-linux script is not installed' }, async () => {
  const r = onTerminal(serveArgs('tty', '--listen', '127.0.0.1'));
  await waitFor('the banner', () => r.output().includes('send it through with scripts/install-iptables.sh.'), 30_000);
  const out = r.output();
  const caFile = join(dir, 'tty', 'certs', 'certs', 'ca.pem');
  assert.equal(bannerLine(out, 'CA certificate'), caFile);
  assert.equal(bannerLine(out, 'SHA-256'), new X509Certificate(readFileSync(caFile)).fingerprint256);
  assert.equal(bannerLine(out, 'data directory'), join(dir, 'tty', 'data'));
  assert.equal(bannerLine(out, 'upstream'), 'the host each client asked for (the plain GOPROXY endpoint: https://proxy.golang.org)');
  const proxy = /^127\.0\.0\.1:(\d+) {3}\(HTTPS_PROXY=http:\/\/127\.0\.0\.1:\1 or GOPROXY=http:\/\/127\.0\.0\.1:\1\)$/.exec(bannerLine(out, 'explicit proxy'));
  assert.ok(proxy, out);
  assert.equal(bannerLine(out, 'onboarding page'), `http://127.0.0.1:${proxy[1]}/   (the CA as PEM and DER, and how to trust it)`);
  const tls = /^127\.0\.0\.1:(\d+) /.exec(bannerLine(out, 'transparent TLS'))![1];
  const http = /^127\.0\.0\.1:(\d+) /.exec(bannerLine(out, 'transparent HTTP'))![1];
  // REDIRECT would deliver LAN connections to an address a loopback listener never accepts: no "Next" for the LAN
  assert.ok(tls && http);
  assert.ok(out.includes('\n  Listening on 127.0.0.1 only: for this machine (HTTPS_PROXY or GOPROXY above). To serve the LAN, restart with\n  --listen :: and send it through with scripts/install-iptables.sh.\n'), out);
  assert.equal(out.includes('--lan-if <LAN interface>'), false, out);
  assert.equal(out.includes('--allow-clients lets in'), false, 'on loopback only this machine can use the proxy port');
  // log lines for people: time, level, message, fields
  assert.match(out, /^\d\d:\d\d:\d\d\.\d{3} INFO  gomodgate ready ports=\{"tls":\d+,/m);
  assert.equal(await interrupt(r), 0);
});

test('on a terminal, listening beyond loopback: the banner says which clients --allow-clients lets in', { skip: !hasScript && 'util-linux script is not installed' }, async () => {
  const r = onTerminal(serveArgs('lan', '--listen', '::', '--allow-clients', '10.0.0.0/8', '--allow-clients', '192.168.0.0/16'));
  await waitFor('the banner', () => r.output().includes('Live requests: `gomodgate audit tail`.'), 30_000);
  const proxyPort = /^\[::\]:(\d+) /.exec(bannerLine(r.output(), 'explicit proxy'))![1];
  // the script by its absolute path: serve may run from any directory
  const tls = /^\[::\]:(\d+) /.exec(bannerLine(r.output(), 'transparent TLS'))![1];
  const http = /^\[::\]:(\d+) /.exec(bannerLine(r.output(), 'transparent HTTP'))![1];
  assert.ok(r.output().includes(`\n    ${join(REPO_ROOT, 'scripts', 'install-iptables.sh')} --lan-if <LAN interface> --tls-port ${tls} --http-port ${http}\n`), r.output());
  assert.ok(
    r.output().includes(
      `\n  The proxy port ${proxyPort} listens on every address of this machine: --allow-clients lets in\n` +
        '  10.0.0.0/8, 192.168.0.0/16.\n' +
        '  Every host on those networks (this LAN, a café Wi-Fi) can use it. For this machine only: --listen 127.0.0.1\n' +
        '  (or narrow --allow-clients).\n',
    ),
    r.output(),
  );
  assert.equal(await interrupt(r), 0);
});

test('on a terminal with --log-format json: the banner, and log lines that stay JSON', { skip: !hasScript && 'util-linux script is not installed' }, async () => {
  const r = onTerminal(serveArgs('json', '--listen', '127.0.0.1', '--log-format', 'json'));
  await waitFor('the banner', () => r.output().includes('send it through with scripts/install-iptables.sh.'), 30_000);
  const ready = r.output().split('\n').find((l) => l.includes('"msg":"gomodgate ready"'));
  assert.ok(ready, r.output());
  assert.equal(JSON.parse(ready).level, 'info');
  assert.equal(await interrupt(r), 0);
});

test('not on a terminal: JSON lines only, no banner', async () => {
  const child = spawnTracked(process.execPath, [CLI, ...serveArgs('pipe', '--listen', '127.0.0.1')]);
  let stdout = '';
  child.stdout!.on('data', (c) => (stdout += c));
  await waitFor('gomodgate ready', () => stdout.includes('"msg":"gomodgate ready"'), 30_000);
  child.kill('SIGTERM');
  await waitFor('gomodgate to stop', () => child.exitCode !== null, 20_000);
  const lines = stdout.trimEnd().split('\n');
  for (const line of lines) assert.equal(typeof JSON.parse(line).msg, 'string', line);
  assert.equal(stdout.includes('is ready'), false);
  assert.equal(stdout.includes('not TLS-verified'), false, 'no upstream warning without an http:// upstream');
  assert.equal(child.exitCode, 0);
});

test('an http:// upstream: one warning at start that it is not TLS-verified, naming that entry only', async () => {
  const child = spawnTracked(process.execPath, [CLI, ...serveArgs('plain-upstream', '--listen', '127.0.0.1', '--upstream', 'http://user:secret@127.0.0.1:9/mirror,https://proxy.golang.org')]);
  let stdout = '';
  child.stdout!.on('data', (c) => (stdout += c));
  await waitFor('gomodgate ready', () => stdout.includes('"msg":"gomodgate ready"'), 30_000);
  child.kill('SIGTERM');
  await waitFor('gomodgate to stop', () => child.exitCode !== null, 20_000);
  const warnings = stdout.trimEnd().split('\n').map((l) => JSON.parse(l)).filter((l) => String(l.msg).startsWith('http:// upstream'));
  assert.equal(warnings.length, 1, stdout);
  assert.equal(warnings[0].level, 'warn');
  assert.match(warnings[0].msg, /not TLS-verified/);
  assert.equal(warnings[0].upstream.includes('127.0.0.1:9/mirror'), true, warnings[0].upstream);
  assert.equal(warnings[0].upstream.includes('secret'), false, 'userinfo is masked');
  assert.equal(warnings[0].upstream.includes('proxy.golang.org'), false, 'the https entry is not named');
  assert.equal(child.exitCode, 0);
});
