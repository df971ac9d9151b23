// Runs the real command line (`node bin/gomodgate.js ...`) as a child process for tests: bounded in time,
// with GOMODGATE_* variables of the test's own environment removed so only the given flags count, and every
// child tracked so a test's `after` can kill what is still running.
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT } from './gateway.js';

export const CLI = join(REPO_ROOT, 'bin/gomodgate.js');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

const running = new Set<ChildProcess>();

/** The test process's environment without GOMODGATE_* variables. */
export function cliEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('GOMODGATE_')) env[k] = v;
  return { ...env, ...extra };
}

/** Starts a tracked child; stop it yourself or with killRunningChildren(). */
export function spawnTracked(command: string, args: string[], options: SpawnOptions = {}): ChildProcess {
  const child = spawn(command, args, { env: cliEnv(), stdio: ['ignore', 'pipe', 'pipe'], ...options });
  running.add(child);
  child.once('close', () => running.delete(child));
  return child;
}

/** Runs a command to completion (killed after timeoutMs) and collects its output. */
export function runTracked(command: string, args: string[], options: SpawnOptions = {}, timeoutMs = 60_000): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawnTracked(command, args, options);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (c) => (stdout += c));
    child.stderr!.on('data', (c) => (stderr += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** `gomodgate ARGS` to completion. */
export function runCli(args: string[], timeoutMs = 60_000): Promise<CliResult> {
  return runTracked(process.execPath, [CLI, ...args], {}, timeoutMs);
}

export function killRunningChildren(): void {
  for (const c of running) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
}
