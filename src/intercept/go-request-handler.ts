// The HTTP face of the module service: turns one request on an intercepted connection (or on the plain
// GOPROXY endpoint) into a ModuleQuery, writes the ModuleReply, and records exactly one audit row and one
// log line for it. Errors reach the go command as a status and a one-line text/plain reason.
// Never echoes internal error text to clients; never logs credentials, cookies or query strings.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline } from 'node:stream';
import type { Logger } from 'pino';
import { GateError, httpStatusFor, describeCause } from '../errors.js';
import { parseProxyPath, parseSumdbDirectPath, type ModuleRequest, type ParseResult } from '../goproxy/request-path.js';
import type { ModuleService, ModuleReply } from '../service/module-service.js';
import type { UpstreamChain } from '../upstream/upstream-chain.js';
import type { AuditLog, AuditOutcome } from '../audit/audit-log.js';
import { formatAddress, type ConnectionInfo } from './connection-info.js';

export interface GoRoute {
  /** The host the client asked for (SNI / Host), or the upstream's host for the plain GOPROXY endpoint. */
  host: string;
  upstream: UpstreamChain;
  /** 'goproxy': GOPROXY protocol paths (with /sumdb/NAME/...); 'sumdb-direct': a checksum DB host's own paths. */
  protocol: 'goproxy' | 'sumdb-direct';
}

let nextRequestId = 1;

export class GoRequestHandler {
  constructor(
    private readonly service: ModuleService,
    private readonly audit: AuditLog,
    private readonly log: Logger,
  ) {}

  handle(req: IncomingMessage, res: ServerResponse, conn: ConnectionInfo, route: GoRoute, forward: (() => void) | null): void {
    const started = Date.now();
    const rawPath = (req.url ?? '/').split('?')[0]!;
    const requestId = `${conn.id}.${nextRequestId++}`;
    const finish = (outcome: AuditOutcome, status: number, extra: Partial<{ request: ModuleRequest; bytes: number; sha256: string; upstreamUrl: string; reason: string }> = {}) => {
      const r = extra.request;
      const record = {
        ts: started,
        client: conn.client.address,
        origDst: formatAddress(conn.originalDestination),
        host: route.host,
        method: req.method ?? null,
        path: rawPath.slice(0, 1024),
        module: r?.module ?? null,
        version: r?.version ?? null,
        kind: r?.kind ?? null,
        outcome,
        status,
        bytes: extra.bytes ?? 0,
        durationMs: Date.now() - started,
        sha256: extra.sha256 ?? null,
        upstreamUrl: extra.upstreamUrl ?? null,
        reason: extra.reason ?? null,
      };
      this.audit.record(record);
      const level = outcome === 'error' && status >= 500 ? 'warn' : 'info';
      this.log[level]({ reqId: requestId, arrival: conn.arrival, ...record }, 'go request');
    };

    const method = req.method ?? 'GET';
    let parsed: ParseResult;
    try {
      parsed = route.protocol === 'sumdb-direct' ? parseSumdbDirectPath(rawPath, route.host) : parseProxyPath(rawPath);
    } catch (err) {
      parsed = { ok: false, status: 400, reason: `cannot parse request path: ${describeCause(err)}` };
    }
    if (parsed.ok === 'other' || (method !== 'GET' && method !== 'HEAD')) {
      if (forward) {
        res.once('close', () => finish('forwarded', res.statusCode, { reason: 'not a Go module request; relayed unchanged' }));
        forward();
      } else {
        this.sendText(res, 404, `gomodgate: ${rawPath} is not a Go module request`);
        finish('error', 404, { reason: 'not a Go module request' });
      }
      return;
    }
    if (parsed.ok === false) {
      this.sendText(res, parsed.status, `gomodgate: ${parsed.reason}`);
      finish('error', parsed.status, { reason: parsed.reason });
      return;
    }
    const request = parsed.request;
    this.service.answer({ request, upstream: route.upstream, method: method as 'GET' | 'HEAD' }).then(
      (reply) => this.sendReply(res, reply, (bytes, complete, err) => {
        const outcome: AuditOutcome = complete ? reply.outcome : 'error';
        finish(outcome, reply.status, {
          request,
          bytes,
          sha256: reply.sha256,
          upstreamUrl: reply.upstreamUrl,
          reason: complete ? undefined : `response interrupted: ${err ? describeCause(err) : 'client went away'}`,
        });
      }),
      (err: unknown) => {
        const gate = err instanceof GateError ? err : new GateError('STORE_IO', 'internal error; see the gateway log', { cause: err });
        const status = httpStatusFor(gate);
        // the private-module 403 is the exact sentence the go command shows the developer
        this.sendText(res, status, gate.code === 'PRIVATE' && status === 403 ? gate.message : `gomodgate: ${gate.message}`);
        if (gate.code === 'INTEGRITY') {
          this.log.error({ reqId: requestId, module: request.module, version: request.version, kind: request.kind, reason: gate.message, cause: gate.cause ? describeCause(gate.cause) : undefined }, 'integrity failure: object refused');
        } else if (gate.code === 'PRIVATE' || gate.code === 'DENIED') {
          this.log.info({ reqId: requestId, module: request.module, version: request.version, reason: gate.message }, gate.code === 'PRIVATE' ? 'private module kept inside' : 'denied by policy');
        } else if (!(err instanceof GateError) || gate.cause) {
          this.log.warn({ reqId: requestId, err: describeCause(gate.cause ?? err) }, 'request failed');
        }
        const outcome: AuditOutcome = ({ NOT_FOUND: 'not-found', INTEGRITY: 'tampered', PRIVATE: 'private', DENIED: 'denied' } as Partial<Record<string, AuditOutcome>>)[gate.code] ?? 'error';
        finish(outcome, status, { request, reason: gate.message });
      },
    );
  }

  private sendReply(res: ServerResponse, reply: ModuleReply, done: (bytes: number, complete: boolean, err?: unknown) => void): void {
    res.writeHead(reply.status, reply.headers);
    if (reply.body === null) {
      res.end();
      done(0, true);
      return;
    }
    if (Buffer.isBuffer(reply.body)) {
      res.end(reply.body);
      done(reply.body.length, true);
      return;
    }
    let bytes = 0;
    reply.body.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
    });
    pipeline(reply.body, res, (err) => {
      // a client that closes right after the last byte still got the whole response
      const delivered = res.writableEnded && reply.headers['content-length'] !== undefined && bytes === Number(reply.headers['content-length']);
      if (err && !delivered) res.destroy();
      done(bytes, !err || delivered, err);
    });
  }

  sendText(res: ServerResponse, status: number, text: string): void {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const body = Buffer.from(text.replace(/[\r\n]+/g, ' ').slice(0, 1000) + '\n');
    res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': String(body.length), 'cache-control': 'no-store' });
    res.end(body);
  }
}
