// Squid as the caching-forward-proxy baseline: `squid -N` with a config the bench writes into a directory it
// owns (loopback http_port, a ufs cache_dir, collapsed_forwarding on, DNS pointed at loopback so it never
// resolves anything outside), cache dirs created with `squid -z` first. Stopped by PID.
import { chownSync, existsSync, mkdirSync, readFileSync, writeFileSync, chmodSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { freePort, spawnLogged, waitForListener, waitUntil, type BenchProcess } from './processes.js';
import { toolPath } from './tools.js';

/**
 * The end of every bench squid.conf: only the clients' ACL (`gmgbench_clients`, defined by the caller) may use it,
 * and nothing that would add traffic, helpers or headers of its own (ICP/HTCP, pinger, DNS beyond loopback, Via).
 */
export const SQUID_QUIET_TAIL = `http_access allow gmgbench_clients
http_access deny all
dns_nameservers 127.0.0.1
icp_port 0
htcp_port 0
pinger_enable off
netdb_filename none
logfile_rotate 0
via off
forwarded_for delete
visible_hostname gmgbench
shutdown_lifetime 1 seconds
`;

export interface Squid {
  port: number;
  proc: BenchProcess;
  stop(): Promise<void>;
}

export function proxyUser(): { uid: number; gid: number } | null {
  try {
    const uid = Number(execFileSync('id', ['-u', 'proxy'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'proxy'], { encoding: 'utf8' }).trim());
    return Number.isInteger(uid) && Number.isInteger(gid) ? { uid, gid } : null;
  } catch {
    return null;
  }
}

/** `dir` must be reachable by the `proxy` user (squid drops root privileges to it). */
export async function startSquid(dir: string): Promise<Squid> {
  const binary = toolPath('squid');
  if (!binary) throw new Error('squid is not installed');
  mkdirSync(join(dir, 'cache'), { recursive: true });
  chmodSync(dir, 0o755);
  const user = process.getuid?.() === 0 ? proxyUser() : null;
  if (user) {
    chownSync(dir, user.uid, user.gid);
    chownSync(join(dir, 'cache'), user.uid, user.gid);
  }
  const port = await freePort();
  const conf = join(dir, 'squid.conf');
  writeFileSync(conf, `http_port 127.0.0.1:${port}
pid_filename ${join(dir, 'squid.pid')}
${user ? 'cache_effective_user proxy' : ''}
cache_dir ufs ${join(dir, 'cache')} 4096 16 256
cache_mem 256 MB
maximum_object_size 1 GB
maximum_object_size_in_memory 64 MB
collapsed_forwarding on
refresh_pattern . 1440 100% 10080
access_log stdio:${join(dir, 'access.log')}
cache_log ${join(dir, 'cache.log')}
cache_store_log none
coredump_dir ${dir}
acl gmgbench_clients src 127.0.0.1/32
${SQUID_QUIET_TAIL}`);
  // Create the cache directories, bounded; squid -z exits when done.
  const init = spawnLogged('squid -z', [binary, '-N', '-z', '-f', conf], { logFile: join(dir, 'init.log') });
  try {
    await waitUntil('squid -z', () => init.exited(), 30_000);
  } finally {
    await init.stop();
  }
  if (init.child.exitCode !== 0) throw new Error(`squid -z failed (${init.child.exitCode}):\n${init.log()}`);
  const proc = spawnLogged('squid', [binary, '-N', '-f', conf], { logFile: join(dir, 'stdout.log') });
  try {
    await waitForListener(proc, port, 30_000);
  } catch (err) {
    await proc.stop();
    const cacheLog = join(dir, 'cache.log');
    throw new Error(`${(err as Error).message}\n${existsSync(cacheLog) ? readFileSync(cacheLog, 'utf8').slice(-2000) : ''}`);
  }
  return { port, proc, stop: () => proc.stop(10_000) };
}
