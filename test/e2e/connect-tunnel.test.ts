// End to end: the explicit proxy's CONNECT to a host it does not intercept (HTTPS_PROXY for any site) answers
// "200 Connection Established" only once the destination accepted the TCP connection, and otherwise says why:
// 502 when the destination refuses, 504 when it never answers (within 10 s). Before, the 200 came first
// and the client then saw its TLS handshake cut, with no reason. A real gomodgate child process in a gateway
// namespace, joined by a veth pair to a "far" namespace whose port 443 refuses (nothing listens) or drops
// (iptables DROP); one in the far namespace listens on 8443 for the tunnel that works. Needs root and iproute2.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  addAddress,
  createNamespace,
  createVethPair,
  deleteNamespacesWithPrefix,
  killStaleProcesses,
  netfilter,
  spawnInNamespace,
  type NamespaceProcess,
} from '../helpers/netns.js';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const PREFIX = 'gmgtun';
const GW = `${PREFIX}-gw`;
const FAR = `${PREFIX}-far`;
const GW4 = '10.231.78.1';
const REFUSING4 = '10.231.78.2'; // nothing listens on 443: the kernel answers with a reset
const DROPPING4 = '10.231.78.3'; // iptables drops every SYN to 443
const STATE_DIR = join(tmpdir(), `${PREFIX}-state`);
const PROXY_PORT = 13128;

function whySkip(): string | false {
  if (process.getuid?.() !== 0) return 'needs root (network namespaces, iptables)';
  for (const tool of ['ip', 'iptables']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) return `${tool} is not installed (Debian: apt-get install iproute2 iptables)`;
  }
  return false;
}
const skip = whySkip();

/** Sends a CONNECT from inside the gateway namespace; the answer's head, and whether the tunnel carried bytes. */
async function connectThrough(target: string): Promise<string> {
  const script = `
    const net = require('node:net');
    const s = net.connect(${PROXY_PORT}, '127.0.0.1', () => s.write('CONNECT ${target} HTTP/1.1\\r\\nHost: ${target}\\r\\n\\r\\n'));
    let got = '';
    s.on('data', (d) => { got += d; if (got.includes('\\r\\n\\r\\n') && got.startsWith('HTTP/1.1 200')) { s.write('ping'); } });
    s.on('error', () => {});
    s.on('close', () => { console.log(JSON.stringify(got)); });
    setTimeout(() => { console.log(JSON.stringify(got)); process.exit(0); }, 20000).unref();`;
  const res = spawnSync('ip', ['netns', 'exec', GW, process.execPath, '-e', script], { encoding: 'utf8', timeout: 30_000 });
  return JSON.parse(res.stdout.trim().split('\n')[0] ?? '""') as string;
}

describe('CONNECT to a host that is not intercepted', { skip, timeout: 3 * 60_000 }, () => {
  let gateway: NamespaceProcess | undefined;
  let echo: NamespaceProcess | undefined;

  before(async () => {
    await killStaleProcesses(STATE_DIR);
    await deleteNamespacesWithPrefix(PREFIX);
    rmSync(STATE_DIR, { recursive: true, force: true });
    await createNamespace(GW);
    await createNamespace(FAR);
    await createVethPair({ ns: GW, ifname: `${PREFIX}-a` }, { ns: FAR, ifname: `${PREFIX}-b` });
    await addAddress(GW, `${PREFIX}-a`, `${GW4}/24`);
    await addAddress(FAR, `${PREFIX}-b`, `${REFUSING4}/24`);
    await addAddress(FAR, `${PREFIX}-b`, `${DROPPING4}/24`);
    await netfilter(FAR, 4, ['-A', 'INPUT', '-p', 'tcp', '-d', DROPPING4, '--dport', '443', '-j', 'DROP']);
    // the tunnel that works: a far listener on 443 of the refusing address would make it not refuse, so a
    // second address answers on 443 through a REDIRECT to 8443
    await addAddress(FAR, `${PREFIX}-b`, '10.231.78.4/24');
    await netfilter(FAR, 4, ['-t', 'nat', '-A', 'PREROUTING', '-p', 'tcp', '-d', '10.231.78.4', '--dport', '443', '-j', 'REDIRECT', '--to-ports', '8443']);
    echo = spawnInNamespace(FAR, [process.execPath, '-e', "require('node:net').createServer((s) => s.on('data', (d) => s.end('pong:' + d))).listen(8443, () => console.log('listening'))"], { name: 'far-echo', stateDir: STATE_DIR });
    await echo.waitForLine((l) => l === 'listening', 15_000);
    gateway = spawnInNamespace(
      GW,
      [process.execPath, join(REPO_ROOT, 'bin/gomodgate.js'), 'serve', '--data-dir', join(STATE_DIR, 'data'), '--ca-dir', join(STATE_DIR, 'certs'),
        '--listen', '127.0.0.1', '--tls-port', '0', '--http-port', '0', '--proxy-port', String(PROXY_PORT), '--admin-port', '0',
        '--log-format', 'json'],
      { name: 'gomodgate', stateDir: STATE_DIR },
    );
    await gateway.waitForLine((l) => l.includes('gomodgate ready'), 30_000);
  });

  after(async () => {
    await gateway?.stop();
    await echo?.stop();
    await deleteNamespacesWithPrefix(PREFIX);
    rmSync(STATE_DIR, { recursive: true, force: true });
  });

  it('a destination that accepts: 200, then the tunnel carries the bytes both ways', async () => {
    const got = await connectThrough('10.231.78.4:443');
    assert.match(got, /^HTTP\/1\.1 200 Connection Established\r\n\r\n/, JSON.stringify(got));
    assert.match(got, /pong:ping$/, 'the bytes went through');
  });

  it('a destination that refuses: 502 with the reason, no 200', async () => {
    const got = await connectThrough(`${REFUSING4}:443`);
    assert.match(got, /^HTTP\/1\.1 502 /, JSON.stringify(got));
    assert.match(got, /cannot open a tunnel to 10\.231\.78\.2:443 from the gateway \(connect ECONNREFUSED/);
  });

  it('a destination that never answers: 504 after the connect timeout (10 s), no 200', async () => {
    const got = await connectThrough(`${DROPPING4}:443`);
    assert.match(got, /^HTTP\/1\.1 504 /, JSON.stringify(got));
    assert.match(got, /cannot open a tunnel to 10\.231\.78\.3:443 from the gateway \(connect timeout\)/);
  });
});
