// Starts the delaying relay (delay-relay.ts) as a child process in front of one TCP target; stopped by PID.
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnLogged, waitUntil, type BenchProcess } from './processes.js';

const HERE = dirname(fileURLToPath(import.meta.url));

/** The emulated round trip between gomodgate (or a direct client) and the upstream: 40 ms each way. */
export const EMULATED_RTT_MS = 80;

export interface DelayRelayProcess {
  /** Where to connect instead of the target. */
  port: number;
  proc: BenchProcess;
  stop(): Promise<void>;
}

/** The relay's command line (for starting it elsewhere, e.g. inside a network namespace). */
export function delayRelayArgv(targetHost: string, targetPort: number, rttMs: number, listenHost = '127.0.0.1'): string[] {
  return [process.execPath, join(HERE, 'delay-relay-main.js'), targetHost, String(targetPort), String(rttMs / 2), listenHost];
}

export async function startDelayRelayProcess(targetPort: number, rttMs: number, logFile: string): Promise<DelayRelayProcess> {
  const proc = spawnLogged('delay relay', delayRelayArgv('127.0.0.1', targetPort, rttMs), { logFile });
  const port = await waitUntil('delay relay port', () => {
    if (proc.exited()) throw new Error(`delay relay exited:\n${proc.log()}`);
    const m = /\{"port":(\d+)\}/.exec(proc.log());
    return m ? Number(m[1]) : null;
  }, 15_000);
  return { port, proc, stop: () => proc.stop() };
}
