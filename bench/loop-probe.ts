// The baseline of the event-loop stall figure (loop-probe-main.ts as a child process): on a shared machine a
// process that does nothing also sees its loop held up while it waits for a core. Stopped by PID. Also the window
// every stall row is read over: the gateway's gauge and the probe, read at the same moments (stallWindow).
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

/** The longest stalls over one window: the gateway's (its own gauge) and the idle probe's, read at the same moments. */
export interface Stall {
  gatewayMs: number;
  /** An idle Node process's longest stall over the same window: the machine's scheduling floor. */
  floorMs: number;
}

/** A window over the gateway's event loop and the idle probe's: open() before the work, close() after it. */
export interface StallWindow {
  open(): Promise<void>;
  close(): Promise<Stall>;
}

/**
 * `scrape` reads the gateway's gomodgate_event_loop_delay_max_seconds in ms (each reading answers the longest
 * stall since the previous one, so the reading at open() starts the window); the probe is read right after it.
 */
export function stallWindow(scrape: () => Promise<number>, probe: LoopProbe): StallWindow {
  return {
    open: async () => {
      await scrape();
      await probe.read();
    },
    close: async () => {
      const gatewayMs = await scrape();
      return { gatewayMs, floorMs: await probe.read() };
    },
  };
}
