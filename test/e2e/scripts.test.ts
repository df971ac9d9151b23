// The admin's install path, end to end: scripts/install-iptables.sh and uninstall-iptables.sh run inside a
// network namespace (gateway) joined by a veth pair to a client namespace, asserting on iptables-save and
// ip6tables-save (rules present, identical after a second run, converging to new arguments, nothing of ours
// after uninstall, --dry-run changing nothing, other rules untouched) and on real connections (LAN port 443/80
// reach the REDIRECT ports over IPv4 and IPv6; the gateway's own traffic and traffic to the gateway itself are
// not redirected). scripts/install.sh runs with --dry-run and into a throwaway --root only: it never creates a
// user or installs a unit on this machine. Needs root, iproute2 and iptables (skipped with a reason otherwise).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { X509Certificate, createHash } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, realpathSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  addAddress,
  addDefaultRoute,
  createNamespace,
  createVethPair,
  deleteNamespacesWithPrefix,
  describeResult,
  killStaleProcesses,
  netfilter,
  run,
  runInNamespace,
  spawnInNamespace,
  type CommandResult,
  type NamespaceProcess,
} from '../helpers/netns.js';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const INSTALL_IPTABLES = join(REPO_ROOT, 'scripts/install-iptables.sh');
const UNINSTALL_IPTABLES = join(REPO_ROOT, 'scripts/uninstall-iptables.sh');
const INSTALL = join(REPO_ROOT, 'scripts/install.sh');
const INSTALL_TEST_DEPS = join(REPO_ROOT, 'scripts/install-test-deps.sh');

const PREFIX = 'gmgscr';
const GW = `${PREFIX}-gw`;
const CL = `${PREFIX}-cl`;
const GW_IF = `${PREFIX}-lan`; // the gateway's LAN interface
const CL_IF = `${PREFIX}-cli`;
const GW4 = '10.231.77.1';
const CL4 = '10.231.77.2';
const GW6 = 'fd00:231:77::1';
const CL6 = 'fd00:231:77::2';
const LAN4 = '10.231.77.0/24';
const LAN6 = 'fd00:231:77::/64';
// Somewhere on "the internet": documentation ranges that nothing in the test world routes
const REMOTE4 = '203.0.113.9';
const REMOTE6 = '2001:db8::9';
const STATE_DIR = join(tmpdir(), `${PREFIX}-state`);

function whySkip(): string | false {
  if (process.getuid?.() !== 0) return 'needs root (network namespaces, iptables)';
  for (const tool of ['ip', 'iptables', 'ip6tables', 'iptables-save', 'ip6tables-save', 'iptables-restore']) {
    const probe = spawnSync('sh', ['-c', `command -v ${tool}`]);
    if (probe.status !== 0) return `${tool} is not installed (Debian: apt-get install iproute2 iptables)`;
  }
  return false;
}
const skip = whySkip();

function bash(ns: string, script: string, args: string[], env?: NodeJS.ProcessEnv): Promise<CommandResult> {
  return runInNamespace(ns, ['bash', script, ...args], { env, timeoutMs: 60_000 });
}

/** iptables-save / ip6tables-save of the nat table without comments and packet counters. */
async function natRules(ns: string, family: 4 | 6): Promise<string> {
  const res = await runInNamespace(ns, [family === 4 ? 'iptables-save' : 'ip6tables-save', '-t', 'nat']);
  assert.equal(res.code, 0, describeResult(res));
  return res.stdout
    .split('\n')
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => l.replace(/ \[\d+:\d+\]$/, ''))
    .join('\n');
}

async function natBoth(ns: string): Promise<string> {
  return `${await natRules(ns, 4)}\n--- ip6tables ---\n${await natRules(ns, 6)}`;
}

/** The rules of our chain, `-A GOMODGATE ...`, in order. */
function chainRules(save: string): string[] {
  return save.split('\n').filter((l) => l.startsWith('-A GOMODGATE '));
}

function prerouting(save: string): string[] {
  return save.split('\n').filter((l) => l.startsWith('-A PREROUTING '));
}

const JUMP = '-A PREROUTING -p tcp -m comment --comment gomodgate -j GOMODGATE';
const FOREIGN = '-A PREROUTING -p udp -m udp --dport 53 -j RETURN';

function expectOk(res: CommandResult): void {
  assert.equal(res.code, 0, describeResult(res));
}

function expectUsageError(res: CommandResult, message: RegExp): void {
  assert.equal(res.code, 2, describeResult(res));
  assert.match(res.stderr, message, describeResult(res));
}

// A one-shot TCP client: prints what the server sent, or the error code, or "timeout" (bounded by 3 s).
const CLIENT = `
const net = require('node:net');
const [host, port] = process.argv.slice(-2);
const s = net.connect({ host, port: Number(port) });
let data = '';
const timer = setTimeout(() => { console.log('timeout'); s.destroy(); }, 3000);
s.on('data', (d) => { data += d; });
s.on('end', () => { clearTimeout(timer); console.log(data.trim() || 'empty'); });
s.on('error', (e) => { clearTimeout(timer); console.log(e.code); });
`;

async function connectFrom(ns: string, host: string, port: number): Promise<string> {
  const res = await runInNamespace(ns, [process.execPath, '-e', CLIENT, host, String(port)], { timeoutMs: 20_000 });
  assert.equal(res.code, 0, describeResult(res));
  return res.stdout.trim();
}

describe('scripts/install-iptables.sh and uninstall-iptables.sh in a network namespace', { skip, timeout: 5 * 60_000 }, () => {
  let listener: NamespaceProcess | undefined;
  let pristine = '';

  before(async () => {
    await killStaleProcesses(STATE_DIR);
    await deleteNamespacesWithPrefix(PREFIX);
    rmSync(STATE_DIR, { recursive: true, force: true });
    await createNamespace(GW);
    await createNamespace(CL);
    await createVethPair({ ns: GW, ifname: GW_IF }, { ns: CL, ifname: CL_IF });
    await addAddress(GW, GW_IF, `${GW4}/24`);
    await addAddress(CL, CL_IF, `${CL4}/24`);
    await addAddress(GW, GW_IF, `${GW6}/64`);
    await addAddress(CL, CL_IF, `${CL6}/64`);
    await addDefaultRoute(CL, GW4);
    await addDefaultRoute(CL, GW6);
    // someone else's rule, which install and uninstall must leave alone
    await netfilter(GW, 4, ['-t', 'nat', '-A', 'PREROUTING', '-p', 'udp', '--dport', '53', '-j', 'RETURN']);
    await netfilter(GW, 6, ['-t', 'nat', '-A', 'PREROUTING', '-p', 'udp', '--dport', '53', '-j', 'RETURN']);
    pristine = await natBoth(GW);
    // what the gateway would be: one listener on each REDIRECT port, saying which port it is
    listener = spawnInNamespace(
      GW,
      [
        process.execPath,
        '-e',
        `const net = require('node:net');
         for (const p of [8443, 8080, 9443]) net.createServer((s) => s.end('gw:' + p + '\\n')).listen(p, '::', () => console.log('listening ' + p));`,
      ],
      { name: 'redirect-listener', stateDir: STATE_DIR },
    );
    for (const p of [8443, 8080, 9443]) await listener.waitForLine((l) => l === `listening ${p}`, 15_000);
  });

  after(async () => {
    await listener?.stop();
    await deleteNamespacesWithPrefix(PREFIX);
    rmSync(STATE_DIR, { recursive: true, force: true });
  });

  it('--help describes the options and exits 0', async () => {
    const install = await bash(GW, INSTALL_IPTABLES, ['--help']);
    expectOk(install);
    for (const opt of ['--lan-if', '--lan-cidr', '--tls-port', '--http-port', '--no-ipv6', '--dry-run']) assert.ok(install.stdout.includes(opt), opt);
    const uninstall = await bash(GW, UNINSTALL_IPTABLES, ['--help']);
    expectOk(uninstall);
    for (const opt of ['--no-ipv6', '--dry-run']) assert.ok(uninstall.stdout.includes(opt), opt);
  });

  it('refuses bad arguments with exit 2 and a precise message, changing nothing', async () => {
    const table: Array<[string[], RegExp]> = [
      [[], /at least one --lan-if or --lan-cidr/],
      [['--lan-if'], /--lan-if needs a value/],
      [['--lan-if', 'a/b'], /not an interface name: "a\/b"/],
      [['--lan-if', 'x'.repeat(16)], /not an interface name/],
      [['--lan-cidr', '10.0.0.0/33'], /not an IPv4 or IPv6 address range: "10.0.0.0\/33"/],
      [['--lan-cidr', '10.0.0.256/8'], /not an IPv4 or IPv6 address range/],
      [['--lan-cidr', '1::2::3/64'], /not an IPv4 or IPv6 address range/],
      [['--lan-cidr', 'fd00::/129'], /not an IPv4 or IPv6 address range/],
      [['--lan-cidr', 'eth1'], /not an IPv4 or IPv6 address range/],
      [['--lan-if', 'eth1', '--tls-port', '99999'], /--tls-port must be a port number 1-65535 \(got "99999"\)/],
      [['--lan-if', 'eth1', '--tls-port', '0'], /--tls-port must be a port number/],
      [['--lan-if', 'eth1', '--http-port', 'http'], /--http-port must be a port number/],
      [['--lan-if', 'eth1', '--tls-port', '8080'], /--tls-port and --http-port must differ/],
      [['--lan-cidr', 'fd00::/8', '--no-ipv6'], /--no-ipv6 contradicts the IPv6 --lan-cidr fd00::\/8/],
      [['--lan-if', 'eth1', '--bogus'], /unknown argument "--bogus"/],
    ];
    for (const [args, message] of table) expectUsageError(await bash(GW, INSTALL_IPTABLES, args), message);
    expectUsageError(await bash(GW, UNINSTALL_IPTABLES, ['--lan-if', 'eth1']), /unknown argument "--lan-if"/);
    assert.equal(await natBoth(GW), pristine);
  });

  it('says clearly when iptables or ip6tables is missing', async () => {
    const noTools = await runInNamespace(GW, ['/usr/bin/env', 'PATH=/nonexistent', '/bin/bash', INSTALL_IPTABLES, '--lan-if', GW_IF]);
    assert.equal(noTools.code, 1, describeResult(noTools));
    assert.match(noTools.stderr, /iptables not found: install the iptables package/);
    const noUninstallTools = await runInNamespace(GW, ['/usr/bin/env', 'PATH=/nonexistent', '/bin/bash', UNINSTALL_IPTABLES]);
    assert.equal(noUninstallTools.code, 1, describeResult(noUninstallTools));
    assert.match(noUninstallTools.stderr, /iptables not found/);
    // only the IPv4 tools on PATH: the IPv6 half is refused with the way out
    const bin = mkdtempSync(join(tmpdir(), `${PREFIX}-bin-`));
    try {
      for (const tool of ['iptables', 'iptables-restore']) {
        const path = spawnSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).stdout.trim();
        symlinkSync(path, join(bin, tool));
      }
      const noV6 = await runInNamespace(GW, ['/usr/bin/env', `PATH=${bin}`, '/bin/bash', INSTALL_IPTABLES, '--lan-if', GW_IF]);
      assert.equal(noV6.code, 1, describeResult(noV6));
      assert.match(noV6.stderr, /ip6tables not found: .*or pass --no-ipv6/);
    } finally {
      rmSync(bin, { recursive: true, force: true });
    }
    assert.equal(await natBoth(GW), pristine);
  });

  it('--dry-run prints the commands and changes nothing', async () => {
    const res = await bash(GW, INSTALL_IPTABLES, ['--lan-if', GW_IF, '--lan-cidr', LAN6, '--dry-run']);
    expectOk(res);
    assert.match(res.stdout, /^iptables-restore -w 10 --noflush <<'RULES'$/m);
    assert.match(res.stdout, /^ip6tables-restore -w 10 --noflush <<'RULES'$/m);
    assert.match(res.stdout, new RegExp(`^-A GOMODGATE -i ${GW_IF} -p tcp -m tcp --dport 443 -j REDIRECT --to-ports 8443$`, 'm'));
    assert.match(res.stdout, /^-A GOMODGATE -s fd00:231:77::\/64 -p tcp -m tcp --dport 80 -j REDIRECT --to-ports 8080$/m);
    assert.equal(await natBoth(GW), pristine);
    const un = await bash(GW, UNINSTALL_IPTABLES, ['--dry-run']);
    expectOk(un);
    assert.match(un.stdout, /ip6tables -w 10 -t nat -X GOMODGATE/);
    assert.equal(await natBoth(GW), pristine);
  });

  it('installs one chain per family and one jump at the top of PREROUTING; a second run adds nothing', async () => {
    const args = ['--lan-if', GW_IF, '--lan-cidr', '10.231.0.0/16', '--lan-cidr', LAN6];
    const first = await bash(GW, INSTALL_IPTABLES, args);
    expectOk(first);
    assert.match(first.stdout, /IPv4: 4 REDIRECT rule\(s\)/);
    assert.match(first.stdout, /IPv6: 4 REDIRECT rule\(s\)/);
    const v4 = await natRules(GW, 4);
    const v6 = await natRules(GW, 6);
    assert.deepEqual(prerouting(v4), [JUMP, FOREIGN], v4);
    assert.deepEqual(prerouting(v6), [JUMP, FOREIGN], v6);
    // port 80 before the LOCAL return (http://<gateway>/ is the onboarding page), 443 only through the gateway
    assert.deepEqual(chainRules(v4), [
      `-A GOMODGATE -i ${GW_IF} -p tcp -m tcp --dport 80 -j REDIRECT --to-ports 8080`,
      '-A GOMODGATE -s 10.231.0.0/16 -p tcp -m tcp --dport 80 -j REDIRECT --to-ports 8080',
      '-A GOMODGATE -m addrtype --dst-type LOCAL -j RETURN',
      `-A GOMODGATE -i ${GW_IF} -p tcp -m tcp --dport 443 -j REDIRECT --to-ports 8443`,
      '-A GOMODGATE -s 10.231.0.0/16 -p tcp -m tcp --dport 443 -j REDIRECT --to-ports 8443',
    ]);
    assert.deepEqual(chainRules(v6), [
      `-A GOMODGATE -i ${GW_IF} -p tcp -m tcp --dport 80 -j REDIRECT --to-ports 8080`,
      `-A GOMODGATE -s ${LAN6} -p tcp -m tcp --dport 80 -j REDIRECT --to-ports 8080`,
      '-A GOMODGATE -m addrtype --dst-type LOCAL -j RETURN',
      `-A GOMODGATE -i ${GW_IF} -p tcp -m tcp --dport 443 -j REDIRECT --to-ports 8443`,
      `-A GOMODGATE -s ${LAN6} -p tcp -m tcp --dport 443 -j REDIRECT --to-ports 8443`,
    ]);
    const before = await natBoth(GW);
    expectOk(await bash(GW, INSTALL_IPTABLES, args));
    assert.equal(await natBoth(GW), before, 'the second run changed the rules');
  });

  it('converges to new arguments: old selectors and port 80 go; a family without selectors is left as it was', async () => {
    const v6Before = await natRules(GW, 6);
    assert.equal(chainRules(v6Before).length, 5, v6Before);
    const res = await bash(GW, INSTALL_IPTABLES, ['--lan-cidr', LAN4, '--tls-port', '9443', '--http-port', '0']);
    expectOk(res);
    assert.match(res.stdout, /IPv6: no IPv6 selector given: left as it was \(4 REDIRECT rule\(s\) from an earlier run; uninstall-iptables\.sh --family 6 removes them\)/);
    const v4 = await natRules(GW, 4);
    assert.deepEqual(chainRules(v4), [
      '-A GOMODGATE -m addrtype --dst-type LOCAL -j RETURN',
      `-A GOMODGATE -s ${LAN4} -p tcp -m tcp --dport 443 -j REDIRECT --to-ports 9443`,
    ]);
    assert.deepEqual(prerouting(v4), [JUMP, FOREIGN]);
    // no IPv6 selector this time: the IPv6 rules of the earlier run stay exactly as they were
    assert.equal(await natRules(GW, 6), v6Before);
    // and the other way round: only an IPv6 --lan-cidr replaces the IPv6 rules and leaves IPv4 alone
    expectOk(await bash(GW, INSTALL_IPTABLES, ['--lan-cidr', LAN6, '--tls-port', '9443', '--http-port', '0']));
    assert.equal(await natRules(GW, 4), v4);
    assert.deepEqual(chainRules(await natRules(GW, 6)), [
      '-A GOMODGATE -m addrtype --dst-type LOCAL -j RETURN',
      `-A GOMODGATE -s ${LAN6} -p tcp -m tcp --dport 443 -j REDIRECT --to-ports 9443`,
    ]);
    // one family is removed on request only
    expectOk(await bash(GW, UNINSTALL_IPTABLES, ['--family', '6']));
    const v6 = await natRules(GW, 6);
    assert.deepEqual(prerouting(v6), [FOREIGN]);
    assert.ok(!v6.includes('GOMODGATE'), v6);
    assert.equal(await natRules(GW, 4), v4);
    expectUsageError(await bash(GW, UNINSTALL_IPTABLES, ['--family', '5']), /--family needs 4 or 6/);
  });

  it('redirects LAN connections to ports 443 and 80, over IPv4 and IPv6, and nothing else', async () => {
    expectOk(await bash(GW, INSTALL_IPTABLES, ['--lan-if', GW_IF]));
    assert.equal(await connectFrom(CL, REMOTE4, 443), 'gw:8443');
    assert.equal(await connectFrom(CL, REMOTE4, 80), 'gw:8080');
    assert.equal(await connectFrom(CL, REMOTE6, 443), 'gw:8443');
    assert.equal(await connectFrom(CL, REMOTE6, 80), 'gw:8080');
    // another port is not redirected (the gateway does not forward: it never arrives anywhere)
    assert.notEqual(await connectFrom(CL, REMOTE4, 8443 + 1), 'gw:8443');
    // a connection to the gateway's own address is not redirected: nothing listens on the gateway's port 443
    assert.equal(await connectFrom(CL, GW4, 443), 'ECONNREFUSED');
    assert.equal(await connectFrom(CL, GW6, 443), 'ECONNREFUSED');
    assert.equal(await connectFrom(CL, GW4, 8443), 'gw:8443'); // (the listener itself is reachable)
    // but http://<gateway>/ is: it is gomodgate's onboarding page
    assert.equal(await connectFrom(CL, GW4, 80), 'gw:8080');
    assert.equal(await connectFrom(CL, GW6, 80), 'gw:8080');
    // --no-onboarding leaves the gateway's own port 80 alone
    expectOk(await bash(GW, INSTALL_IPTABLES, ['--lan-if', GW_IF, '--no-onboarding']));
    assert.equal(await connectFrom(CL, GW4, 80), 'ECONNREFUSED');
    assert.equal(await connectFrom(CL, REMOTE4, 80), 'gw:8080', 'LAN port 80 through the gateway is still redirected');
    // the gateway's own outgoing traffic never passes PREROUTING: it is not redirected to itself
    const own = await connectFrom(GW, REMOTE4, 443);
    assert.notEqual(own, 'gw:8443');
    assert.equal(own, 'ENETUNREACH');
  });

  it('uninstall removes exactly what install added; twice is fine; redirection stops', async () => {
    expectOk(await bash(GW, INSTALL_IPTABLES, ['--lan-if', GW_IF, '--lan-cidr', LAN4, '--lan-cidr', LAN6]));
    const res = await bash(GW, UNINSTALL_IPTABLES, []);
    expectOk(res);
    const after = await natBoth(GW);
    assert.equal(after, pristine);
    assert.ok(!/gomodgate/i.test(after), after);
    expectOk(await bash(GW, UNINSTALL_IPTABLES, []));
    assert.equal(await natBoth(GW), pristine);
    assert.notEqual(await connectFrom(CL, REMOTE4, 443), 'gw:8443');
  });

  it('--no-ipv6 leaves ip6tables alone, in install and uninstall', async () => {
    expectOk(await bash(GW, INSTALL_IPTABLES, ['--lan-if', GW_IF]));
    const v6 = await natRules(GW, 6);
    assert.deepEqual(prerouting(v6), [JUMP, FOREIGN]);
    // reinstall for IPv4 only: the IPv6 rules from before stay as they are
    expectOk(await bash(GW, INSTALL_IPTABLES, ['--lan-cidr', LAN4, '--no-ipv6']));
    assert.equal(await natRules(GW, 6), v6);
    assert.deepEqual(chainRules(await natRules(GW, 4)).length, 3);
    expectOk(await bash(GW, UNINSTALL_IPTABLES, ['--no-ipv6']));
    assert.equal(await natRules(GW, 6), v6);
    assert.ok(!(await natRules(GW, 4)).includes('GOMODGATE'));
    expectOk(await bash(GW, UNINSTALL_IPTABLES, []));
    assert.equal(await natBoth(GW), pristine);
  });

  it('uninstall refuses to remove the chain while a rule it did not add still uses it, and says which', async () => {
    expectOk(await bash(GW, INSTALL_IPTABLES, ['--lan-if', GW_IF, '--no-ipv6']));
    await netfilter(GW, 4, ['-t', 'nat', '-A', 'OUTPUT', '-p', 'tcp', '-d', '198.51.100.1', '-j', 'GOMODGATE']);
    const refused = await bash(GW, UNINSTALL_IPTABLES, ['--no-ipv6']);
    assert.equal(refused.code, 1, describeResult(refused));
    assert.match(refused.stderr, /-A OUTPUT -d 198\.51\.100\.1\/32 -p tcp -j GOMODGATE/);
    assert.ok(!prerouting(await natRules(GW, 4)).includes(JUMP), 'our own jump is removed first');
    await netfilter(GW, 4, ['-t', 'nat', '-D', 'OUTPUT', '-p', 'tcp', '-d', '198.51.100.1', '-j', 'GOMODGATE']);
    expectOk(await bash(GW, UNINSTALL_IPTABLES, ['--no-ipv6']));
    assert.equal(await natBoth(GW), pristine);
  });

  it('a foreign rule in one family keeps only that family\'s chain: the other is removed, and our own jump is never named', async () => {
    expectOk(await bash(GW, INSTALL_IPTABLES, ['--lan-if', GW_IF]));
    assert.match(await natRules(GW, 6), /GOMODGATE/);
    await netfilter(GW, 4, ['-t', 'nat', '-A', 'OUTPUT', '-p', 'tcp', '-d', '198.51.100.1', '-j', 'GOMODGATE']);
    const refused = await bash(GW, UNINSTALL_IPTABLES, []);
    assert.equal(refused.code, 1, describeResult(refused));
    assert.match(refused.stderr, /-A OUTPUT -d 198\.51\.100\.1\/32 -p tcp -j GOMODGATE/);
    assert.ok(!refused.stderr.includes(JUMP), `our own jump is not a rule to remove by hand:\n${refused.stderr}`);
    assert.doesNotMatch(await natRules(GW, 6), /GOMODGATE/, 'IPv6 is removed although IPv4 could not be');
    await netfilter(GW, 4, ['-t', 'nat', '-D', 'OUTPUT', '-p', 'tcp', '-d', '198.51.100.1', '-j', 'GOMODGATE']);
    expectOk(await bash(GW, UNINSTALL_IPTABLES, []));
    assert.equal(await natBoth(GW), pristine);
  });
});

// ---------------------------------------------------------------------------------------------------------------

const NODE_DIR = dirname(process.execPath);
const INSTALL_ENV: NodeJS.ProcessEnv = { PATH: `${NODE_DIR}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`, LANG: 'C' };
const systemdAnalyze = spawnSync('sh', ['-c', 'command -v systemd-analyze']).status === 0;

function installSh(args: string[]): Promise<CommandResult> {
  return run(['bash', INSTALL, ...args], { env: INSTALL_ENV, timeoutMs: 120_000 });
}

function listTree(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string, rel: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      out.push(join(rel, e.name));
      if (e.isDirectory()) walk(join(d, e.name), join(rel, e.name));
    }
  };
  walk(dir, '');
  return out.sort();
}

/**
 * The checkout as install.sh's --prefix. install.sh refuses prefixes the unit's sandbox hides (/tmp, /home, ...);
 * when this checkout lives there (a CI clone in /tmp), a symlink under /opt stands in for it.
 */
function usablePrefix(): { prefix: string; cleanup: () => void } {
  if (!/^\/(home|root|tmp|var\/tmp|run\/user)\//.test(`${REPO_ROOT}/`)) return { prefix: REPO_ROOT, cleanup: () => undefined };
  const link = `/opt/${PREFIX}-checkout-${process.pid}`;
  rmSync(link, { force: true });
  symlinkSync(REPO_ROOT, link);
  return { prefix: link, cleanup: () => rmSync(link, { force: true }) };
}

describe('scripts/install.sh (--dry-run and a throwaway --root only)', { timeout: 3 * 60_000 }, () => {
  let root: string;
  let CHECKOUT = REPO_ROOT;
  let dropPrefix = () => undefined as void;
  const builtCheckout = existsSync(join(REPO_ROOT, 'dist/src/cli/main.js')) && existsSync(join(REPO_ROOT, 'node_modules'));

  before(() => {
    root = mkdtempSync(join(tmpdir(), `${PREFIX}-root-`));
    if (process.getuid?.() === 0) {
      for (const stale of readdirSync('/opt').filter((n) => n.startsWith(`${PREFIX}-checkout-`))) rmSync(join('/opt', stale), { force: true });
      const p = usablePrefix();
      CHECKOUT = p.prefix;
      dropPrefix = p.cleanup;
    }
  });

  after(() => {
    if (root) rmSync(root, { recursive: true, force: true });
    dropPrefix();
  });

  it('--help describes the options and exits 0', async () => {
    const res = await installSh(['--help']);
    expectOk(res);
    for (const opt of ['--prefix', '--dry-run', '--root']) assert.ok(res.stdout.includes(opt), opt);
  });

  it('refuses what the service could not run, with exit 2 (usage) or 1', async () => {
    expectUsageError(await installSh(['--prefix', '/home/someone/gomodgate', '--root', root]), /hidden from the service/);
    expectUsageError(await installSh(['--prefix', 'relative/dir', '--root', root]), /absolute path/);
    expectUsageError(await installSh(['--prefix', '/opt/go mod gate', '--root', root]), /may contain only/);
    expectUsageError(await installSh(['--prefix', CHECKOUT, '--root', join(root, 'missing')]), /not a directory/);
    expectUsageError(await installSh(['--bogus']), /unknown argument "--bogus"/);
    const notCheckout = await installSh(['--prefix', '/var/empty-gomodgate-prefix', '--root', root]);
    assert.equal(notCheckout.code, 1, describeResult(notCheckout));
    assert.match(notCheckout.stderr, /bin\/gomodgate\.js not found/);
    assert.deepEqual(listTree(root), []);
  });

  it('--dry-run changes nothing, under --root and on this machine', async (t) => {
    if (!builtCheckout) return t.skip('the checkout is not built (npm ci)');
    const dry = await installSh(['--dry-run', '--root', root, '--prefix', CHECKOUT]);
    expectOk(dry);
    assert.match(dry.stdout, /^\+ install -m 0640 \S+\/systemd\/gomodgate\.yaml \S+\/etc\/gomodgate\/gomodgate\.yaml$/m);
    assert.match(dry.stdout, /ca init --config/);
    assert.deepEqual(listTree(root), []);
    // the real system: only read (the user, the files), never written
    const watched = ['/etc/gomodgate', '/etc/systemd/system/gomodgate.service', '/var/lib/gomodgate'];
    const existed = watched.map((p) => existsSync(p));
    const userBefore = spawnSync('getent', ['passwd', 'gomodgate']).status;
    const real = await installSh(['--dry-run', '--prefix', CHECKOUT]);
    expectOk(real);
    assert.match(real.stdout, /Dry run: nothing was changed/);
    if (userBefore !== 0) assert.match(real.stdout, /^\+ useradd --system .* gomodgate$/m);
    assert.deepEqual(watched.map((p) => existsSync(p)), existed);
    assert.equal(spawnSync('getent', ['passwd', 'gomodgate']).status, userBefore);
  });

  it('--root installs the config, the unit pointing at this node and checkout, and the CA; a second run keeps them', async (t) => {
    if (!builtCheckout) return t.skip('the checkout is not built (npm ci)');
    const res = await installSh(['--root', root, '--prefix', CHECKOUT]);
    expectOk(res);
    const config = join(root, 'etc/gomodgate/gomodgate.yaml');
    const unit = join(root, 'etc/systemd/system/gomodgate.service');
    const caCert = join(root, 'var/lib/gomodgate/certs/certs/ca.pem');
    const caKey = join(root, 'var/lib/gomodgate/certs/keys/ca.private.key');
    assert.equal(readFileSync(config, 'utf8'), readFileSync(join(REPO_ROOT, 'systemd/gomodgate.yaml'), 'utf8'));
    assert.equal(statSync(config).mode & 0o777, 0o640);
    assert.equal(statSync(join(root, 'etc/gomodgate')).mode & 0o777, 0o750);
    assert.equal(statSync(join(root, 'var/lib/gomodgate')).mode & 0o777, 0o750);
    const unitText = readFileSync(unit, 'utf8');
    const node = realpathSync(process.execPath);
    assert.match(unitText, new RegExp(`^ExecStart=${node} ${CHECKOUT}/bin/gomodgate\\.js serve --config /etc/gomodgate/gomodgate\\.yaml$`, 'm'));
    assert.ok(!unitText.includes('/opt/gomodgate'), 'every /opt/gomodgate is replaced by the prefix');
    assert.equal(
      unitText.replaceAll(CHECKOUT, '/opt/gomodgate').replace(`ExecStart=${node} `, 'ExecStart=/usr/bin/node '),
      readFileSync(join(REPO_ROOT, 'systemd/gomodgate.service'), 'utf8'),
      'the unit is installed with only its paths changed',
    );
    const ca = new X509Certificate(readFileSync(caCert));
    assert.equal(ca.ca, true);
    assert.equal(statSync(caKey).mode & 0o777, 0o600);
    assert.ok(res.stdout.includes(caCert), `the CA path is printed:\n${res.stdout}`);
    assert.match(res.stdout, /systemctl enable --now gomodgate/);

    if (systemdAnalyze) {
      const verify = spawnSync('systemd-analyze', ['verify', unit], { encoding: 'utf8', timeout: 60_000 });
      assert.equal(verify.status, 0, verify.stderr);
      assert.deepEqual(verify.stderr.split('\n').filter((l) => l.includes('gomodgate')), [], verify.stderr);
    }

    // a second run: the edited config and the CA stay as they are, the unit is up to date
    appendFileSync(config, '# changed by the admin\n');
    const configBefore = readFileSync(config, 'utf8');
    const fingerprint = ca.fingerprint256;
    const again = await installSh(['--root', root, '--prefix', CHECKOUT]);
    expectOk(again);
    assert.equal(readFileSync(config, 'utf8'), configBefore);
    assert.equal(new X509Certificate(readFileSync(caCert)).fingerprint256, fingerprint);
    assert.match(again.stdout, /config: kept/);
    assert.match(again.stdout, /is up to date/);
    assert.match(again.stdout, /CA: exists/);
    const hash = createHash('sha256').update(readFileSync(unit)).digest('hex');
    assert.equal(createHash('sha256').update(unitText).digest('hex'), hash);
  });

  it('refuses an unbuilt checkout, and a prefix the sandbox hides', async () => {
    // a directory the sandbox would not hide (not /tmp, /var/tmp, /home, /root)
    const base = process.getuid?.() === 0 && existsSync('/run') ? '/run' : join(REPO_ROOT, 'dist');
    const fake = mkdtempSync(join(base, `${PREFIX}-prefix-`));
    try {
      mkdirSync(join(fake, 'bin'));
      appendFileSync(join(fake, 'bin/gomodgate.js'), '');
      const unbuilt = await installSh(['--prefix', fake, '--root', root]);
      assert.equal(unbuilt.code, 1, describeResult(unbuilt));
      assert.match(unbuilt.stderr, /is not built: run `npm ci` in/);
      // /var/tmp is private to the service (PrivateTmp=)
      expectUsageError(await installSh(['--prefix', '/var/tmp/gomodgate', '--root', root]), /hidden from the service/);
    } finally {
      rmSync(fake, { recursive: true, force: true });
    }
  });
});

describe('scripts/install-test-deps.sh: --help, --dry-run and a bad argument run no apt-get', () => {
  let fakeBin: string;
  let calls: string;

  before(() => {
    // apt-get, sudo and go that only write down that they were called
    fakeBin = mkdtempSync(join(tmpdir(), `${PREFIX}-fake-apt-`));
    calls = join(fakeBin, 'calls.log');
    for (const tool of ['apt-get', 'sudo', 'go']) writeFileSync(join(fakeBin, tool), `#!/bin/sh\necho "${tool} $*" >> ${calls}\n`, { mode: 0o755 });
  });

  after(() => rmSync(fakeBin, { recursive: true, force: true }));

  const testDeps = (args: string[]) => {
    const res = spawnSync('bash', [INSTALL_TEST_DEPS, ...args], { encoding: 'utf8', env: { ...process.env, PATH: `${fakeBin}:${process.env.PATH}` }, timeout: 60_000 });
    return { code: res.status ?? -1, stdout: res.stdout, stderr: res.stderr };
  };
  const called = () => (existsSync(calls) ? readFileSync(calls, 'utf8') : '');

  it('--help prints the usage and exits 0', () => {
    const res = testDeps(['--help']);
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stdout, /^Usage: install-test-deps\.sh \[--dry-run\]$/m);
    assert.match(res.stdout, /--dry-run/);
    assert.equal(called(), '');
  });

  it('--dry-run prints the apt-get commands and runs none', () => {
    const res = testDeps(['--dry-run']);
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stdout, /^apt-get update -qq$/m);
    assert.match(res.stdout, /^apt-get install -y -qq --no-install-recommends golang-go .*chromium/m);
    assert.equal(called(), '');
  });

  it('an unknown argument exits 2 with the reason', () => {
    const res = testDeps(['--bogus']);
    assert.equal(res.code, 2);
    assert.equal(res.stderr.split('\n')[0], 'install-test-deps.sh: unknown argument "--bogus"');
    assert.equal(called(), '');
  });

  it('without arguments it does run apt-get (so the fakes above would have seen a call)', () => {
    const res = testDeps([]);
    assert.equal(res.code, 0, res.stderr);
    assert.match(called(), process.getuid?.() === 0 ? /^apt-get update -qq\napt-get install /m : /^sudo -- bash /m);
    rmSync(calls, { force: true });
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Failing open, and not redirecting to a closed port: three namespaces, a LAN client, the gateway (forwarding)
// and a remote host with a real port-443 server, so "bypassed" can be told apart from "refused" and
// "intercepted". The gateway's listener (what gomodgate would be) is started and stopped by the test; the
// unit's ExecStartPost=/ExecStopPost= are run as written in the drop-in that --fail-open produces.

const FO = 'gmgfo';
const FO_GW = `${FO}-gw`;
const FO_CL = `${FO}-cl`;
const FO_RM = `${FO}-rm`;
const FO_LAN = `${FO}-lan`; // gateway, LAN side
const FO_CLI = `${FO}-cli`;
const FO_WAN = `${FO}-wan`; // gateway, uplink
const FO_RMI = `${FO}-rmi`;
const FO_GW4 = '10.232.77.1';
const FO_CL4 = '10.232.77.2';
const FO_GW6 = 'fd00:232:77::1';
const FO_CL6 = 'fd00:232:77::2';
const FO_WAN4 = '198.18.232.1'; // benchmark range: not private, like a real uplink
const FO_RM4 = '198.18.232.2';
const FO_WAN6 = '2001:db8:232::1';
const FO_RM6 = '2001:db8:232::2';
const FO_STATE = join(tmpdir(), `${FO}-state`);

/** The commands of a drop-in's ExecStartPost= / ExecStopPost= lines, without systemd's "-+" prefixes. */
function dropinCommands(text: string, key: 'ExecStartPost' | 'ExecStopPost'): string[][] {
  return text
    .split('\n')
    .filter((l) => l.startsWith(`${key}=`))
    .map((l) => l.slice(key.length + 1).replace(/^[-+@:!]+/, '').split(/\s+/).filter(Boolean));
}

describe('failing open and refusing to redirect to a closed port (namespaces gmgfo-*)', { skip, timeout: 5 * 60_000 }, () => {
  let remote: NamespaceProcess | undefined;
  let gateway: NamespaceProcess | undefined;
  let systemdDir = '';
  let pristine = '';
  /** What gomodgate would be: its TLS and HTTP listeners on `listen` (serve's --listen), saying which port they are. */
  const startGateway = async (listen = '::') => {
    gateway = spawnInNamespace(
      FO_GW,
      [process.execPath, '-e', `const net = require('node:net');
         for (const p of [8443, 8080]) net.createServer((s) => s.end('gw:' + p + '\\n')).listen(p, ${JSON.stringify(listen)}, () => console.log('listening ' + p));`],
      { name: 'gateway-listener', stateDir: FO_STATE },
    );
    for (const p of [8443, 8080]) await gateway.waitForLine((l) => l === `listening ${p}`, 15_000);
  };
  const stopGateway = async () => {
    await gateway?.stop();
    gateway = undefined;
  };

  before(async () => {
    await killStaleProcesses(FO_STATE);
    await deleteNamespacesWithPrefix(`${FO}-`);
    rmSync(FO_STATE, { recursive: true, force: true });
    for (const ns of [FO_GW, FO_CL, FO_RM]) await createNamespace(ns);
    await createVethPair({ ns: FO_GW, ifname: FO_LAN }, { ns: FO_CL, ifname: FO_CLI });
    await createVethPair({ ns: FO_GW, ifname: FO_WAN }, { ns: FO_RM, ifname: FO_RMI });
    await addAddress(FO_GW, FO_LAN, `${FO_GW4}/24`);
    await addAddress(FO_GW, FO_LAN, `${FO_GW6}/64`);
    await addAddress(FO_CL, FO_CLI, `${FO_CL4}/24`);
    await addAddress(FO_CL, FO_CLI, `${FO_CL6}/64`);
    await addAddress(FO_GW, FO_WAN, `${FO_WAN4}/24`);
    await addAddress(FO_GW, FO_WAN, `${FO_WAN6}/64`);
    await addAddress(FO_RM, FO_RMI, `${FO_RM4}/24`);
    await addAddress(FO_RM, FO_RMI, `${FO_RM6}/64`);
    await addDefaultRoute(FO_CL, FO_GW4);
    await addDefaultRoute(FO_CL, FO_GW6);
    await addDefaultRoute(FO_GW, FO_RM4); // the uplink
    await addDefaultRoute(FO_GW, FO_RM6);
    await addDefaultRoute(FO_RM, FO_WAN4);
    await addDefaultRoute(FO_RM, FO_WAN6);
    await runInNamespace(FO_GW, ['sysctl', '-q', '-w', 'net.ipv4.ip_forward=1']).then(expectOk);
    await runInNamespace(FO_GW, ['sysctl', '-q', '-w', 'net.ipv6.conf.all.forwarding=1']).then(expectOk);
    remote = spawnInNamespace(
      FO_RM,
      [process.execPath, '-e', `require('node:net').createServer((s) => s.end('remote:443\\n')).listen(443, '::', () => console.log('listening'));`],
      { name: 'remote-443', stateDir: FO_STATE },
    );
    await remote.waitForLine((l) => l === 'listening', 15_000);
    systemdDir = mkdtempSync(join(tmpdir(), `${FO}-systemd-`));
    pristine = await natBoth(FO_GW);
    // the world works without the gateway: LAN port 443 reaches the remote host, IPv4 and IPv6
    assert.equal(await connectFrom(FO_CL, FO_RM4, 443), 'remote:443');
    assert.equal(await connectFrom(FO_CL, FO_RM6, 443), 'remote:443');
  });

  after(async () => {
    await stopGateway();
    await remote?.stop();
    await deleteNamespacesWithPrefix(`${FO}-`);
    rmSync(FO_STATE, { recursive: true, force: true });
    if (systemdDir) rmSync(systemdDir, { recursive: true, force: true });
  });

  it('refuses to redirect to a port nothing listens on, unless --force (then LAN HTTPS is refused)', async () => {
    const refused = await bash(FO_GW, INSTALL_IPTABLES, ['--lan-if', FO_LAN]);
    assert.equal(refused.code, 1, describeResult(refused));
    assert.match(refused.stderr, /nothing listens on port 8443 \(--tls-port\) here: .*Start gomodgate first .*--fail-open .*--force/);
    assert.equal(await natBoth(FO_GW), pristine);
    assert.equal(await connectFrom(FO_CL, FO_RM4, 443), 'remote:443');

    const forced = await bash(FO_GW, INSTALL_IPTABLES, ['--lan-if', FO_LAN, '--force']);
    expectOk(forced);
    assert.match(forced.stderr, /warning: nothing listens on port 8080/);
    // fail closed: the redirect goes to a closed port
    assert.equal(await connectFrom(FO_CL, FO_RM4, 443), 'ECONNREFUSED');
    assert.equal(await connectFrom(FO_CL, FO_RM6, 443), 'ECONNREFUSED');
    await startGateway();
    try {
      assert.equal(await connectFrom(FO_CL, FO_RM4, 443), 'gw:8443');
      // with a listener, no --force is needed
      expectOk(await bash(FO_GW, INSTALL_IPTABLES, ['--lan-if', FO_LAN]));
    } finally {
      await stopGateway();
    }
    expectOk(await bash(FO_GW, UNINSTALL_IPTABLES, []));
    assert.equal(await natBoth(FO_GW), pristine);
  });

  it('refuses when gomodgate listens only where redirected connections never arrive (--listen 127.0.0.1, another interface)', async () => {
    for (const [listen, shown] of [['127.0.0.1', '127.0.0.1'], ['::1', '::1'], [FO_WAN4, FO_WAN4]] as const) {
      await startGateway(listen);
      try {
        const refused = await bash(FO_GW, INSTALL_IPTABLES, ['--lan-if', FO_LAN]);
        assert.equal(refused.code, 1, describeResult(refused));
        assert.equal(
          refused.stderr,
          `install-iptables.sh: gomodgate listens on port 8443 (--tls-port) only at ${shown}: redirected LAN connections go to the address of ${FO_LAN}, the interface they arrive on, so every one would be refused. Restart gomodgate listening on every address (--listen ::, or listen: "::" in the config file: the default), or use --force\n`,
        );
        assert.equal(await natBoth(FO_GW), pristine, listen);
        assert.equal(await connectFrom(FO_CL, FO_RM4, 443), 'remote:443', listen);
      } finally {
        await stopGateway();
      }
    }
    // the HTTP port too, when port 80 is redirected
    await startGateway('127.0.0.1');
    const loopbackHttp = spawnInNamespace(FO_GW, [process.execPath, '-e', `require('node:net').createServer((s) => s.end('gw:9443\\n')).listen(9443, '::', () => console.log('listening'));`], {
      name: 'tls-on-every-address',
      stateDir: FO_STATE,
    });
    try {
      await loopbackHttp.waitForLine((l) => l === 'listening', 15_000);
      const http = await bash(FO_GW, INSTALL_IPTABLES, ['--lan-if', FO_LAN, '--tls-port', '9443']);
      assert.equal(http.code, 1, describeResult(http));
      assert.match(http.stderr, /listens on port 8080 \(--http-port\) only at 127\.0\.0\.1: /);
      assert.equal(await natBoth(FO_GW), pristine);
      expectOk(await bash(FO_GW, INSTALL_IPTABLES, ['--lan-if', FO_LAN, '--tls-port', '9443', '--http-port', '0']));
      assert.equal(await connectFrom(FO_CL, FO_RM4, 443), 'gw:9443');
      // --force: the rules go in, and LAN port 80 is refused as the message said
      expectOk(await bash(FO_GW, INSTALL_IPTABLES, ['--lan-if', FO_LAN, '--tls-port', '9443', '--force']));
      assert.equal(await connectFrom(FO_CL, FO_RM4, 80), 'ECONNREFUSED');
    } finally {
      await loopbackHttp.stop();
      await stopGateway();
    }
    expectOk(await bash(FO_GW, UNINSTALL_IPTABLES, []));
    // the LAN interface's own address is where REDIRECT delivers: accepted
    await startGateway(FO_GW4);
    try {
      expectOk(await bash(FO_GW, INSTALL_IPTABLES, ['--lan-if', FO_LAN, '--no-ipv6']));
      assert.equal(await connectFrom(FO_CL, FO_RM4, 443), 'gw:8443');
    } finally {
      await stopGateway();
    }
    expectOk(await bash(FO_GW, UNINSTALL_IPTABLES, []));
    assert.equal(await natBoth(FO_GW), pristine);
  });

  it('--fail-open: gateway down → LAN port 443 reaches its destination untouched; up → intercepted; down again → untouched', async () => {
    const args = ['--lan-if', FO_LAN, '--fail-open', '--systemd-dir', systemdDir];
    const dry = await bash(FO_GW, INSTALL_IPTABLES, [...args, '--dry-run']);
    expectOk(dry);
    assert.match(dry.stdout, /would write .*gomodgate\.service\.d\/50-redirect-fail-open\.conf/);
    assert.ok(!existsSync(join(systemdDir, 'gomodgate.service.d')), 'the dry run wrote the drop-in');

    // the service is down: the drop-in is written, no rule is added
    const first = await bash(FO_GW, INSTALL_IPTABLES, args);
    expectOk(first);
    assert.match(first.stdout, /does not listen on port 8443 now: no rules added/);
    const dropin = readFileSync(join(systemdDir, 'gomodgate.service.d/50-redirect-fail-open.conf'), 'utf8');
    assert.match(dropin, /^\[Service\]$/m);
    assert.match(dropin, new RegExp(`^ExecStartPost=-\\+${INSTALL_IPTABLES} --from-unit --lan-if ${FO_LAN} --tls-port 8443 --http-port 8080$`, 'm'));
    assert.match(dropin, new RegExp(`^ExecStopPost=-\\+${UNINSTALL_IPTABLES}$`, 'm'));
    assert.equal(await natBoth(FO_GW), pristine);
    assert.equal(await connectFrom(FO_CL, FO_RM4, 443), 'remote:443');
    assert.equal(await connectFrom(FO_CL, FO_RM6, 443), 'remote:443');

    const [startPost] = dropinCommands(dropin, 'ExecStartPost');
    const [stopPost] = dropinCommands(dropin, 'ExecStopPost');
    assert.ok(startPost && stopPost, dropin);
    for (let round = 1; round <= 2; round++) {
      // systemd: the service is ready → ExecStartPost
      await startGateway();
      expectOk(await runInNamespace(FO_GW, startPost, { timeoutMs: 60_000 }));
      assert.equal(await connectFrom(FO_CL, FO_RM4, 443), 'gw:8443', `round ${round}`);
      assert.equal(await connectFrom(FO_CL, FO_RM6, 443), 'gw:8443', `round ${round}`);
      assert.equal(await connectFrom(FO_CL, FO_RM4, 80), 'gw:8080', `round ${round}`);
      // the process dies (a crash or a stop) → ExecStopPost
      await stopGateway();
      expectOk(await runInNamespace(FO_GW, stopPost, { timeoutMs: 60_000 }));
      assert.equal(await natBoth(FO_GW), pristine, `round ${round}`);
      assert.equal(await connectFrom(FO_CL, FO_RM4, 443), 'remote:443', `round ${round}`);
      assert.equal(await connectFrom(FO_CL, FO_RM6, 443), 'remote:443', `round ${round}`);
    }

    // run while gomodgate is up: the rules are added at once, and the drop-in is unchanged
    await startGateway();
    try {
      const again = await bash(FO_GW, INSTALL_IPTABLES, args);
      expectOk(again);
      assert.match(again.stdout, /is up to date/);
      assert.equal(await connectFrom(FO_CL, FO_RM4, 443), 'gw:8443');
      // a later run without --fail-open says that the drop-in still decides
      const plain = await bash(FO_GW, INSTALL_IPTABLES, ['--lan-if', FO_LAN, '--systemd-dir', systemdDir]);
      expectOk(plain);
      assert.match(plain.stderr, /50-redirect-fail-open\.conf exists/);
    } finally {
      await stopGateway();
    }
    expectOk(await bash(FO_GW, UNINSTALL_IPTABLES, []));
    assert.equal(await natBoth(FO_GW), pristine);
  });

  it('install.sh --dry-run works from a checkout under /tmp and names only interfaces that exist, the LAN one first', async () => {
    const link = join(tmpdir(), `${FO}-checkout-${process.pid}`);
    rmSync(link, { force: true });
    symlinkSync(REPO_ROOT, link);
    try {
      const res = await runInNamespace(FO_GW, ['bash', join(link, 'scripts/install.sh'), '--dry-run'], { env: INSTALL_ENV, timeoutMs: 120_000 });
      expectOk(res);
      assert.match(res.stderr, /a real run would refuse: --prefix \S+ is hidden from the service/);
      assert.match(res.stdout, /Dry run: nothing was changed/);
      assert.match(res.stdout, new RegExp(`^  ${FO_LAN} +\\S+ +${FO_GW4.replaceAll('.', '\\.')}/24 .*looks like the LAN$`, 'm'));
      assert.match(res.stdout, new RegExp(`^  ${FO_WAN} +.*default route: the uplink, not the LAN$`, 'm'));
      assert.match(res.stdout, new RegExp(`install-iptables\\.sh --lan-if ${FO_LAN} --fail-open$`, 'm'));
      // every interface it names exists in this namespace
      const names = await runInNamespace(FO_GW, ['ls', '/sys/class/net']);
      const present = new Set(names.stdout.split(/\s+/).filter(Boolean));
      for (const m of res.stdout.matchAll(/--lan-if (\S+)/g)) assert.ok(present.has(m[1]!), `names ${m[1]}, which does not exist here`);
      assert.ok(!/\beth1\b/.test(res.stdout) || present.has('eth1'), res.stdout);
    } finally {
      rmSync(link, { force: true });
    }
  });
});
