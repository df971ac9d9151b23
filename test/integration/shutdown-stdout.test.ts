// Integration: shutdown of a real `gomodgate serve` child whose stdout is a pipe nobody drains. Ctrl-C after
// `gomodgate serve | cat` kills the reader first; `| less` stops reading. Either way SIGINT/SIGTERM must end
// the process, and a second signal must end it even while it drains. 15 s bounds below detect a hang; they
// are not speed assertions.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import http from 'node:http';
import net from 'node:net';
import type { ChildProcess } from 'node:child_process';
import { CLI, spawnTracked, killRunningChildren } from '../helpers/cli.js';
import { waitFor } from '../helpers/gateway.js';

const HANG = 15_000;
const dirs: string[] = [];

after(() => {
  killRunningChildren();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

interface Served {
  child: ChildProcess;
  ports: { tls: number; http: number; proxy: number; admin: number };
  stderr: () => string;
  /** Everything read from stdout so far (after start-up only with keepReading). */
  stdout: () => string;
}

async function serve(extra: string[] = [], opts: { keepReading?: boolean } = {}): Promise<Served> {
  const dir = mkdtempSync(join(tmpdir(), 'gmg-stop-'));
  dirs.push(dir);
  const child = spawnTracked(process.execPath, [CLI, 'serve', '--data-dir', join(dir, 'data'), '--ca-dir', join(dir, 'certs'), '--listen', '127.0.0.1',
    '--tls-port', '0', '--http-port', '0', '--proxy-port', '0', '--admin-port', '0', '--sumdb', 'off', ...extra]);
  let out = '';
  let err = '';
  const onData = (c: Buffer) => (out += c);
  child.stdout!.on('data', onData);
  child.stderr!.on('data', (c: Buffer) => (err += c));
  const ports = await waitFor('gomodgate ready', () => {
    if (child.exitCode !== null) throw new Error(`gomodgate exited: ${err}`);
    const line = out.split('\n').find((l) => l.includes('"gomodgate ready"'));
    return line ? JSON.parse(line).ports : null;
  }, HANG);
  if (!opts.keepReading) {
    // from here on the test reads stdout no more: each case decides what happens to the pipe
    child.stdout!.removeListener('data', onData);
    child.stdout!.pause();
  }
  return { child, ports, stderr: () => err, stdout: () => out };
}

function exited(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((resolve, reject) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve({ code: child.exitCode, signal: child.signalCode });
    const timer = setTimeout(() => reject(new Error(`gomodgate did not exit within ${HANG} ms (hung)`)), HANG);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal });
    });
  });
}

function healthz(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/healthz', agent: false, timeout: 5000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy(new Error('healthz timed out')));
    req.on('error', reject);
  });
}

/** Each direct connection to the transparent TLS port is refused with one warn line (~300 bytes of log). */
async function makeLogLines(port: number, count: number): Promise<void> {
  for (let i = 0; i < count; i += 100) {
    await Promise.all(Array.from({ length: Math.min(100, count - i) }, () => new Promise<void>((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port });
      s.on('error', () => resolve());
      s.on('close', () => resolve());
    })));
  }
}

test('SIGINT after the stdout reader is gone (Ctrl-C on `serve | cat`): exit 0, no hang', async () => {
  const gw = await serve();
  gw.child.stdout!.destroy(); // the reader end closes: the shutdown lines meet EPIPE
  gw.child.kill('SIGINT');
  const r = await exited(gw.child);
  assert.deepEqual(r, { code: 0, signal: null }, gw.stderr());
});

test('SIGTERM while stdout is a full pipe nobody reads: the gateway keeps serving, then exits 0', async () => {
  const gw = await serve();
  // ~1 MB of log lines: more than any pipe or socket buffer holds
  await makeLogLines(gw.ports.tls, 3500);
  assert.equal(await healthz(gw.ports.admin), 200, 'the admin listener answers while stdout is blocked');
  gw.child.kill('SIGTERM');
  const r = await exited(gw.child);
  assert.deepEqual(r, { code: 0, signal: null }, gw.stderr());
});

test('a second signal ends the process at once while it drains a stalled fetch', async (t) => {
  // an upstream that accepts the request and never answers: the drain would wait its whole grace period
  const stalled = http.createServer(() => undefined);
  await new Promise<void>((r) => stalled.listen(0, '127.0.0.1', r));
  t.after(() => {
    stalled.closeAllConnections();
    stalled.close();
  });
  const upstreamPort = (stalled.address() as net.AddressInfo).port;
  const gw = await serve(['--upstream', `http://127.0.0.1:${upstreamPort}`, '--upstream-timeout', '5m'], { keepReading: true });
  let upstreamSaw = 0;
  stalled.on('request', () => upstreamSaw++);
  const client = http.get({ host: '127.0.0.1', port: gw.ports.proxy, path: '/example.com/stalled/@v/list', agent: false });
  client.on('error', () => undefined);
  await waitFor('the fetch to reach the upstream', () => upstreamSaw > 0, HANG);
  gw.child.kill('SIGINT');
  await waitFor('the gateway to start draining', () => gw.stdout().includes('shutting down'), HANG);
  assert.equal(gw.child.exitCode, null, 'still draining the stalled fetch after the first signal');
  gw.child.kill('SIGTERM');
  const r = await exited(gw.child);
  client.destroy();
  assert.deepEqual(r, { code: 143, signal: null }, `exit status 128+SIGTERM from the forced exit; stderr: ${gw.stderr()}`);
  assert.match(gw.stderr(), /SIGTERM again/);
});
