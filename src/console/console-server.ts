// The security teams' web console: its own HTTPS listener (--console-listen), read-only pages over the audit
// trail, sign-in (named users, or an SSO proxy's user header trusted only from the proxy's addresses), sessions
// and CSRF tokens, exports in the CLI's formats, and the live tail (server-sent events). `reply` is the one
// writer of every response here: it adds the strict Content-Security-Policy and the other security headers.
// Every sign-in (ok or failed) and every export is one audit row (through the one row builder) and one log
// line. Its pages read the index through ConsoleReads (a thread of its own, off the gateway's event loop). It
// never writes to the cache or the policy; the only state it keeps is its sessions.
import https from 'node:https';
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import { GateError, describeCause } from '../errors.js';
import type { AuditLog } from '../audit/audit-log.js';
import { AUDIT_OUTCOMES } from '../audit/audit-log.js';
import { auditRow } from '../audit/audit-row.js';
import { CidrSet, unmappedAddress } from '../cidr.js';
import type { UpstreamHealth } from '../admin/metrics.js';
import type { ModuleClassification } from '../policy/module-policy.js';
import { auditWhere, parseTimeArgument, type AuditFilter } from '../tools/audit-query.js';
import { affectedFetchesCsvDocument, affectedFetchesJsonDocument, auditRowsCsvDocument, auditRowsJsonDocument, groupsCsvDocument, groupsJsonDocument } from '../tools/audit-format.js';
import type { ConsoleReads } from './console-reads.js';
import type { ConsoleUsers } from './console-users.js';
import { ConsoleSessions, SESSION_COOKIE, cookieValue, sessionCookie, type Session } from './console-sessions.js';
import type { SignInLimiter } from './sign-in-limiter.js';
import type { LiveTail } from './console-live.js';
import type { ConsoleTlsMaterial } from './console-certificate.js';
import { page } from './console-html.js';
import { pathOnly } from '../redact.js';
import {
  PAGE_SIZE, advisoriesBody, advisoryBody, clientBody, errorBody, eventsBody, moduleBody, overviewBody, searchBody, signInBody,
} from './console-pages.js';

export const CONSOLE_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy': CONSOLE_CSP,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
  'strict-transport-security': 'max-age=31536000',
  'cache-control': 'no-store',
};

const ASSETS: Record<string, string> = {
  '/assets/console.css': 'text/css; charset=utf-8',
  '/assets/console.js': 'text/javascript; charset=utf-8',
};

export interface ConsoleServerOptions {
  host: string;
  port: number;
  tls: ConsoleTlsMaterial;
  /** The console's reads of the index, off the event loop (console-reads.ts); closed with the server. */
  reads: ConsoleReads;
  users: ConsoleUsers;
  sessions: ConsoleSessions;
  limiter: SignInLimiter;
  /** Trust `header` as the user, only from a peer in `proxies`. */
  sso: { header: string; proxies: CidrSet } | null;
  /** Where sign-ins and exports are recorded (record only). */
  audit: AuditLog;
  live: LiveTail;
  upstreamHealth: () => UpstreamHealth[];
  classify: (module: string, version: string) => ModuleClassification;
  log: Logger;
  now?: () => number;
  /** Directory of console.css and console.js (default: src/console/assets of this checkout). */
  assetsDir?: string;
}

export interface ConsoleServer {
  port: number;
  /** Serves a new certificate to new connections (after a CA rotation). */
  setCertificate(tls: ConsoleTlsMaterial): void;
  close(): Promise<void>;
}

interface Reply {
  status: number;
  type: string;
  body: string | Buffer;
  headers?: Record<string, string>;
}

const HTML = 'text/html; charset=utf-8';
const TEXT = 'text/plain; charset=utf-8';
const MAX_FORM_BYTES = 8192;
const MAX_EXPORT_ROWS = 100_000;

function reply(req: http.IncomingMessage, res: http.ServerResponse, r: Reply): void {
  const body = typeof r.body === 'string' ? Buffer.from(r.body) : r.body;
  res.writeHead(r.status, { ...SECURITY_HEADERS, 'content-type': r.type, 'content-length': String(body.length), ...r.headers });
  res.end(req.method === 'HEAD' ? undefined : body);
}

function readForm(req: http.IncomingMessage): Promise<URLSearchParams> {
  return new Promise((resolve, reject) => {
    let size = 0;
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_FORM_BYTES) {
        reject(new GateError('BAD_PATH', 'the form is too large'));
        req.destroy();
        return;
      }
      parts.push(c);
    });
    req.on('end', () => resolve(new URLSearchParams(Buffer.concat(parts).toString('utf8'))));
    req.on('error', reject);
  });
}

/** A user name from the SSO header: printable, at most 200 characters; else null. */
function ssoUserName(v: string | string[] | undefined): string | null {
  const s = Array.isArray(v) ? v[0] : v;
  if (!s) return null;
  const t = s.trim();
  return t && t.length <= 200 && /^[\x21-\x7e][\x20-\x7e]*$/.test(t) ? t : null;
}

/** "ts.id" of the last row of the previous page. */
function parseBefore(v: string | null): { ts: number; id: number } | undefined {
  const m = v ? /^(\d{1,15})\.(\d{1,15})$/.exec(v) : null;
  return m ? { ts: Number(m[1]), id: Number(m[2]) } : undefined;
}

function filterText(q: URLSearchParams) {
  return {
    module: (q.get('module') ?? '').trim(),
    version: (q.get('version') ?? '').trim(),
    client: (q.get('client') ?? '').trim(),
    outcome: (q.get('outcome') ?? '').trim(),
    since: (q.get('since') ?? '').trim(),
  };
}

function filterOf(f: ReturnType<typeof filterText>, now: number): AuditFilter {
  const filter: AuditFilter = {
    modules: f.module ? [f.module] : [],
    versions: f.version ? [f.version] : [],
    clients: f.client ? [f.client] : [],
    outcomes: f.outcome ? [f.outcome] : [],
  };
  if (f.since) filter.since = parseTimeArgument(f.since, now, 'since');
  return filter;
}

/** Filters as one line for the export's audit row and log line. */
function describeFilter(f: ReturnType<typeof filterText>): string {
  const parts = Object.entries(f).filter(([, v]) => v !== '').map(([k, v]) => `${k}=${v}`);
  return parts.length ? parts.join(' ') : 'no filter';
}

function hourLabel(ts: number): string {
  return new Date(ts).toISOString().slice(11, 16);
}

function dayLabel(ts: number): string {
  return new Date(ts).toISOString().slice(5, 10);
}

export async function startConsoleServer(o: ConsoleServerOptions): Promise<ConsoleServer> {
  const now = o.now ?? Date.now;
  const assetsDir = o.assetsDir ?? new URL('../../../src/console/assets/', import.meta.url).pathname;
  const assets = new Map(Object.entries(ASSETS).map(([path, type]) => [path, { type, body: readFileSync(`${assetsDir}${path.slice('/assets/'.length)}`) }]));

  const record = (req: http.IncomingMessage, peer: string, outcome: 'signed-in' | 'sign-in-failed' | 'exported', status: number, reason: string, bytes = 0) => {
    o.audit.record(auditRow({ client: peer, host: 'console', method: req.method ?? 'GET', path: req.url ?? '/', kind: 'console', outcome, status, bytes, reason }));
  };

  const frame = (title: string, s: Session | null, active?: string) => ({ title, user: s?.user ?? null, signOutCsrf: s?.via === 'password' ? s.csrf : null, active });

  /** Whether a password session's user still exists with the password it signed in with (an unreadable users file: no). */
  function stillCredited(s: Session): boolean {
    try {
      return s.user !== null && o.users.credential(s.user) === s.credential;
    } catch {
      return false;
    }
  }

  async function signIn(req: http.IncomingMessage, res: http.ServerResponse, peer: string, session: Session | null): Promise<void> {
    const form = await readForm(req);
    if (!ConsoleSessions.csrfMatches(session, form.get('csrf') ?? undefined)) {
      o.log.warn({ client: peer }, 'console sign-in refused: missing or wrong CSRF token');
      reply(req, res, { status: 403, type: TEXT, body: 'gomodgate console: the sign-in form expired or did not come from this console (missing or wrong CSRF token); reload the sign-in page\n' });
      return;
    }
    const user = (form.get('user') ?? '').trim().slice(0, 64);
    const password = form.get('password') ?? '';
    const wait = o.limiter.begin(peer);
    if (wait > 0) {
      record(req, peer, 'sign-in-failed', 429, `user ${JSON.stringify(user)}: too many failed sign-ins from this address`);
      o.log.warn({ client: peer, user }, 'console sign-in refused: too many failed attempts');
      reply(req, res, { status: 429, type: HTML, headers: { 'retry-after': String(wait) }, body: page(frame('Sign in', null), signInBody(session!.csrf, `Too many failed sign-ins from this address: try again in ${wait} s.`, o.sso !== null)) });
      return;
    }
    // read before the check: a password replaced meanwhile ends this session at its next request, never the reverse
    const credential = o.users.credential(user);
    let ok = false;
    try {
      ok = await o.users.verify(user, password);
    } finally {
      o.limiter.finished(peer, ok);
    }
    if (!ok) {
      record(req, peer, 'sign-in-failed', 401, `user ${JSON.stringify(user)}: wrong user name or password`);
      o.log.warn({ client: peer, user }, 'console sign-in failed: wrong user name or password');
      reply(req, res, { status: 401, type: HTML, body: page(frame('Sign in', null), signInBody(session!.csrf, 'Wrong user name or password.', o.sso !== null)) });
      return;
    }
    const s = o.sessions.signIn(session, user, 'password', credential);
    record(req, peer, 'signed-in', 303, `user ${JSON.stringify(user)} signed in with a password`);
    o.log.info({ client: peer, user }, 'console sign-in');
    reply(req, res, { status: 303, type: TEXT, body: 'signed in\n', headers: { location: '/', 'set-cookie': sessionCookie(s.id, null) } });
  }

  async function exportTable(req: http.IncomingMessage, res: http.ServerResponse, peer: string, s: Session, path: string, q: URLSearchParams): Promise<void> {
    const m = /^\/export\/(rows|groups|affected)\.(csv|json)$/.exec(path);
    if (!m) return reply(req, res, { status: 404, type: TEXT, body: 'gomodgate console: no such export\n' });
    const [, what, format] = m as unknown as [string, 'rows' | 'groups' | 'affected', 'csv' | 'json'];
    if (what === 'affected') return exportAffected(req, res, peer, s, format, q);
    const f = filterText(q);
    const filter = filterOf(f, now());
    const limit = Math.min(MAX_EXPORT_ROWS, Math.max(1, Number(q.get('limit') ?? 1000) || 1000));
    let body: string;
    let count: number;
    if (what === 'rows') {
      // the latest `limit`, oldest first: the rows and order of `gomodgate audit --limit N`, read with the page's plan
      const rows = (await o.reads.read('rows', filter, limit)).reverse();
      body = format === 'csv' ? auditRowsCsvDocument(rows) : auditRowsJsonDocument(rows);
      count = rows.length;
    } else {
      const groups = await o.reads.read('groups', filter, limit); // `gomodgate audit --group --limit N`
      body = format === 'csv' ? groupsCsvDocument(groups) : groupsJsonDocument(groups);
      count = groups.length;
    }
    const reason = `user ${JSON.stringify(s.user)} exported ${count} audit ${what === 'rows' ? 'rows' : 'groups'} as ${format.toUpperCase()} (${describeFilter(f)})`;
    const data = Buffer.from(body);
    record(req, peer, 'exported', 200, reason, data.length);
    o.log.info({ client: peer, user: s.user, export: what, format, rows: count, filter: describeFilter(f) }, 'console export');
    reply(req, res, {
      status: 200,
      type: format === 'csv' ? 'text/csv; charset=utf-8' : 'application/json; charset=utf-8',
      body: data,
      headers: { 'content-disposition': `attachment; filename="gomodgate-${what === 'rows' ? 'audit' : 'audit-groups'}.${format}"` },
    });
  }

  /** One advisory's affected fetches (or all advisories'): the bytes of `gomodgate vulns --advisory ID --csv|--json`. */
  async function exportAffected(req: http.IncomingMessage, res: http.ServerResponse, peer: string, s: Session, format: 'csv' | 'json', q: URLSearchParams): Promise<void> {
    const advisory = (q.get('advisory') ?? '').trim() || undefined;
    const limit = Math.min(MAX_EXPORT_ROWS, Math.max(1, Number(q.get('limit') ?? 1000) || 1000));
    const rows = await o.reads.read('affected', { advisory, limit });
    const data = Buffer.from(format === 'csv' ? affectedFetchesCsvDocument(rows) : affectedFetchesJsonDocument(rows));
    const what = advisory ? `advisory ${advisory}` : 'every advisory';
    record(req, peer, 'exported', 200, `user ${JSON.stringify(s.user)} exported ${rows.length} affected fetches of ${what} as ${format.toUpperCase()}`, data.length);
    o.log.info({ client: peer, user: s.user, export: 'affected', format, rows: rows.length, advisory }, 'console export');
    reply(req, res, {
      status: 200,
      type: format === 'csv' ? 'text/csv; charset=utf-8' : 'application/json; charset=utf-8',
      body: data,
      headers: { 'content-disposition': `attachment; filename="gomodgate-affected${advisory ? '-' + advisory.replace(/[^A-Za-z0-9-]/g, '_') : ''}.${format}"` },
    });
  }

  async function overview(q: URLSearchParams): Promise<string> {
    const range = q.get('range') === '7d' ? '7d' : '24h';
    const t = now();
    const bucketMs = range === '24h' ? 3600_000 : 6 * 3600_000;
    const n = range === '24h' ? 24 : 28;
    const until = Math.floor(t / bucketMs) * bucketMs + bucketMs;
    const since = until - n * bucketMs;
    return overviewBody({
      range,
      buckets: await o.reads.read('traffic', since, until, bucketMs),
      bucketLabel: range === '24h' ? hourLabel : dayLabel,
      labelEvery: range === '24h' ? 3 : 4,
      upstreams: o.upstreamHealth(),
      events: await o.reads.read('securityEvents', 10),
    });
  }

  async function route(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const peer = unmappedAddress(req.socket.remoteAddress ?? '');
    const u = new URL(req.url ?? '/', 'https://console.invalid');
    const path = u.pathname;
    const q = u.searchParams;
    const method = req.method ?? 'GET';

    const asset = assets.get(path);
    if (asset && (method === 'GET' || method === 'HEAD')) {
      return reply(req, res, { status: 200, type: asset.type, body: asset.body, headers: { 'cache-control': 'no-cache' } });
    }
    if (path === '/favicon.ico') return reply(req, res, { status: 204, type: TEXT, body: '' });

    let session = o.sessions.get(cookieValue(req.headers.cookie, SESSION_COOKIE));
    if (session?.via === 'password' && !stillCredited(session)) {
      o.sessions.end(session);
      o.log.info({ client: peer, user: session.user }, 'console session ended: the user was removed or their password replaced');
      session = null;
    }
    const cookies: string[] = [];
    if (o.sso && o.sso.proxies.has(peer)) {
      const user = ssoUserName(req.headers[o.sso.header.toLowerCase()]);
      if (user && session?.user !== user) {
        session = o.sessions.signIn(session, user, 'sso');
        cookies.push(sessionCookie(session.id, null));
        record(req, peer, 'signed-in', 200, `user ${JSON.stringify(user)} signed in through the SSO proxy (${o.sso.header})`);
        o.log.info({ client: peer, user, via: 'sso' }, 'console sign-in');
      }
    }
    const withCookies = (r: Reply): Reply => (cookies.length ? { ...r, headers: { ...r.headers, 'set-cookie': cookies.join(', ') } } : r);
    const send = (r: Reply) => reply(req, res, withCookies(r));

    if (path === '/sign-in') {
      if (method === 'POST') return signIn(req, res, peer, session?.user ? null : session);
      if (session?.user) return send({ status: 303, type: TEXT, body: 'signed in\n', headers: { location: '/' } });
      if (!session) {
        session = o.sessions.create(null);
        cookies.push(sessionCookie(session.id, null));
      }
      return send({ status: 200, type: HTML, body: page(frame('Sign in', null), signInBody(session.csrf, null, o.sso !== null)) });
    }
    if (path === '/sign-out' && method === 'POST') {
      const form = await readForm(req);
      if (!ConsoleSessions.csrfMatches(session, form.get('csrf') ?? undefined)) {
        return send({ status: 403, type: TEXT, body: 'gomodgate console: missing or wrong CSRF token; reload the page and sign out again\n' });
      }
      o.sessions.end(session!);
      o.log.info({ client: peer, user: session!.user }, 'console sign-out');
      return reply(req, res, { status: 303, type: TEXT, body: 'signed out\n', headers: { location: '/sign-in', 'set-cookie': sessionCookie('', 0) } });
    }
    if (method !== 'GET' && method !== 'HEAD') {
      return send({ status: 405, type: TEXT, body: 'gomodgate console: read-only (GET), except signing in and out\n', headers: { allow: 'GET, HEAD' } });
    }
    if (!session?.user) {
      if (path.startsWith('/export/') || path === '/events/stream') return send({ status: 401, type: TEXT, body: 'gomodgate console: sign in first\n' });
      return send({ status: 303, type: TEXT, body: 'sign in first\n', headers: { location: '/sign-in' } });
    }
    const s = session;
    const html = (title: string, body: string, active?: string, status = 200) => send({ status, type: HTML, body: page(frame(title, s, active), body) });

    try {
      switch (path) {
        case '/':
          return html('Overview', await overview(q), '/');
        case '/search': {
          const module = (q.get('module') ?? '').trim();
          const version = (q.get('version') ?? '').trim();
          const pageNo = Math.max(1, Math.min(10_000, Number(q.get('page') ?? 1) || 1));
          if (!module && !version) return html('Search', searchBody({ module, version, error: null, results: null, pageNo }), '/search');
          const results = await o.reads.read('versions', { modules: module ? [module] : [], versions: version ? [version] : [] }, PAGE_SIZE, (pageNo - 1) * PAGE_SIZE);
          return html('Search', searchBody({ module, version, error: null, results, pageNo }), '/search');
        }
        case '/module': {
          const module = q.get('path') ?? '';
          const version = q.get('version') ?? '';
          if (!module || !version) return html('Module', errorBody('Give a module path and a version (path=…&version=…).'), undefined, 400);
          const before = parseBefore(q.get('before'));
          return html(
            `${module}@${version}`,
            moduleBody(
              {
                module,
                version,
                objects: await o.reads.read('objects', module, version),
                clients: await o.reads.read('clientsOf', module, version, PAGE_SIZE),
                rows: await o.reads.read('fetchesOf', module, version, PAGE_SIZE, before),
                policy: o.classify(module, version),
                advisories: await o.reads.read('advisoriesOf', module, version),
              },
              q.get('before'),
            ),
          );
        }
        case '/client': {
          const address = (q.get('address') ?? '').trim();
          if (!address) return html('Client', errorBody('Give a client address (address=…).'), undefined, 400);
          const rows = await o.reads.read('rows', { clients: [address] }, PAGE_SIZE, parseBefore(q.get('before')));
          return html(`Client ${address}`, clientBody(address, await o.reads.read('versionsOfClient', address, PAGE_SIZE), rows));
        }
        case '/events': {
          const f = filterText(q);
          let rows = null;
          let error = null;
          try {
            rows = await o.reads.read('rows', filterOf(f, now()), PAGE_SIZE, parseBefore(q.get('before')));
          } catch (err) {
            if (!(err instanceof GateError && err.code === 'CONFIG_INVALID')) throw err;
            error = err.message;
          }
          return html('Events', eventsBody(f, rows, error, AUDIT_OUTCOMES), '/events', error ? 400 : 200);
        }
        case '/events/stream': {
          const filter = filterOf(filterText(q), now());
          auditWhere(filter); // a filter that does not compile is a 400 here, as on the Events page (CONFIG_INVALID below)
          res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': 'text/event-stream; charset=utf-8', 'x-accel-buffering': 'no' });
          // a HEAD gets the headers alone: it never holds one of the live view's places
          if (method === 'HEAD') return void res.end();
          if (!o.live.open(res, filter)) res.end('event: busy\ndata: too many live views are open\n\n');
          return;
        }
        case '/advisories': {
          const search = (q.get('search') ?? '').trim().slice(0, 200);
          const withdrawn = q.get('withdrawn') === '1';
          const pageNo = Math.max(1, Math.min(10_000, Number(q.get('page') ?? 1) || 1));
          const list = await o.reads.read('advisories', { search, includeWithdrawn: withdrawn, limit: PAGE_SIZE, offset: (pageNo - 1) * PAGE_SIZE });
          return html('Advisories', advisoriesBody(search, withdrawn, list, pageNo), '/advisories');
        }
        case '/advisory': {
          const id = (q.get('id') ?? '').trim();
          const a = id ? await o.reads.read('advisory', id) : null;
          if (!a) return html('Advisory', errorBody(`No advisory ${id || '(none given)'} in the vulnerability database.`), '/advisories', 404);
          const limit = 500;
          return html(a.id, advisoryBody(a, await o.reads.read('affected', { advisory: a.id, limit }), limit), '/advisories');
        }
        default:
          if (path.startsWith('/export/')) return await exportTable(req, res, peer, s, path, q);
          return html('Not found', errorBody('No such page.'), undefined, 404);
      }
    } catch (err) {
      if (err instanceof GateError && err.code === 'CONFIG_INVALID') {
        return html('Not understood', errorBody(err.message.replace(/^--/, '')), undefined, 400);
      }
      throw err;
    }
  }

  const server = https.createServer({ key: o.tls.key, cert: o.tls.cert, requestTimeout: 30_000, headersTimeout: 15_000 }, (req, res) => {
    route(req, res).catch((err: unknown) => {
      o.log.error({ err: describeCause(err), path: pathOnly(req.url ?? '') }, 'console request failed');
      if (!res.headersSent) reply(req, res, { status: err instanceof GateError && err.code === 'BAD_PATH' ? 400 : 500, type: TEXT, body: 'gomodgate console: the request failed; see the gateway log\n' });
      else res.destroy();
    });
  });
  server.on('tlsClientError', (_err, socket) => socket.destroy());
  server.on('clientError', (_err, socket) => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(new GateError('CONFIG_INVALID', `cannot listen on ${o.host}:${o.port} for the console (${describeCause(err)}); choose another --console-listen`, { cause: err })));
    server.listen(o.port, o.host, () => {
      server.removeAllListeners('error');
      server.on('error', (err) => o.log.error({ err: describeCause(err) }, 'console listener error'));
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    setCertificate(tls) {
      server.setSecureContext({ key: tls.key, cert: tls.cert });
    },
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await o.reads.close();
    },
  };
}
