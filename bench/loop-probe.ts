// The baseline of the event-loop stall figure (loop-probe-main.ts as a child process): on a shared machine a
// process that does nothing also sees its loop held up while it waits for a core. Stopped by PID.
import { spawn } from 'node:child_process';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';

const HERE = dirname(fileURLToPath(import.meta.url));

export interface LoopProbe {
  /** Longest stall (ms) the idle probe saw since the previous call (the first call opens the window). */
  read(): Promise<number>;
  stop(): void;
}

export function startLoopProbe(): LoopProbe {
  const child = spawn(process.execPath, [join(HERE, 'loop-probe-main.js')], { stdio: ['pipe', 'pipe', 'ignore'] });
  child.once('error', () => undefined);
  const waiting: ((line: string) => void)[] = [];
  createInterface({ input: child.stdout! }).on('line', (line) => waiting.shift()?.(line));
  return {
    read: () =>
      new Promise<number>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('the loop probe did not answer within 10 s')), 10_000);
        waiting.push((line) => {
          clearTimeout(timer);
          resolve(Number(line));
        });
        child.stdin!.write('read\n');
      }),
    stop: () => {
      if (child.exitCode === null && child.pid !== undefined) {
        try {
          process.kill(child.pid, 'SIGTERM');
        } catch {
          /* already gone */
        }
      }
    },
  };
}
