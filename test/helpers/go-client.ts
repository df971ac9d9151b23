// The real go command as a test client: writes the tiny hello program (module example.com/hello, requiring
// rsc.io/quote v1.5.2) into a fresh directory and runs `go mod tidy`, `go build` and the binary inside a network
// namespace with a fresh GOPATH, GOCACHE, GOMODCACHE and HOME per run, so nothing is shared between runs.
// It builds the environment from scratch (only PATH is inherited): no GOPROXY, GONOSUMDB, GOPRIVATE, GOFLAGS or
// GOTOOLCHAIN from the caller's shell leaks into a run unless the caller passes it explicitly.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runInNamespace, tail, type CommandResult } from './netns.js';
import { TEST_SUMDB_KEY } from './go-test-proxy.js';

export { TEST_SUMDB_KEY };

/** What rsc.io/quote v1.5.2's Hello() returns (English, from rsc.io/sampler v1.3.0). */
export const HELLO_QUOTE = 'Hello, world.';

export const HELLO_GO_MOD = 'module example.com/hello\n\ngo 1.19\n\nrequire rsc.io/quote v1.5.2\n';
export const HELLO_MAIN_GO = `package main

import (
\t"fmt"

\t"rsc.io/quote"
)

func main() {
\tfmt.Println(quote.Hello())
}
`;

/** Writes go.mod and main.go (no go.sum) into dir. */
export function writeHelloProgram(dir: string): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'go.mod'), HELLO_GO_MOD);
  writeFileSync(join(dir, 'main.go'), HELLO_MAIN_GO);
}

export interface GoRunOptions {
  ns: string;
  /** A directory this run may fill: the program, GOPATH and the caches are created inside it. */
  baseDir: string;
  /** The CA bundle the go command trusts (SSL_CERT_FILE). */
  certFile: string;
  /** Added to (or, with undefined, removed from) the default environment. */
  env?: Record<string, string | undefined>;
  /** Per go command (default 120 s). */
  timeoutMs?: number;
}

export interface HelloRun {
  ok: boolean;
  /** The program's trimmed stdout when it ran. */
  output: string | null;
  dir: string;
  env: Record<string, string>;
  steps: CommandResult[];
  /** Every step's command, status, stdout and stderr: put it in assertion messages. */
  transcript(): string;
}

/** The environment of one go run: fresh directories, the test checksum DB, the given CA, nothing inherited. */
export function goClientEnv(runDir: string, certFile: string, extra: Record<string, string | undefined> = {}): Record<string, string> {
  const home = join(runDir, 'home');
  const gopath = join(runDir, 'gopath');
  const env: Record<string, string | undefined> = {
    PATH: process.env.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    HOME: home,
    GOPATH: gopath,
    GOMODCACHE: join(gopath, 'pkg', 'mod'),
    GOCACHE: join(runDir, 'gocache'),
    TMPDIR: join(runDir, 'tmp'),
    GOFLAGS: '-modcacherw',
    GOSUMDB: TEST_SUMDB_KEY,
    SSL_CERT_FILE: certFile,
    CGO_ENABLED: '0',
    LANG: 'C',
    ...extra,
  };
  for (const dir of [home, gopath, join(runDir, 'gocache'), join(runDir, 'tmp')]) mkdirSync(dir, { recursive: true });
  const clean: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined) clean[k] = v;
  return clean;
}

/** Runs `go mod tidy`, `go build -o hello .` and `./hello` in a fresh copy of the program; stops at the first failure. */
export async function buildAndRunHello(opts: GoRunOptions): Promise<HelloRun> {
  mkdirSync(opts.baseDir, { recursive: true });
  const runDir = mkdtempSync(join(opts.baseDir, 'go-run-'));
  const dir = join(runDir, 'hello');
  writeHelloProgram(dir);
  const env = goClientEnv(runDir, opts.certFile, opts.env);
  const timeoutMs = opts.timeoutMs ?? 120_000;
  const steps: CommandResult[] = [];
  const transcript = () =>
    [`env: ${JSON.stringify(env)}`]
      .concat(
        steps.map((s) => {
          const status = s.timedOut ? 'timed out' : s.signal ? `signal ${s.signal}` : `exit ${s.code}`;
          return `$ ${s.argv.slice(4).join(' ')} → ${status}\n${tail(s.stdout, 20)}${tail(s.stderr, 40)}`;
        }),
      )
      .join('\n');
  for (const argv of [
    ['go', 'mod', 'tidy'],
    ['go', 'build', '-o', 'hello', '.'],
    ['./hello'],
  ]) {
    const res = await runInNamespace(opts.ns, argv, { cwd: dir, env, timeoutMs });
    steps.push(res);
    if (res.code !== 0) return { ok: false, output: null, dir, env, steps, transcript };
  }
  return { ok: true, output: steps[steps.length - 1]!.stdout.trim(), dir, env, steps, transcript };
}

/** How many module zips a module cache holds (GOMODCACHE/cache/download), walking at most `limit` directories. */
export function countModuleZips(gomodcache: string, limit = 100_000): number {
  let n = 0;
  const stack = [join(gomodcache, 'cache', 'download')];
  for (let visited = 0; stack.length && visited < limit; visited++) {
    const d = stack.pop()!;
    if (!existsSync(d)) continue;
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) stack.push(p);
      else if (name.endsWith('.zip')) n++;
    }
  }
  return n;
}
