// systemd/gomodgate.service: `systemd-analyze verify` accepts it (on a copy whose ExecStart points at this node
// and this checkout's bin/gomodgate.js, since verify insists that the binary exists), it has the directives the
// gateway relies on (notify readiness, SIGHUP reload, state directory, sandbox without capabilities), and
// `systemd-analyze security` rates its exposure low. Skipped with a reason where systemd-analyze is missing.
// Then the contract the unit relies on, against a fake NOTIFY_SOCKET (a python3 datagram receiver, as systemd
// would listen): `gomodgate serve --config <the example config>` sends READY=1 once it accepts connections,
// keeps an open client connection across SIGHUP (ExecReload), and exits 0 on SIGTERM.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const UNIT = resolve(REPO_ROOT, 'systemd/gomodgate.service');
const EXPECTED_EXEC_START = '/usr/bin/node /opt/gomodgate/bin/gomodgate.js serve --config /etc/gomodgate/gomodgate.yaml';
/** The highest `systemd-analyze security` exposure accepted (0 = fully locked down, 10 = unprotected). */
const MAX_EXPOSURE = 2.0;

const probe = spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' });
const skip = probe.error ? `systemd-analyze is not installed (${(probe.error as NodeJS.ErrnoException).code}); Debian: apt-get install systemd` : false;

/** The unit's [Service]/[Unit]/[Install] assignments: key → every value, in order (comments dropped). */
function parseUnit(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';') || line.startsWith('[')) continue;
    const eq = line.indexOf('=');
    assert.ok(eq > 0, `not an assignment: ${line}`);
    const key = line.slice(0, eq);
    out.set(key, [...(out.get(key) ?? []), line.slice(eq + 1)]);
  }
  return out;
}

function one(unit: Map<string, string[]>, key: string): string | undefined {
  const values = unit.get(key);
  return values?.[values.length - 1];
}

/** A copy of the unit runnable from this checkout, as install.sh renders it. */
function localCopy(text: string): string {
  return text.replace(/^ExecStart=\/usr\/bin\/node /m, `ExecStart=${process.execPath} `).replaceAll('/opt/gomodgate', REPO_ROOT);
}

function analyze(args: string[]) {
  const res = spawnSync('systemd-analyze', args, { encoding: 'utf8', timeout: 60_000 });
  assert.equal(res.error, undefined, `systemd-analyze ${args.join(' ')}: ${res.error}`);
  return res;
}

/** stderr lines of `systemd-analyze verify` that concern our unit (other units of the host may warn too). */
function ourWarnings(stderr: string, file: string): string[] {
  return stderr.split('\n').filter((l) => l.includes(file) || l.includes('gomodgate.service'));
}

describe('systemd unit systemd/gomodgate.service', { skip }, () => {
  const text = readFileSync(UNIT, 'utf8');
  const unit = parseUnit(text);
  let dir: string;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'gmg-unit-'));
  });

  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('runs `gomodgate serve` from /opt/gomodgate with the /etc/gomodgate config, as user gomodgate', () => {
    assert.equal(one(unit, 'ExecStart'), EXPECTED_EXEC_START);
    assert.equal(one(unit, 'User'), 'gomodgate');
    assert.equal(one(unit, 'Group'), 'gomodgate');
    assert.equal(one(unit, 'StateDirectory'), 'gomodgate');
    assert.equal(one(unit, 'WorkingDirectory'), '/var/lib/gomodgate');
    // the script the local copy runs exists in this checkout
    assert.ok(existsSync(join(REPO_ROOT, 'bin/gomodgate.js')));
  });

  it('signals readiness through systemd-notify and reloads on SIGHUP', () => {
    assert.equal(one(unit, 'Type'), 'notify');
    assert.equal(one(unit, 'NotifyAccess'), 'all', 'systemd-notify is a child process of node, not the main PID');
    assert.match(one(unit, 'ExecReload') ?? '', /^\/bin\/kill -HUP \$MAINPID$/);
  });

  it('is sandboxed and holds no capability', () => {
    const expected: Record<string, string> = {
      NoNewPrivileges: 'yes',
      ProtectSystem: 'strict',
      ProtectHome: 'yes',
      PrivateTmp: 'yes',
      PrivateDevices: 'yes',
      CapabilityBoundingSet: '',
      AmbientCapabilities: '',
      RestrictNamespaces: 'yes',
      RestrictSUIDSGID: 'yes',
      SystemCallArchitectures: 'native',
    };
    for (const [key, value] of Object.entries(expected)) assert.equal(one(unit, key), value, key);
    const families = (one(unit, 'RestrictAddressFamilies') ?? '').split(/\s+/).sort();
    assert.deepEqual(families, ['AF_INET', 'AF_INET6', 'AF_NETLINK', 'AF_UNIX']);
    assert.ok((unit.get('SystemCallFilter') ?? []).includes('@system-service'));
    // V8's JIT needs writable+executable memory: this setting would crash node at start-up
    assert.equal(unit.get('MemoryDenyWriteExecute'), undefined);
    // ProtectSystem=strict: nothing but the state directory may be writable
    assert.equal(unit.get('ReadWritePaths'), undefined);
  });

  it('passes `systemd-analyze verify` (with ExecStart pointing at this node and checkout)', () => {
    const file = join(dir, 'gomodgate.service');
    writeFileSync(file, localCopy(text));
    const res = analyze(['verify', file]);
    assert.equal(res.status, 0, `systemd-analyze verify failed:\n${res.stdout}${res.stderr}`);
    assert.deepEqual(ourWarnings(res.stderr, file), [], `systemd-analyze verify warns about the unit:\n${res.stderr}`);
  });

  it('control: `systemd-analyze verify` does reject a broken copy of the unit', () => {
    const file = join(dir, 'gomodgate.service');
    writeFileSync(file, localCopy(text).replace(/^ExecStart=\S+/m, 'ExecStart=/nonexistent/gomodgate-node'));
    const missingBinary = analyze(['verify', file]);
    assert.notEqual(missingBinary.status, 0, 'verify accepted an ExecStart that does not exist');
    writeFileSync(file, localCopy(text).replace(/^Type=notify$/m, 'Type=notifyy'));
    const badType = analyze(['verify', file]);
    assert.notDeepEqual(ourWarnings(badType.stderr, file), [], 'verify said nothing about an invalid Type=');
  });

  it(`has a \`systemd-analyze security\` exposure of at most ${MAX_EXPOSURE}`, (t) => {
    const file = join(dir, 'gomodgate.service');
    writeFileSync(file, localCopy(text));
    const res = analyze(['security', '--offline=true', '--no-pager', file]);
    assert.equal(res.status, 0, `systemd-analyze security failed:\n${res.stdout}${res.stderr}`);
    const m = /Overall exposure level for gomodgate\.service: (\d+(?:\.\d+)?)/.exec(res.stdout);
    assert.ok(m, `no exposure level in:\n${res.stdout}${res.stderr}`);
    const exposure = Number(m[1]);
    t.diagnostic(`systemd-analyze security: exposure ${exposure}`);
    assert.ok(exposure <= MAX_EXPOSURE, `exposure ${exposure} > ${MAX_EXPOSURE}:\n${res.stdout}`);
  });
});

// ---------------------------------------------------------------------------------------------------------------

// Receives sd_notify datagrams like systemd: prints each as one line, and closes the file descriptors that
// `systemd-notify`'s barrier sends (it waits until the receiver has closed them).
const NOTIFY_RECEIVER = `
import array, os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print('bound', flush=True)
while True:
    msg, anc, flags, addr = s.recvmsg(4096, socket.CMSG_SPACE(16 * 4))
    for level, kind, data in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds = array.array('i')
            fds.frombytes(data[: len(data) - len(data) % fds.itemsize])
            for fd in fds:
                os.close(fd)
    print('msg ' + msg.decode('utf-8', 'replace').replace('\\n', ' ').strip(), flush=True)
`;

function commandMissing(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status !== 0;
}
const notifySkip = commandMissing('python3')
  ? 'python3 is not installed (it plays systemd\'s notify socket)'
  : commandMissing('systemd-notify')
    ? 'systemd-notify is not installed (Debian: apt-get install systemd)'
    : !existsSync(join(REPO_ROOT, 'dist/src/cli/main.js'))
      ? 'the checkout is not built'
      : false;

/** A child process whose output lines are kept, with a bounded wait for a matching line. */
class Watched {
  readonly lines: string[] = [];
  private rest = '';
  constructor(readonly child: ChildProcess) {
    const onData = (d: Buffer) => {
      const parts = (this.rest + d.toString('utf8')).split('\n');
      this.rest = parts.pop() ?? '';
      this.lines.push(...parts);
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
  }
  async waitFor(what: string, match: (line: string) => boolean, timeoutMs: number): Promise<string> {
    for (let waited = 0; waited <= timeoutMs; waited += 50) {
      const line = this.lines.find(match);
      if (line !== undefined) return line;
      if (this.child.exitCode !== null || this.child.signalCode !== null) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`no ${what} within ${timeoutMs} ms (exit ${this.child.exitCode ?? this.child.signalCode ?? 'none'}); output:\n${this.lines.slice(-30).join('\n')}`);
  }
  exited(timeoutMs: number): Promise<number | null> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return Promise.resolve(this.child.exitCode);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no exit within ${timeoutMs} ms:\n${this.lines.slice(-30).join('\n')}`)), timeoutMs);
      this.child.once('exit', (code) => {
        clearTimeout(timer);
        resolve(code);
      });
    });
  }
  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null && this.child.pid) {
      try {
        process.kill(this.child.pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
  }
}

function openSocket(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port }, () => resolve(s));
    s.once('error', reject);
  });
}

/** Sends one HTTP request on an already open connection and returns the status line of the answer. */
function statusLineOn(s: Socket): Promise<string> {
  return new Promise((resolve, reject) => {
    let data = '';
    const timer = setTimeout(() => reject(new Error(`no HTTP answer within 10 s: ${JSON.stringify(data)}`)), 10_000);
    s.on('data', (d) => {
      data += d.toString('latin1');
      const eol = data.indexOf('\r\n');
      if (eol >= 0) {
        clearTimeout(timer);
        resolve(data.slice(0, eol));
      }
    });
    s.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    s.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n');
  });
}

describe('the service contract of the unit: notify readiness, SIGHUP reload, SIGTERM stop', { skip: notifySkip, timeout: 120_000 }, () => {
  let dir: string;
  let receiver: Watched | undefined;
  let gateway: Watched | undefined;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gmg-notify-'));
    writeFileSync(join(dir, 'receiver.py'), NOTIFY_RECEIVER);
    receiver = new Watched(spawn('python3', [join(dir, 'receiver.py'), join(dir, 'notify.sock')], { stdio: ['ignore', 'pipe', 'pipe'] }));
    await receiver.waitFor('bound notify socket', (l) => l === 'bound', 10_000);
  });

  after(() => {
    gateway?.kill();
    receiver?.kill();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('serve with the example config: READY=1 once listening, a connection kept across SIGHUP, exit 0 on SIGTERM', async () => {
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, NOTIFY_SOCKET: join(dir, 'notify.sock') };
    const args = [
      join(REPO_ROOT, 'bin/gomodgate.js'), 'serve', '--config', join(REPO_ROOT, 'systemd/gomodgate.yaml'),
      // the example's paths and ports are the production ones: point them at the test's own
      '--data-dir', join(dir, 'data'), '--ca-dir', join(dir, 'certs'),
      '--tls-port', '0', '--http-port', '0', '--proxy-port', '0', '--admin-port', '0',
    ];
    gateway = new Watched(spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] }));

    const ready = await receiver!.waitFor('READY=1 from gomodgate', (l) => l.startsWith('msg ') && l.split(' ').includes('READY=1'), 30_000);
    assert.ok(!receiver!.lines.some((l) => l.includes('ERRNO=')), receiver!.lines.join('\n'));
    const readyLog = await gateway.waitFor('"gomodgate ready" log line', (l) => l.includes('"gomodgate ready"'), 10_000);
    const ports = (JSON.parse(readyLog) as { ports: { tls: number; http: number; proxy: number } }).ports;
    for (const port of [ports.tls, ports.http, ports.proxy]) (await openSocket(port)).destroy();
    assert.match(ready, /STATUS=/);

    // ExecReload: a connection opened before SIGHUP is still served after the reload
    const kept = await openSocket(ports.proxy);
    process.kill(gateway.child.pid!, 'SIGHUP');
    await gateway.waitFor('reload log line', (l) => /reload/i.test(l), 10_000);
    assert.equal(gateway.child.exitCode, null, 'gomodgate exited on SIGHUP');
    assert.match(await statusLineOn(kept), /^HTTP\/1\.1 \d{3} /);
    kept.destroy();

    process.kill(gateway.child.pid!, 'SIGTERM');
    assert.equal(await gateway.exited(30_000), 0, gateway.lines.join('\n'));
  });

  it('tells systemd it is stopping with a message systemd 252 understands (STOPPING=1, no ERRNO=)', async () => {
    await receiver!.waitFor('STOPPING=1', (l) => l.startsWith('msg ') && l.split(' ').includes('STOPPING=1'), 5_000);
    assert.ok(!receiver!.lines.some((l) => l.includes('ERRNO=')), receiver!.lines.join('\n'));
  });
});
