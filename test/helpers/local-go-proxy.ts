// The Go team's test module proxy (cmd/go's proxy_test.go in -proxy mode) on a free loopback port, run from a
// private copy of testdata/mod so a test can add modules; its checksum database is signed with the published
// test key. Stopped by PID.
import { spawn, type ChildProcess } from 'node:child_process';
import { cp, writeFile } from 'node:fs/promises';
import { get } from 'node:http';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { CMD_GO_SOURCE_DIR, cleanGoEnv } from './go-test-proxy.js';

export const TEST_SUMDB_PATH = '/sumdb/localhost.localdev/sumdb';

/** GET without keep-alive (no sockets left behind). */
export function httpGet(url: string): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = get(url, { agent: false, timeout: 15_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url}: timed out`)));
    req.on('error', reject);
  });
}

export interface LocalProxy {
  /** GOPROXY base, e.g. http://127.0.0.1:40123/mod */
  base: string;
  /** testdata/mod of this proxy's private copy (files added here are served from then on). */
  modDir: string;
  stop(): Promise<void>;
}


/** Starts the test proxy on a free loopback port from a private copy of testdata/mod (plus `extra` files). */
export async function startLocalProxy(binary: string, root: string, extra: Record<string, string> = {}): Promise<LocalProxy> {
  const modDir = join(root, 'testdata', 'mod');
  await cp(join(CMD_GO_SOURCE_DIR, 'testdata', 'mod'), modDir, { recursive: true });
  for (const [name, text] of Object.entries(extra)) await writeFile(join(modDir, name), text);

  const child: ChildProcess = spawn(binary, ['-proxy=127.0.0.1:0', '-test.run=^$'], {
    cwd: root, // the proxy reads testdata/mod relative to its working directory
    env: cleanGoEnv(),
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const proxy: LocalProxy = {
    base: '',
    modDir,
    async stop() {
      if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
        process.kill(child.pid, 'SIGTERM');
        if ((await Promise.race([exited.then(() => true), delay(5000, false)])) === false) process.kill(child.pid, 'SIGKILL');
        await exited;
      }
    },
  };
  const base = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`test proxy did not start within 30s:\n${stderr.slice(-2000)}`)), 30_000);
    child.stderr!.on('data', (c: Buffer) => {
      stderr = (stderr + c.toString()).slice(-64 * 1024);
      const m = /GOPROXY=(http:\/\/127\.0\.0\.1:\d+\/mod)/.exec(stderr);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`test proxy exited (${code}) before listening:\n${stderr.slice(-2000)}`));
    });
  });
  proxy.base = base;

  // It looks up every module once right after it starts listening: wait for the tree to stop growing.
  let last = '';
  let stable = 0;
  for (let i = 0; stable < 3; i++) {
    if (i > 300) throw new Error('test proxy checksum database never settled');
    const res = await httpGet(`${base}${TEST_SUMDB_PATH}/latest`);
    const size = res.status === 200 ? res.body.toString().split('\n')[1] : '';
    stable = size !== '' && size === last ? stable + 1 : 0;
    last = size;
    await delay(100);
  }
  return proxy;
}

