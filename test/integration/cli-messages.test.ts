// Integration: what the real command line (node bin/gomodgate.js, a child process) says when it cannot do what
// was asked, and its exit code: usage errors in one style with "did you mean", configuration values echoed as
// typed, two of our own ports equal, a file given as the data directory, a port in use, a privileged port
// without the capability, and --version. Exact messages: they are the interface.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { openDatabase } from '../../src/store/database.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';
import { spawnSync } from 'node:child_process';
import { CLI, cliEnv, runCli, runTracked, killRunningChildren } from '../helpers/cli.js';
import { REPO_ROOT } from '../helpers/gateway.js';

let dir: string;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'gmg-cli-'));
});

after(() => {
  killRunningChildren();
  rmSync(dir, { recursive: true, force: true });
});

/** serve with its state in the test's directory and every port chosen by the OS, plus `args`. */
function serveArgs(...args: string[]): string[] {
  return ['serve', '--data-dir', join(dir, 'data'), '--ca-dir', join(dir, 'certs'), '--listen', '127.0.0.1', '--tls-port', '0', '--http-port', '0', '--proxy-port', '0', '--admin-port', '0', ...args];
}

test('usage errors: one line in one style, "did you mean" for commands and flags, exit 2', async () => {
  const cases: Array<[string[], string]> = [
    [['sevre'], 'unknown command "sevre" for gomodgate: did you mean serve? (see `gomodgate --help`)'],
    [['serve', '--prot', '1'], 'unknown option --prot for gomodgate serve: did you mean --tls-port, --http-port, --proxy-port or --admin-port? (see `gomodgate serve --help`)'],
    [['serve', '--admin-prot', '1'], 'unknown option --admin-prot for gomodgate serve: did you mean --admin-port? (see `gomodgate serve --help`)'],
    [['serve', '--data-dri', 'x'], 'unknown option --data-dri for gomodgate serve: did you mean --data-dir? (see `gomodgate serve --help`)'],
    [['ca', 'exprt'], 'unknown command "exprt" for gomodgate ca: did you mean export? (see `gomodgate ca --help`)'],
    [['ca', 'export', '--format', 'pdf'], '--format must be one of pem, der (got "pdf") (see `gomodgate ca export --help`)'],
    [['ca'], 'ca needs a subcommand: init, export or rotate (see `gomodgate ca --help`)'],
    [['cache', 'stats', '--jsno'], 'unknown option --jsno for gomodgate cache stats: did you mean --json? (see `gomodgate cache stats --help`)'],
  ];
  for (const [args, message] of cases) {
    const r = await runCli(args);
    assert.equal(r.stderr, `gomodgate: ${message}\n`, args.join(' '));
    assert.equal(r.code, 2, args.join(' '));
    assert.equal(r.stdout, '');
  }
});

test('option values are echoed as typed, named as given (flag or variable), all at once; sizes take units; exit 2', async () => {
  const r = await runCli(serveArgs('--proxy-port', 'abc', '--cache-max-bytes', '10X', '--log-level', 'loud'));
  assert.equal(r.code, 2);
  assert.equal(
    r.stderr,
    'gomodgate: 3 problems in the configuration:\n' +
      '  --proxy-port must be a port number 0-65535 (got "abc")\n' +
      '  --cache-max-bytes must be a size such as 10G, 500M or 1073741824 (K/M/G/T = KiB/MiB/GiB/TiB) (got "10X")\n' +
      '  --log-level must be one of trace, debug, info, warn, error, fatal, silent (got "loud")\n',
  );
  const env = await runTracked(process.execPath, [CLI, 'config', 'show'], { env: cliEnv({ GOMODGATE_CACHE_MAX_BYTES: '10G', GOMODGATE_TLS_PORT: '3128' }) });
  assert.equal(env.stderr, "gomodgate: GOMODGATE_TLS_PORT is 3128, the same port as --proxy-port (default): each of gomodgate's listeners needs its own port\n");
  assert.equal(env.code, 2);
  const sized = await runTracked(process.execPath, [CLI, 'config', 'show'], { env: cliEnv({ GOMODGATE_CACHE_MAX_BYTES: '10G' }) });
  assert.equal(sized.code, 0, sized.stderr);
  assert.equal(JSON.parse(sized.stdout)['cache.maxBytes'], 10 * 1024 ** 3);
});

test('a word given to a number option is named as such, not "got null" (yargs makes it NaN); one line, exit 2', async () => {
  const data = join(dir, 'numbers');
  for (const [args, flag] of [[['audit', '--limit', 'abc'], '--limit'], [['audit', 'tail', '--lines', 'abc'], '--lines'], [['audit', 'tail', '--interval', 'abc'], '--interval'], [['vulns', '--limit', 'abc'], '--limit']] as const) {
    const r = await runCli([...args, '--data-dir', data]);
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`^gomodgate: ${flag} must be .* \\(got something that is not a number\\)`), r.stderr);
  }
});

test('serve --help shows duration defaults as the README and the YAML write them (90d, not 7776000s)', async () => {
  const r = await runCli(['serve', '--help']);
  assert.equal(r.code, 0, r.stderr);
  const help = r.stdout.replace(/\s+/g, ' ');
  for (const [flag, shown] of [['--audit-retention', '90d'], ['--upstream-deadline', '10m'], ['--console-session-idle', '30m'], ['--upstream-timeout', '30s']]) {
    assert.match(help, new RegExp(`${flag} .*?\\[default: ${shown}\\]`), `${flag} shows ${shown}`);
  }
  assert.doesNotMatch(help, /\[default: \d{3,}s\]/, 'no duration in bare seconds');
});

test('two of our own ports equal are reported as such by serve, before anything listens', async () => {
  const r = await runCli(serveArgs('--proxy-port', '18443', '--tls-port', '18443'));
  assert.equal(r.stderr, "gomodgate: --proxy-port is 18443, the same port as --tls-port: each of gomodgate's listeners needs its own port\n");
  assert.equal(r.code, 2);
});

test('a file given as the data directory is "not a directory"; exit 2', async () => {
  const file = join(dir, 'a-file');
  writeFileSync(file, 'not a directory\n');
  const r = await runCli([...serveArgs(), '--data-dir', file]);
  assert.equal(r.stderr, `gomodgate: the data directory ${file} (--data-dir) is not a directory (a file of that name, or in its path, is in the way)\n`);
  assert.equal(r.code, 2);
  const stats = await runCli(['cache', 'stats', '--data-dir', file]);
  assert.equal(stats.stderr, `gomodgate: the data directory ${file} (--data-dir) is not a directory\n`);
  assert.equal(stats.code, 2);
});

test('a data directory on a read-only file system says so (Node\'s recursive mkdir called it ENOENT)', async (t) => {
  if (process.getuid?.() !== 0) return t.skip('mounting a read-only file system needs root');
  const ro = mkdtempSync(join(tmpdir(), 'gmg-ro-'));
  const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=1m', 'tmpfs', ro], { encoding: 'utf8', timeout: 10_000 });
  if (mounted.status !== 0) return t.skip(`cannot mount a tmpfs here: ${mounted.stderr.trim()}`);
  try {
    const r = await runCli([...serveArgs(), '--data-dir', ro]);
    assert.equal(r.stderr, `gomodgate: the data directory ${ro} (--data-dir) is on a read-only file system; choose a directory on a writable one\n`);
    assert.equal(r.code, 2);
  } finally {
    spawnSync('umount', [ro], { timeout: 10_000 });
    rmSync(ro, { recursive: true, force: true });
  }
});

test('a cache index the gateway may not write, or one that is damaged, stops serve with the file and what to do; the read commands say what to do too', async (t) => {
  const d = mkdtempSync(join(tmpdir(), 'gmg-db-'));
  try {
    const data = join(d, 'data');
    mkdirSync(data);
    const file = join(data, 'gomodgate.db');
    openDatabase(file).close();
    chmodSync(file, 0o444);
    if (process.getuid?.() === 0) {
      // root: without CAP_DAC_OVERRIDE the file's mode applies, as it does to the service's user
      if (spawnSync('setpriv', ['--help']).status !== 0) return t.skip('setpriv (util-linux) is not installed');
      const r = await runTracked('setpriv', ['--bounding-set', '-dac_override', '--inh-caps', '-dac_override', process.execPath, CLI, ...serveArgs(), '--data-dir', data, '--log-level', 'silent']);
      assert.match(r.stderr, new RegExp(`^gomodgate: the cache index ${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} cannot be used: attempt to write a readonly database \\(the gateway's user must be able to write it and its directory: chown/chmod them\\)\n$`));
      assert.notEqual(r.code, 0);
    }
    // a damaged file (its header overwritten): named, with the way out
    chmodSync(file, 0o644);
    const bytes = readFileSync(file);
    bytes.write('this is not an SQLite file at all', 0);
    writeFileSync(file, bytes);
    const r = await runCli([...serveArgs(), '--data-dir', data, '--log-level', 'silent']);
    assert.match(r.stderr, /^gomodgate: the cache index \S+gomodgate\.db cannot be used: file is not a database \(damaged: stop the gateway, move the file and its -wal\/-shm away; serve starts an empty index, and `gomodgate cache verify --repair` then removes the blobs it no longer knows\)\n$/);
    assert.notEqual(r.code, 0);
    // the read-only commands say the same, where they once printed SQLite's bare line
    for (const command of [['audit'], ['cache', 'stats']]) {
      const read = await runCli([...command, '--data-dir', data]);
      assert.match(read.stderr, /^gomodgate: the cache index: file is not a database \(damaged: stop the gateway, move the file/, `${command.join(' ')}: ${read.stderr}`);
      assert.equal(read.code, 1);
    }
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});

test('a port in use names the flag and the config key and asks whether another gomodgate runs; exit 1', async () => {
  const taken = net.createServer();
  await new Promise<void>((ok) => taken.listen(0, '127.0.0.1', ok));
  const { port } = taken.address() as net.AddressInfo;
  try {
    const r = await runCli([...serveArgs(), '--tls-port', String(port), '--log-level', 'silent']);
    assert.equal(
      r.stderr,
      `gomodgate: cannot listen on 127.0.0.1:${port} for the transparent TLS listener: the port is already in use. Is another gomodgate running (systemctl status gomodgate; ss -ltnp 'sport = :${port}')? Otherwise choose another port with --tls-port (tlsPort in the config file)\n`,
    );
    assert.equal(r.code, 1);
    const admin = await runCli([...serveArgs(), '--admin-listen', '127.0.0.1', '--admin-port', String(port), '--log-level', 'silent']);
    assert.equal(
      admin.stderr,
      `gomodgate: cannot listen on 127.0.0.1:${port} for the admin listener: the port is already in use. Is another gomodgate running (systemctl status gomodgate; ss -ltnp 'sport = :${port}')? Otherwise choose another port with --admin-port (adminPort in the config file)\n`,
    );
    assert.equal(admin.code, 1, 'the same exit code for every listener');
    const console = await runCli([...serveArgs(), '--console-listen', `127.0.0.1:${port}`, '--log-level', 'silent']);
    assert.equal(
      console.stderr,
      `gomodgate: cannot listen on 127.0.0.1:${port} for the web console: the port is already in use. Is another gomodgate running (systemctl status gomodgate; ss -ltnp 'sport = :${port}')? Otherwise choose another port with --console-listen (consoleListen in the config file)\n`,
    );
    assert.equal(console.code, 1);
  } finally {
    await new Promise<void>((ok) => taken.close(() => ok()));
  }
});

test('a port below 1024 without CAP_NET_BIND_SERVICE says so and points at the unit; exit 1', async (t) => {
  const unprivilegedStart = Number(readFileSync('/proc/sys/net/ipv4/ip_unprivileged_port_start', 'utf8'));
  if (unprivilegedStart <= 1023) return t.skip('this host lets anyone bind ports below 1024');
  const args = [...serveArgs(), '--tls-port', '1023', '--log-level', 'silent'];
  let r;
  if (process.getuid?.() === 0) {
    // root: drop the capability for the child, as the service's unit does
    if (spawnSync('setpriv', ['--help']).status !== 0) return t.skip('setpriv (util-linux) is not installed');
    r = await runTracked('setpriv', ['--bounding-set', '-net_bind_service', '--inh-caps', '-net_bind_service', process.execPath, CLI, ...args]);
  } else {
    r = await runCli(args);
  }
  assert.equal(
    r.stderr,
    'gomodgate: cannot listen on 127.0.0.1:1023 for the transparent TLS listener: ports below 1024 need CAP_NET_BIND_SERVICE (or root). Choose a port from 1024 up with --tls-port (tlsPort in the config file): iptables REDIRECT sends LAN ports 443 and 80 to it; or grant the capability as the comment at the top of systemd/gomodgate.service shows\n',
  );
  assert.equal(r.code, 1);
});

test('--version prints the package version; exit 0', async () => {
  const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
  const r = await runCli(['--version']);
  assert.equal(r.stdout, `gomodgate ${pkg.version} (node ${process.version})\n`);
  assert.equal(r.code, 0);
});
