// Requests to the web console as a client would make them, without a browser: over TLS verified with the
// gateway CA, from a chosen loopback address, and the password sign-in (pre-session cookie, CSRF token, form).
// Bounded (15 s per request); never asserts anything itself.
import type http from 'node:http';
import https from 'node:https';

export interface ConsoleAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A request to the console over TLS verified with the gateway CA, from a chosen loopback address. */
export function consoleRequest(port: number, ca: string, path: string, opts: { from?: string; headers?: Record<string, string>; method?: string; body?: string } = {}): Promise<ConsoleAnswer> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      { host: '127.0.0.1', port, path, method: opts.method ?? 'GET', ca, localAddress: opts.from ?? '127.0.0.1', headers: opts.headers, agent: false, timeout: 15_000 },
      (res) => {
        const parts: Buffer[] = [];
        res.on('data', (c: Buffer) => parts.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** The `name=value` of the first Set-Cookie of an answer, for a Cookie header; '' when there is none. */
function cookieOf(answer: ConsoleAnswer): string {
  const set = answer.headers['set-cookie'];
  return (Array.isArray(set) ? set[0] : set ?? '').split(';')[0]!;
}

/** Signs in with the sign-in form; returns the answer to the POST and the session cookie it set ('' when none). */
export async function consoleSignIn(port: number, ca: string, user: string, password: string): Promise<{ answer: ConsoleAnswer; cookie: string }> {
  const form = await consoleRequest(port, ca, '/sign-in');
  const csrf = /name="csrf" value="([^"]+)"/.exec(form.body)?.[1] ?? '';
  const answer = await consoleRequest(port, ca, '/sign-in', {
    method: 'POST',
    headers: { cookie: cookieOf(form), 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ csrf, user, password }).toString(),
  });
  return { answer, cookie: cookieOf(answer) };
}
