// Headless Chromium (Debian's /usr/bin/chromium) driven over the DevTools protocol on a pipe
// (--remote-debugging-pipe: we write JSON + NUL on its fd 3, it answers on fd 4), so browser tests need no npm
// package. One browser per Chromium instance, one page per open(); every wait is bounded; close() ends the
// browser and its whole process group (it runs as its own group leader).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';

export const CHROMIUM = process.env.GMG_CHROMIUM ?? '/usr/bin/chromium';

export function chromiumMissing(): string | false {
  return existsSync(CHROMIUM) ? false : `${CHROMIUM} is not installed (Debian: apt-get install chromium)`;
}

interface CdpMessage {
  id?: number;
  method?: string;
  params?: Record<string, unknown>;
  result?: Record<string, unknown>;
  error?: { message: string };
  sessionId?: string;
}

export interface PageProblem {
  source: string;
  text: string;
}

export interface Page {
  /** Loads url at this viewport size and waits (bounded) for its load event. */
  goto(url: string, width: number, height: number): Promise<void>;
  /** Evaluates an expression in the page; returns its value (JSON-serialisable), awaiting a promise. */
  evaluate<T>(expression: string): Promise<T>;
  /** A PNG of the whole page (beyond the viewport). */
  screenshot(): Promise<Buffer>;
  /** Console errors, uncaught exceptions and browser log errors (CSP violations among them) since open(). */
  problems(): PageProblem[];
}

export interface Browser {
  open(): Promise<Page>;
  close(): Promise<void>;
}

/** `extraArgs`: more command-line switches, e.g. --ignore-certificate-errors-spki-list=HASH to trust one test key. */
export async function launchChromium(timeoutMs = 30_000, extraArgs: readonly string[] = []): Promise<Browser> {
  const profile = mkdtempSync(join(tmpdir(), 'gmg-chromium-'));
  const child: ChildProcess = spawn(
    CHROMIUM,
    [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run', '--no-default-browser-check', '--mute-audio',
      '--remote-debugging-pipe', `--user-data-dir=${profile}`, ...extraArgs, 'about:blank',
    ],
    { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'], detached: true },
  );
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => {
    if (stderr.length < 20_000) stderr += d;
  });
  const toBrowser = child.stdio[3] as Writable;
  const fromBrowser = child.stdio[4] as Readable;
  let nextId = 1;
  const pending = new Map<number, { resolve: (r: Record<string, unknown>) => void; reject: (e: Error) => void }>();
  const listeners = new Set<(m: CdpMessage) => void>();
  let buffer = Buffer.alloc(0);
  let exited = false;
  fromBrowser.on('data', (chunk: Buffer) => {
    buffer = Buffer.concat([buffer, chunk]);
    for (let end = buffer.indexOf(0); end !== -1; end = buffer.indexOf(0)) {
      const msg = JSON.parse(buffer.subarray(0, end).toString('utf8')) as CdpMessage;
      buffer = buffer.subarray(end + 1);
      if (msg.id !== undefined) {
        const p = pending.get(msg.id);
        pending.delete(msg.id);
        if (msg.error) p?.reject(new Error(`CDP: ${msg.error.message}`));
        else p?.resolve(msg.result ?? {});
      } else {
        for (const l of listeners) l(msg);
      }
    }
  });
  toBrowser.on('error', () => {});
  child.on('exit', () => {
    exited = true;
    for (const p of pending.values()) p.reject(new Error(`chromium exited; its stderr:\n${stderr.slice(-3000)}`));
    pending.clear();
  });

  const send = (method: string, params: Record<string, unknown> = {}, sessionId?: string): Promise<Record<string, unknown>> => {
    if (exited) return Promise.reject(new Error(`chromium is not running; its stderr:\n${stderr.slice(-3000)}`));
    const id = nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        pending.delete(id);
        reject(new Error(`CDP ${method}: no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      pending.set(id, {
        resolve: (r) => {
          clearTimeout(timer);
          resolve(r);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      toBrowser.write(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }) + '\0');
    });
  };
  const waitForEvent = (method: string, sessionId: string): Promise<void> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        listeners.delete(listener);
        reject(new Error(`no ${method} within ${timeoutMs} ms`));
      }, timeoutMs);
      const listener = (m: CdpMessage) => {
        if (m.method === method && m.sessionId === sessionId) {
          clearTimeout(timer);
          listeners.delete(listener);
          resolve();
        }
      };
      listeners.add(listener);
    });

  await send('Browser.getVersion'); // the pipe works

  return {
    async open() {
      const { targetId } = (await send('Target.createTarget', { url: 'about:blank' })) as { targetId: string };
      const { sessionId } = (await send('Target.attachToTarget', { targetId, flatten: true })) as { sessionId: string };
      const problems: PageProblem[] = [];
      listeners.add((m) => {
        if (m.sessionId !== sessionId || !m.params) return;
        const p = m.params as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
        if (m.method === 'Runtime.consoleAPICalled' && (p.type === 'error' || p.type === 'assert')) {
          problems.push({ source: 'console', text: (p.args ?? []).map((a: { value?: unknown; description?: string }) => String(a.value ?? a.description)).join(' ') });
        } else if (m.method === 'Runtime.exceptionThrown') {
          problems.push({ source: 'exception', text: String(p.exceptionDetails?.exception?.description ?? p.exceptionDetails?.text) });
        } else if (m.method === 'Log.entryAdded' && p.entry?.level === 'error') {
          problems.push({ source: `log:${p.entry.source}`, text: String(p.entry.text) });
        }
      });
      for (const domain of ['Page.enable', 'Runtime.enable', 'Log.enable']) await send(domain, {}, sessionId);
      return {
        async goto(url, width, height) {
          await send('Emulation.setDeviceMetricsOverride', { width, height, deviceScaleFactor: 1, mobile: width < 600 }, sessionId);
          const loaded = waitForEvent('Page.loadEventFired', sessionId);
          const nav = (await send('Page.navigate', { url }, sessionId)) as { errorText?: string };
          if (nav.errorText) throw new Error(`navigation to ${url} failed: ${nav.errorText}`);
          await loaded;
        },
        async evaluate<T>(expression: string) {
          const r = (await send('Runtime.evaluate', { expression, returnByValue: true, awaitPromise: true }, sessionId)) as {
            result: { value?: T };
            exceptionDetails?: { text: string; exception?: { description?: string } };
          };
          if (r.exceptionDetails) throw new Error(`evaluate: ${r.exceptionDetails.exception?.description ?? r.exceptionDetails.text}`);
          return r.result.value as T;
        },
        async screenshot() {
          const { data } = (await send('Page.captureScreenshot', { format: 'png', captureBeyondViewport: true }, sessionId)) as { data: string };
          return Buffer.from(data, 'base64');
        },
        problems: () => [...problems],
      };
    },
    async close() {
      if (!exited) {
        await send('Browser.close').catch(() => undefined);
        for (let i = 0; i < 50 && !exited; i++) await new Promise((r) => setTimeout(r, 100));
      }
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL'); // anything left in its group
      } catch {
        // already gone
      }
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
