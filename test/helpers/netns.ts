// Network-namespace primitives for end-to-end tests: run a command (bounded in time) on the host or inside a
// namespace, create namespaces, veth pairs, addresses, routes and ip(6)tables rules, write /etc/netns/NAME/hosts,
// and spawn long-running processes inside a namespace that are tracked by PID file and killed by process group.
// It never touches a namespace, file or process outside the prefix and state directory the caller names: stale
// clean-up kills only PIDs it recorded itself (checked against /proc/PID/cmdline) and processes living inside
// namespaces that carry the caller's prefix.
import { spawn } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';

export interface CommandResult {
  argv: string[];
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  input?: string;
  /** Kill the whole process group after this long (default 60 s). */
  timeoutMs?: number;
}

const OUTPUT_LIMIT = 4 * 1024 * 1024;

/** Runs argv to completion; never rejects for a non-zero exit (look at `code`), only when it cannot spawn. */
export function run(argv: string[], opts: RunOptions = {}): Promise<CommandResult> {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), {
      env: opts.env ?? process.env,
      cwd: opts.cwd,
      detached: true, // own process group, so a timeout kills the children too (go → compile, link)
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      if (stdout.length < OUTPUT_LIMIT) stdout += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      if (stderr.length < OUTPUT_LIMIT) stderr += d;
    });
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child.pid, 'SIGKILL');
    }, timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ argv, code, signal, stdout, stderr, timedOut });
    });
    child.stdin.on('error', () => {}); // the command may exit without reading its input
    child.stdin.end(opts.input ?? '');
  });
}

/** Like run, but rejects with the command's output when it fails or times out. */
export async function runChecked(argv: string[], opts: RunOptions = {}): Promise<CommandResult> {
  const res = await run(argv, opts);
  if (res.code !== 0) throw new Error(`command failed: ${describeResult(res)}`);
  return res;
}

export function describeResult(res: CommandResult): string {
  const status = res.timedOut ? 'timed out' : res.signal ? `signal ${res.signal}` : `exit ${res.code}`;
  return `${res.argv.join(' ')} → ${status}\n--- stdout ---\n${tail(res.stdout, 60)}\n--- stderr ---\n${tail(res.stderr, 60)}`;
}

export function tail(text: string, lines: number): string {
  const all = text.split('\n');
  return all.slice(Math.max(0, all.length - lines)).join('\n');
}

/** argv prefixed so that it runs inside the namespace (ip netns exec also bind-mounts /etc/netns/NS/*). */
export function inNamespace(ns: string, argv: string[]): string[] {
  return ['ip', 'netns', 'exec', ns, ...argv];
}

export function runInNamespace(ns: string, argv: string[], opts: RunOptions = {}): Promise<CommandResult> {
  return run(inNamespace(ns, argv), opts);
}

export function runCheckedInNamespace(ns: string, argv: string[], opts: RunOptions = {}): Promise<CommandResult> {
  return runChecked(inNamespace(ns, argv), opts);
}

function killGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Namespaces, links, addresses

export async function listNamespaces(prefix: string): Promise<string[]> {
  const res = await runChecked(['ip', '-o', 'netns', 'list']);
  return res.stdout
    .split('\n')
    .map((line) => line.trim().split(/\s+/)[0] ?? '')
    .filter((name) => name.startsWith(prefix));
}

export async function createNamespace(ns: string): Promise<void> {
  await runChecked(['ip', 'netns', 'add', ns]);
  await runCheckedInNamespace(ns, ['ip', 'link', 'set', 'lo', 'up']);
}

/** Kills every process inside the namespace (they are ours: the name carries our prefix), then deletes it. */
export async function deleteNamespace(ns: string): Promise<void> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const res = await run(['ip', 'netns', 'pids', ns], { timeoutMs: 10_000 });
    const pids = res.stdout.split(/\s+/).filter(Boolean).map(Number).filter((p) => p > 1);
    if (pids.length === 0) break;
    for (const pid of pids) {
      try {
        process.kill(pid, attempt < 5 ? 'SIGTERM' : 'SIGKILL');
      } catch {
        // gone
      }
    }
    await delay(200);
  }
  await run(['ip', 'netns', 'delete', ns], { timeoutMs: 10_000 });
  rmSync(join('/etc/netns', ns), { recursive: true, force: true });
}

export async function deleteNamespacesWithPrefix(prefix: string): Promise<void> {
  for (const ns of await listNamespaces(prefix)) await deleteNamespace(ns);
  // /etc/netns/<ns>/ directories left by a run whose namespace is already gone
  if (existsSync('/etc/netns')) {
    for (const entry of readdirSync('/etc/netns')) {
      if (entry.startsWith(prefix)) rmSync(join('/etc/netns', entry), { recursive: true, force: true });
    }
  }
}

export interface VethEnd {
  ns: string;
  ifname: string; // at most 15 characters
}

/** Creates a veth pair with each end directly inside its namespace, and brings both ends up. */
export async function createVethPair(a: VethEnd, b: VethEnd): Promise<void> {
  await runChecked(['ip', 'link', 'add', a.ifname, 'netns', a.ns, 'type', 'veth', 'peer', 'name', b.ifname, 'netns', b.ns]);
  await runCheckedInNamespace(a.ns, ['ip', 'link', 'set', a.ifname, 'up']);
  await runCheckedInNamespace(b.ns, ['ip', 'link', 'set', b.ifname, 'up']);
}

/** Adds an address; IPv6 addresses skip duplicate address detection so they are usable at once. */
export async function addAddress(ns: string, ifname: string, cidr: string): Promise<void> {
  const extra = cidr.includes(':') ? ['nodad'] : [];
  await runCheckedInNamespace(ns, ['ip', 'addr', 'add', cidr, 'dev', ifname, ...extra]);
}

export async function addDefaultRoute(ns: string, via: string): Promise<void> {
  const family = via.includes(':') ? '-6' : '-4';
  await runCheckedInNamespace(ns, ['ip', family, 'route', 'add', 'default', 'via', via]);
}

export async function setSysctl(ns: string, key: string, value: string): Promise<void> {
  await runCheckedInNamespace(ns, ['sysctl', '-q', '-w', `${key}=${value}`]);
}

/** Runs iptables (family 4) or ip6tables (family 6) with args inside the namespace. */
export async function netfilter(ns: string, family: 4 | 6, args: string[]): Promise<void> {
  await runCheckedInNamespace(ns, [family === 4 ? 'iptables' : 'ip6tables', '-w', '5', ...args]);
}

export interface HostsEntry {
  address: string;
  names: string[];
}

/** Writes /etc/netns/NS/hosts (used by every later `ip netns exec NS`), keeping the localhost lines. */
export function writeNamespaceHosts(ns: string, entries: HostsEntry[]): void {
  const dir = join('/etc/netns', ns);
  mkdirSync(dir, { recursive: true });
  const lines = ['127.0.0.1\tlocalhost', '::1\tlocalhost ip6-localhost ip6-loopback'];
  for (const e of entries) lines.push(`${e.address}\t${e.names.join(' ')}`);
  writeFileSync(join(dir, 'hosts'), lines.join('\n') + '\n');
}

// ---------------------------------------------------------------------------------------------------------------
// Long-running processes

export interface NamespaceProcess {
  readonly name: string;
  readonly pid: number;
  readonly logFile: string;
  /** Resolves when the process has exited. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  hasExited(): boolean;
  /** The last `lines` lines of its stdout and stderr (interleaved as they arrived). */
  output(lines?: number): string;
  /** Waits (bounded) for an output line matching the predicate; rejects if the process exits first. */
  waitForLine(match: (line: string) => boolean, timeoutMs: number): Promise<string>;
  /** SIGTERM to the process group, SIGKILL after graceMs; resolves once it has exited. */
  stop(graceMs?: number): Promise<void>;
}

export interface SpawnOptions {
  name: string; // used for the PID and log file names
  stateDir: string; // PID files in STATE/pids, logs in STATE/logs
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

interface PidRecord {
  pid: number;
  argv0: string;
}

const KEPT_LINES = 2000;

/**
 * Starts argv inside the namespace as a process-group leader (ip netns exec execs the command, so the PID is the
 * command's own) and records its PID so that a later run can kill it if this one dies without cleaning up.
 */
export function spawnInNamespace(ns: string | null, argv: string[], opts: SpawnOptions): NamespaceProcess {
  const full = ns === null ? argv : inNamespace(ns, argv);
  const pidDir = join(opts.stateDir, 'pids');
  const logDir = join(opts.stateDir, 'logs');
  mkdirSync(pidDir, { recursive: true });
  mkdirSync(logDir, { recursive: true });
  const logFile = join(logDir, `${opts.name}.log`);
  // this run's output only: appended to, the file kept the lines of every earlier run, and a test that read it
  // passed on lines in a log format the gateway had stopped writing
  const log = createWriteStream(logFile, { flags: 'w' });
  const child = spawn(full[0]!, full.slice(1), {
    env: opts.env ?? process.env,
    cwd: opts.cwd,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (child.pid === undefined) throw new Error(`cannot spawn ${full.join(' ')}`);
  const pid = child.pid;
  const pidFile = join(pidDir, `${opts.name}.pid`);
  // `ip netns exec` execs the command, so /proc/PID/cmdline soon shows the command's own argv[0]
  const record: PidRecord = { pid, argv0: argv[0]! };
  writeFileSync(pidFile, JSON.stringify(record));

  const lines: string[] = [];
  const waiters = new Set<{ match: (l: string) => boolean; resolve: (l: string) => void }>();
  let exitedFlag = false;
  const onChunk = (partial: { rest: string }) => (data: string) => {
    log.write(data);
    const parts = (partial.rest + data).split('\n');
    partial.rest = parts.pop() ?? '';
    for (const line of parts) {
      lines.push(line);
      if (lines.length > KEPT_LINES) lines.shift();
      for (const w of waiters) {
        if (w.match(line)) {
          waiters.delete(w);
          w.resolve(line);
        }
      }
    }
  };
  child.stdout!.setEncoding('utf8').on('data', onChunk({ rest: '' }));
  child.stderr!.setEncoding('utf8').on('data', onChunk({ rest: '' }));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('close', (code, signal) => {
      exitedFlag = true;
      log.end();
      try {
        unlinkSync(pidFile);
      } catch {
        // already removed
      }
      resolve({ code, signal });
    });
  });
  child.on('error', () => {}); // reported through `exited`

  return {
    name: opts.name,
    pid,
    logFile,
    exited,
    hasExited: () => exitedFlag,
    output: (n = 40) => lines.slice(Math.max(0, lines.length - n)).join('\n'),
    waitForLine(match, timeoutMs) {
      const already = lines.find(match);
      if (already !== undefined) return Promise.resolve(already);
      return new Promise<string>((resolve, reject) => {
        const waiter = {
          match,
          resolve: (l: string) => {
            clearTimeout(timer);
            resolve(l);
          },
        };
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          reject(new Error(`${opts.name}: no matching output line within ${timeoutMs} ms; last lines:\n${lines.slice(-40).join('\n')}`));
        }, timeoutMs);
        waiters.add(waiter);
        void exited.then(({ code, signal }) => {
          if (!waiters.has(waiter)) return;
          waiters.delete(waiter);
          clearTimeout(timer);
          reject(new Error(`${opts.name} exited (code ${code}, signal ${signal}) before the expected line; last lines:\n${lines.slice(-40).join('\n')}`));
        });
      });
    },
    async stop(graceMs = 10_000) {
      if (exitedFlag) return;
      killGroup(pid, 'SIGTERM');
      const timer = setTimeout(() => killGroup(pid, 'SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
      killGroup(pid, 'SIGKILL'); // any child left in the group
    },
  };
}

/** Kills the process groups recorded in STATE/pids by an earlier run that did not clean up, and removes the files. */
export async function killStaleProcesses(stateDir: string): Promise<void> {
  const pidDir = join(stateDir, 'pids');
  if (!existsSync(pidDir)) return;
  for (const file of readdirSync(pidDir)) {
    const path = join(pidDir, file);
    let record: PidRecord | null = null;
    try {
      record = JSON.parse(readFileSync(path, 'utf8')) as PidRecord;
    } catch {
      record = null;
    }
    if (record && isAlive(record.pid) && cmdlineMatches(record.pid, record.argv0)) {
      killGroup(record.pid, 'SIGTERM');
      for (let i = 0; i < 50 && isAlive(record.pid); i++) await delay(100);
      killGroup(record.pid, 'SIGKILL');
    }
    rmSync(path, { force: true });
  }
}

/** True when the PID still runs the command we recorded (or is still `ip netns exec` about to exec it). */
function cmdlineMatches(pid: number, argv0: string): boolean {
  try {
    const first = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0];
    return first === argv0 || first === 'ip';
  } catch {
    return false;
  }
}

/**
 * Waits (bounded) until a TCP connection to host:port succeeds from inside the namespace. bash --norc: with
 * stdin a socket (node's pipes are socketpairs) Debian's bash takes itself for an rsh login and sources
 * ~/.bashrc, which here runs `pyenv rehash`; that waits on a lock other shells hold and outlasts the 3 s bound.
 */
export async function waitForTcpPort(ns: string, host: string, port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: CommandResult | null = null;
  for (let i = 0; i < 10_000 && Date.now() < deadline; i++) {
    last = await runInNamespace(ns, ['bash', '--norc', '-c', `exec 3<>/dev/tcp/${host}/${port}`], { timeoutMs: 3000 });
    if (last.code === 0) return;
    await delay(150);
  }
  throw new Error(`nothing listening on ${host}:${port} in ${ns} after ${timeoutMs} ms${last ? `: ${last.stderr.trim()}` : ''}`);
}
