// The Go team's own test module proxy (cmd/go's proxy_test.go, shipped in Debian's golang-1.19-src) as the real
// upstream of the end-to-end tests: build the cmd/go test binary once (cached under os.tmpdir(), keyed by
// `go version`), run it with -proxy=ADDR from the cmd/go source directory (it reads testdata/mod relative to the
// working directory), and wait until it both listens and has finished pre-populating its checksum database.
// It must never run cmd/go's tests: with -proxy set, TestMain starts the proxy and blocks before m.Run.
import { existsSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import {
  describeResult,
  run,
  runChecked,
  runInNamespace,
  spawnInNamespace,
  waitForTcpPort,
  type NamespaceProcess,
} from './netns.js';

export const CMD_GO_SOURCE_DIR = '/usr/lib/go-1.19/src/cmd/go';

/** Verifier key of the test proxy's checksum database (proxy_test.go, testSumDBVerifierKey). */
export const TEST_SUMDB_KEY = 'localhost.localdev/sumdb+00000c67+AcTrnkbUA+TU4heY3hkjiSES/DSQniBqIeQ/YppAUtK6';

/** The environment for building and running Go tools from a test, without settings that change their meaning. */
export function cleanGoEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v === undefined) continue;
    if (k.startsWith('GO') || k === 'CGO_ENABLED' || k === 'CMDGO_TEST_RUN_MAIN' || k.startsWith('TESTGO_')) continue;
    env[k] = v;
  }
  return { ...env, ...extra };
}

/** `go version`, e.g. "go version go1.19.8 linux/amd64". */
export async function goVersion(): Promise<string> {
  const res = await runChecked(['go', 'version'], { env: cleanGoEnv(), timeoutMs: 30_000 });
  return res.stdout.trim();
}

/**
 * Returns the path of the cmd/go test binary, building it (about a minute the first time) into
 * os.tmpdir()/gomodgate-cmdgo-<version>-<os>-<arch>.test when it is not there yet.
 */
export async function ensureGoTestProxyBinary(): Promise<string> {
  const version = await goVersion(); // go version go1.19.8 linux/amd64
  const parts = version.split(/\s+/);
  const key = `${parts[2] ?? 'unknown'}-${(parts[3] ?? 'unknown').replace('/', '-')}`.replace(/[^A-Za-z0-9._-]/g, '_');
  const bin = join(tmpdir(), `gomodgate-cmdgo-${key}.test`);
  if (existsSync(bin)) return bin;
  const partial = `${bin}.${process.pid}.partial`;
  rmSync(partial, { force: true });
  // go needs a build cache: the user's when HOME or XDG_CACHE_HOME says where it is, else one under tmpdir.
  const hasCacheHome = Boolean(process.env.HOME || process.env.XDG_CACHE_HOME);
  const res = await run(['go', 'test', '-c', '-o', partial, '.'], {
    cwd: CMD_GO_SOURCE_DIR,
    env: cleanGoEnv(hasCacheHome ? {} : { GOCACHE: join(tmpdir(), 'gomodgate-cmdgo-gocache') }),
    timeoutMs: 10 * 60_000,
  });
  if (res.code !== 0) {
    rmSync(partial, { force: true });
    throw new Error(`building the Go test proxy failed: ${describeResult(res)}`);
  }
  renameSync(partial, bin); // atomic: a concurrent or interrupted build never leaves a half binary under `bin`
  return bin;
}

export interface GoTestProxy {
  readonly address: string; // host:port inside the namespace
  readonly process: NamespaceProcess;
  /** Size and root hash of the checksum database once settled ("167 <base64>"): the same on every start. */
  readonly treeHead: string;
  stop(): Promise<void>;
}

export interface GoTestProxyOptions {
  ns: string;
  stateDir: string;
  binary: string;
  host?: string; // default 127.0.0.1
  port?: number; // default 9911
  name?: string; // PID/log file name, default go-test-proxy
}

/**
 * Starts the test proxy in the namespace and waits until it listens and its checksum database stopped growing
 * (StartProxy looks up every module once, in directory order, right after it starts listening; waiting keeps the
 * tree identical from one start to the next, so a cache of tiles from an earlier start stays valid).
 */
export async function startGoTestProxy(opts: GoTestProxyOptions): Promise<GoTestProxy> {
  const host = opts.host ?? '127.0.0.1';
  const port = opts.port ?? 9911;
  const address = `${host}:${port}`;
  const proc = spawnInNamespace(opts.ns, [opts.binary, `-proxy=${address}`, '-test.run=^$'], {
    name: opts.name ?? 'go-test-proxy',
    stateDir: opts.stateDir,
    cwd: CMD_GO_SOURCE_DIR,
    env: cleanGoEnv(),
  });
  let treeHead: string;
  try {
    await proc.waitForLine((l) => l.includes('go test proxy running at'), 30_000);
    await waitForTcpPort(opts.ns, host, port, 30_000);
    treeHead = await waitForSumdbSettled(opts.ns, address, proc);
  } catch (err) {
    await proc.stop(2000);
    throw err;
  }
  return { address, process: proc, treeHead, stop: () => proc.stop(5000) };
}

async function waitForSumdbSettled(ns: string, address: string, proc: NamespaceProcess): Promise<string> {
  let lastSize = -1;
  let stableReads = 0;
  for (let i = 0; i < 300; i++) {
    if (proc.hasExited()) throw new Error(`go test proxy exited:\n${proc.output()}`);
    const res = await runInNamespace(ns, ['curl', '-sS', '--max-time', '5', `http://${address}/mod/sumdb-direct/latest`], {
      timeoutMs: 10_000,
    });
    // a signed note: "go.sum database tree\n<size>\n<hash>\n\n— <signature>"
    const lines = res.stdout.split('\n');
    const size = res.code === 0 ? Number(lines[1]) : NaN;
    if (Number.isInteger(size) && size > 0 && size === lastSize) {
      if (++stableReads >= 3) return `${size} ${lines[2]}`;
    } else {
      stableReads = 0;
    }
    lastSize = size;
    await delay(200);
  }
  throw new Error(`go test proxy's checksum database never settled (last size ${lastSize}):\n${proc.output()}`);
}
