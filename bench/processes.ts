// Child processes for the bench (gomodgate, nginx, squid, the origin): started with their output in a log file
// (never buffered in the bench's own memory), waited for with a bound, and stopped by their own PID
// (SIGTERM, then SIGKILL after a grace period). Also: free loopback ports, a bounded wait for a TCP listener, and
// a process's CPU time.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';

export interface BenchProcess {
  readonly name: string;
  readonly child: ChildProcess;
  readonly logFile: string;
  /** The log so far (the last maxChars characters). */
  log(maxChars?: number): string;
  exited(): boolean;
  stop(graceMs?: number): Promise<void>;
}

export function spawnLogged(name: string, argv: string[], opts: { logFile: string; cwd?: string; env?: NodeJS.ProcessEnv }): BenchProcess {
  const fd = openSync(opts.logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(argv[0]!, argv.slice(1), { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['ignore', fd, fd] });
  } finally {
    closeSync(fd);
  }
  const exit = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.once('error', () => undefined);
  const exited = () => child.exitCode !== null || child.signalCode !== null;
  return {
    name,
    child,
    logFile: opts.logFile,
    log(maxChars = 4000) {
      return existsSync(opts.logFile) ? readFileSync(opts.logFile, 'utf8').slice(-maxChars) : '';
    },
    exited,
    async stop(graceMs = 5000) {
      if (exited() || child.pid === undefined) return;
      try {
        process.kill(child.pid, 'SIGTERM');
      } catch {
        return;
      }
      if ((await Promise.race([exit.then(() => true), delay(graceMs, false)])) === false) {
        try {
          process.kill(child.pid, 'SIGKILL');
        } catch {
          /* already gone */
        }
        await Promise.race([exit, delay(5000)]);
      }
    },
  };
}

/** utime+stime of a process in seconds (the clock tick is 100 Hz on Linux), or null when it is gone. */
export function cpuSeconds(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // fields 14 and 15 of proc(5), counted from 3
  } catch {
    return null;
  }
}

/** Polls `check` every 50 ms until it returns a value or `timeoutMs` passes (then throws `what`). */
export async function waitUntil<T>(what: string, check: () => T | null | undefined | false | Promise<T | null | undefined | false>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await delay(50);
  }
}

/** A loopback port that was free a moment ago (for servers that need a port number in their config). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
  });
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
    socket.setTimeout(1000, () => {
      socket.destroy();
      resolve(false);
    });
  });
}

/** Waits until 127.0.0.1:port accepts connections; throws (with the log) if the process exits first. */
export async function waitForListener(proc: BenchProcess, port: number, timeoutMs = 15_000): Promise<void> {
  await waitUntil(`${proc.name} listening on 127.0.0.1:${port}`, async () => {
    if (proc.exited()) throw new Error(`${proc.name} exited before listening:\n${proc.log()}`);
    return canConnect(port);
  }, timeoutMs);
}
