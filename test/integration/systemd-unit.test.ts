// systemd/gomodgate.service: `systemd-analyze verify` accepts it (on a copy whose ExecStart points at this node
// and this checkout's bin/gomodgate.js, since verify insists that the binary exists), it has the directives the
// gateway relies on (notify readiness, SIGHUP reload, state directory, sandbox without capabilities), and
// `systemd-analyze security` rates its exposure low. Skipped with a reason where systemd-analyze is missing.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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
