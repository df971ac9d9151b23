// originalDestination against the real kernel: two network namespaces joined by a veth pair, the client's
// traffic routed through the server namespace, where iptables/ip6tables PREROUTING REDIRECT send it to our
// listeners (as on a gateway). The dialled addresses are documentation ones (192.0.2.10, 2001:db8::10):
// they exist nowhere, and no packet leaves the two namespaces.
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { originalDestination } from '../../src/intercept/original-destination.js';

const CLIENT_NS = 'gmgod-c';
const SERVER_NS = 'gmgod-s';
const DUAL_STACK_PORT = 8443; // listens on '::': IPv4 clients arrive as ::ffff:a.b.c.d
const IPV4_ONLY_PORT = 8444; // listens on '0.0.0.0': a native AF_INET socket
const MODULE_URL = new URL('../../src/intercept/original-destination.js', import.meta.url).href;

const isRoot = process.getuid?.() === 0;
const STEP_TIMEOUT_MS = 10_000;

let workDir: string | undefined;
let server: ChildProcess | undefined;

function run(cmd: string, args: string[]): void {
  execFileSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], timeout: STEP_TIMEOUT_MS });
}

function inNs(ns: string, cmd: string, ...args: string[]): void {
  run('ip', ['netns', 'exec', ns, cmd, ...args]);
}

function deleteNamespaces(): void {
  for (const ns of [CLIENT_NS, SERVER_NS]) {
    try {
      run('ip', ['netns', 'del', ns]);
    } catch {
      // not there
    }
  }
}

const SERVER_SCRIPT = `
import net from 'node:net';
const { originalDestination } = await import(process.argv[2]);
function describe(socket) {
  let destination, error;
  try { destination = originalDestination(socket); } catch (e) { error = String(e); }
  return { local: { address: socket.localAddress, port: socket.localPort }, destination, error };
}
function onConnection(socket) {
  socket.on('error', () => {});
  const first = describe(socket);
  socket.end(JSON.stringify(first), () => {
    socket.destroy();
    // A closed socket has no descriptor: the lookup must answer null, not throw.
    console.log(JSON.stringify({ afterClose: describe(socket).destination ?? null }));
  });
}
let listening = 0;
const ready = () => { if (++listening === 2) console.log('listening'); };
net.createServer(onConnection).listen({ host: '::', port: ${DUAL_STACK_PORT} }, ready);
net.createServer(onConnection).listen({ host: '0.0.0.0', port: ${IPV4_ONLY_PORT} }, ready);
setTimeout(() => process.exit(0), 60_000); // never outlive a test run that lost track of us
`;

const CLIENT_SCRIPT = `
import net from 'node:net';
const results = [];
for (const [host, port] of JSON.parse(process.argv[2])) {
  results.push(await new Promise((resolve) => {
    const socket = net.connect({ host, port });
    let data = '';
    socket.setTimeout(5000, () => { socket.destroy(); resolve({ error: 'timeout' }); });
    socket.on('data', (chunk) => (data += chunk));
    socket.on('end', () => { socket.destroy(); resolve(JSON.parse(data)); });
    socket.on('error', (e) => resolve({ error: e.code ?? String(e) }));
  }));
}
console.log(JSON.stringify(results));
`;

interface Observed {
  local?: { address: string; port: number };
  destination?: { address: string; port: number; family: number } | null;
  error?: string;
}

/** Runs the client script in a namespace, dialling each [host, port] in turn; what the server saw for each. */
function dialFrom(ns: string, targets: [string, number][]): Promise<Observed[]> {
  return new Promise((resolve, reject) => {
    execFile(
      'ip',
      ['netns', 'exec', ns, process.execPath, join(workDir!, 'client.mjs'), JSON.stringify(targets)],
      { timeout: 30_000 },
      (error, stdout, stderr) => {
        if (error) reject(new Error(`client failed: ${error.message}\n${stderr}`));
        else resolve(JSON.parse(stdout) as Observed[]);
      },
    );
  });
}

before(() => {
  if (!isRoot) return;
  deleteNamespaces();
  workDir = mkdtempSync(join(tmpdir(), 'gmgod-'));
  writeFileSync(join(workDir, 'server.mjs'), SERVER_SCRIPT);
  writeFileSync(join(workDir, 'client.mjs'), CLIENT_SCRIPT);

  run('ip', ['netns', 'add', SERVER_NS]);
  run('ip', ['netns', 'add', CLIENT_NS]);
  for (const ns of [SERVER_NS, CLIENT_NS]) {
    // No duplicate address detection: addresses are usable at once, no waiting for them to settle.
    inNs(ns, 'sysctl', '-qw', 'net.ipv6.conf.all.accept_dad=0', 'net.ipv6.conf.default.accept_dad=0');
    run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
  }
  run('ip', ['link', 'add', 'gmgod-veth-c', 'netns', CLIENT_NS, 'type', 'veth', 'peer', 'name', 'gmgod-veth-s', 'netns', SERVER_NS]);
  run('ip', ['-n', CLIENT_NS, 'addr', 'add', '198.18.0.2/24', 'dev', 'gmgod-veth-c']);
  run('ip', ['-n', SERVER_NS, 'addr', 'add', '198.18.0.1/24', 'dev', 'gmgod-veth-s']);
  run('ip', ['-n', CLIENT_NS, 'addr', 'add', 'fd00:6d67::2/64', 'dev', 'gmgod-veth-c', 'nodad']);
  run('ip', ['-n', SERVER_NS, 'addr', 'add', 'fd00:6d67::1/64', 'dev', 'gmgod-veth-s', 'nodad']);
  run('ip', ['-n', CLIENT_NS, 'link', 'set', 'gmgod-veth-c', 'up']);
  run('ip', ['-n', SERVER_NS, 'link', 'set', 'gmgod-veth-s', 'up']);
  // The server namespace is the client's gateway, as gomodgate would be.
  run('ip', ['-n', CLIENT_NS, 'route', 'add', 'default', 'via', '198.18.0.1']);
  run('ip', ['-n', CLIENT_NS, '-6', 'route', 'add', 'default', 'via', 'fd00:6d67::1']);

  const redirect = ['-t', 'nat', '-A', 'PREROUTING', '-i', 'gmgod-veth-s', '-p', 'tcp'];
  inNs(SERVER_NS, 'iptables', ...redirect, '-d', '192.0.2.10', '--dport', '443', '-j', 'REDIRECT', '--to-ports', `${DUAL_STACK_PORT}`);
  inNs(SERVER_NS, 'iptables', ...redirect, '-d', '192.0.2.10', '--dport', '80', '-j', 'REDIRECT', '--to-ports', `${IPV4_ONLY_PORT}`);
  inNs(SERVER_NS, 'ip6tables', ...redirect, '-d', '2001:db8::10', '--dport', '443', '-j', 'REDIRECT', '--to-ports', `${DUAL_STACK_PORT}`);
  // A local process redirected on its way out (the OUTPUT chain), as on a developer's own machine.
  inNs(SERVER_NS, 'iptables', '-t', 'nat', '-A', 'OUTPUT', '-p', 'tcp', '-d', '127.0.0.1', '--dport', '4443', '-j', 'REDIRECT', '--to-ports', `${DUAL_STACK_PORT}`);
});

let serverLines: string[] = [];

before(async () => {
  if (!isRoot) return;
  const child = spawn('ip', ['netns', 'exec', SERVER_NS, process.execPath, join(workDir!, 'server.mjs'), MODULE_URL], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  server = child;
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server not listening within ${STEP_TIMEOUT_MS} ms: ${stderr}`)), STEP_TIMEOUT_MS);
    let buffered = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop()!;
      for (const line of lines) {
        if (line === 'listening') {
          clearTimeout(timer);
          resolve();
        } else serverLines.push(line);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code}: ${stderr}`));
    });
  });
});

after(() => {
  if (server !== undefined && server.exitCode === null) server.kill();
  if (isRoot) deleteNamespaces();
  if (workDir !== undefined) rmSync(workDir, { recursive: true, force: true });
});

test('IPv4 redirected in PREROUTING: the dialled address and port, on dual-stack and IPv4-only listeners', { timeout: 60_000 }, async (t) => {
  if (!isRoot) return t.skip('needs root for network namespaces and iptables');
  const [mapped, native] = await dialFrom(CLIENT_NS, [
    ['192.0.2.10', 443],
    ['192.0.2.10', 80],
  ]);
  assert.deepEqual(mapped, {
    local: { address: '::ffff:198.18.0.1', port: DUAL_STACK_PORT },
    destination: { address: '192.0.2.10', port: 443, family: 4 },
  });
  assert.deepEqual(native, {
    local: { address: '198.18.0.1', port: IPV4_ONLY_PORT },
    destination: { address: '192.0.2.10', port: 80, family: 4 },
  });
});

test('IPv6 redirected in PREROUTING (ip6tables): the dialled address and port', { timeout: 60_000 }, async (t) => {
  if (!isRoot) return t.skip('needs root for network namespaces and iptables');
  const [observed] = await dialFrom(CLIENT_NS, [['2001:db8::10', 443]]);
  assert.deepEqual(observed, {
    local: { address: 'fd00:6d67::1', port: DUAL_STACK_PORT },
    destination: { address: '2001:db8::10', port: 443, family: 6 },
  });
});

test('a local process redirected in OUTPUT: the dialled loopback port', { timeout: 60_000 }, async (t) => {
  if (!isRoot) return t.skip('needs root for network namespaces and iptables');
  const [observed] = await dialFrom(SERVER_NS, [['127.0.0.1', 4443]]);
  assert.deepEqual(observed, {
    local: { address: '::ffff:127.0.0.1', port: DUAL_STACK_PORT },
    destination: { address: '127.0.0.1', port: 4443, family: 4 },
  });
});

test('connections made straight to the listener, not redirected, give null', { timeout: 60_000 }, async (t) => {
  if (!isRoot) return t.skip('needs root for network namespaces and iptables');
  const observed = await dialFrom(CLIENT_NS, [
    ['198.18.0.1', DUAL_STACK_PORT],
    ['198.18.0.1', IPV4_ONLY_PORT],
    ['fd00:6d67::1', DUAL_STACK_PORT],
  ]);
  assert.deepEqual(observed, [
    { local: { address: '::ffff:198.18.0.1', port: DUAL_STACK_PORT }, destination: null },
    { local: { address: '198.18.0.1', port: IPV4_ONLY_PORT }, destination: null },
    { local: { address: 'fd00:6d67::1', port: DUAL_STACK_PORT }, destination: null },
  ]);
});

test('a closed socket gives null rather than throwing', { timeout: 60_000 }, async (t) => {
  if (!isRoot) return t.skip('needs root for network namespaces and iptables');
  const afterClose = serverLines.map((line) => JSON.parse(line) as { afterClose: unknown });
  assert.ok(afterClose.length > 0, 'the server reported on closed sockets');
  for (const line of afterClose) assert.deepEqual(line, { afterClose: null });
});

// ---- no namespace needed ----

interface ErrnoLike {
  code?: string;
  errno?: number;
  syscall?: string;
}

test('the addon: bytes the kernel wrote, errors with errno name and number', async () => {
  const addonPath = new URL('../../../native/build/Release/sockopt.node', import.meta.url);
  const { getsockopt } = createRequire(import.meta.url)(addonPath.pathname) as {
    getsockopt(fd: number, level: number, optname: number, maxLen: number): Buffer;
  };
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const fd = (server as unknown as { _handle: { fd: number } })._handle.fd;
    const SOL_SOCKET = 1;
    const SO_TYPE = 3;
    const SO_ACCEPTCONN = 30;
    assert.deepEqual(getsockopt(fd, SOL_SOCKET, SO_TYPE, 64), Buffer.from([1, 0, 0, 0])); // SOCK_STREAM, 4 bytes
    assert.equal(getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, 4).readInt32LE(0), 1);
    assert.throws(() => getsockopt(fd, 0, 80, 16), (e: ErrnoLike) => e.code === 'ENOTCONN' || e.code === 'ENOENT');
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
  assert.throws(() => getsockopt(2 ** 30, 1, 3, 4), (e: ErrnoLike) => e.code === 'EBADF' && e.errno === 9 && e.syscall === 'getsockopt');
  assert.throws(() => getsockopt(-1, 1, 3, 4), TypeError);
  assert.throws(() => getsockopt(0, 1, 3, 0), TypeError);
  assert.throws(() => (getsockopt as unknown as (...args: unknown[]) => Buffer)('0', 1, 3, 4), TypeError);
});

test('a plain loopback connection (no REDIRECT) gives null', { timeout: 10_000 }, async () => {
  const seen = new Promise<unknown>((resolve) => {
    const server = net.createServer((socket) => {
      resolve(originalDestination(socket));
      socket.destroy();
      server.close();
    });
    server.listen(0, '127.0.0.1', () => {
      const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
      client.on('error', () => {});
    });
  });
  assert.equal(await seen, null);
});
