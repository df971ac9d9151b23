// One request and its answer: the only writer of a response on an intercepted connection or the GOPROXY
// endpoint. It knows whether the headers were sent: before, an error becomes a status and a one-line
// text/plain reason the go command prints; after, the response is cut (the socket destroyed, so the client
// sees a truncated body, never a second status). However the exchange ends (answered, failed, relayed, the
// client gone), it is reported exactly once, to the ExchangeLog, which writes the audit row and the log line.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline, type Readable } from 'node:stream';
import { GateError, asGateError, describeCause, httpStatusFor } from '../errors.js';
import type { AuditOutcome } from '../audit/audit-log.js';
import type { ModuleRequest } from '../goproxy/request-path.js';
import type { ConnectionInfo } from '../intercept/connection-info.js';
import { pathAsAsked, pathOnly } from '../redact.js';

/** What the audit row and the log line say about one exchange. */
export interface ExchangeSummary {
  outcome: AuditOutcome;
  status: number;
  bytes: number;
  sha256?: string;
  upstreamUrl?: string;
  reason?: string;
  /** The error behind a failed exchange, for the admin log (never sent to the client). */
  error?: GateError;
  /** Answered by an upstream fetch another request had started. */
  joined?: boolean;
}

/** What the caller knows of an answer before it is sent: the exchange adds the status and the bytes that left. */
export type AnswerFacts = Omit<ExchangeSummary, 'status' | 'bytes' | 'sha256'> & {
  sha256?: string;
  /** A zip streamed while it arrived has its SHA-256 only once the body is whole: read when the exchange ends. */
  sealedSha256?: () => string | undefined;
};

/** What changes about an answer's facts when it ends otherwise than planned (cut off, client gone). */
interface Ending {
  outcome?: AuditOutcome;
  reason?: string;
  error?: GateError;
}

const AS_PLANNED: Ending = {};

/**
 * The summary as one object literal of a fixed shape, never a spread: Node 20's V8 gives the result of
 * `{ ...facts, status }` a hidden class of its own at every call. One new hidden class per request made the
 * audit and log code megamorphic and kept each request's garbage alive through the young-generation
 * collections that followed (1.8 MB promoted per scavenge, 6-10 ms pauses, under a keep-alive hit load).
 */
function summarize(facts: AnswerFacts, status: number, bytes: number, ending: Ending = AS_PLANNED): ExchangeSummary {
  return {
    outcome: ending.outcome ?? facts.outcome,
    status,
    bytes,
    sha256: facts.sha256 ?? facts.sealedSha256?.(),
    upstreamUrl: facts.upstreamUrl,
    reason: ending.reason ?? facts.reason,
    error: ending.error ?? facts.error,
    joined: facts.joined,
  };
}

export interface ExchangeLog {
  ended(exchange: Exchange, summary: ExchangeSummary): void;
}

export interface ReplyHead {
  status: number;
  headers: Record<string, string>;
}

let nextExchangeId = 1;

/** The methods the gateway answers (a 405's and OPTIONS *'s Allow): the Go module protocol's. */
export const ALLOWED_METHODS = 'GET, HEAD';

/** The audit outcome of a refused or failed request. */
export function outcomeFor(err: GateError): AuditOutcome {
  switch (err.code) {
    case 'NOT_FOUND':
      return 'not-found';
    case 'INTEGRITY':
      return 'tampered';
    case 'PRIVATE':
      return 'private';
    case 'DENIED':
      return 'denied';
    case 'MISDIRECTED':
      return 'refused';
    default:
      return 'error';
  }
}

/**
 * An answer's text as the go command shows it: one line of at most 1,000 characters, every character graphic
 * (or a tab). The go command prints a text/plain error's body only when it has no other character: one escape
 * code or NUL in an upstream's reason would hide the whole explanation.
 */
export function oneLine(text: string): string {
  return text
    .replace(/[\r\n]+/g, ' ')
    .slice(0, 1000)
    .replace(/(?!\t)[\p{C}\p{Zl}\p{Zp}]/gu, ' ');
}

export class Exchange {
  readonly id: string;
  readonly started = Date.now();
  /** 'open' until answered; a streamed or relayed answer reports itself when it is over. */
  private state: 'open' | 'streaming' | 'relaying' | 'ended' = 'open';
  private relayReason = '';
  private asked: ModuleRequest | undefined;

  constructor(
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    readonly conn: ConnectionInfo,
    /** The host the client asked for, or the upstream's host for the plain GOPROXY endpoint. */
    readonly host: string | null,
    private readonly log: ExchangeLog,
  ) {
    this.id = `${conn.id}.${(nextExchangeId++).toString(36)}`;
    res.once('close', () => this.onClose());
  }

  /**
   * The path without its query string or fragment (never logged: they may carry tokens), path parameters' values
   * masked: what the audit, the log and reasons show.
   */
  get path(): string {
    return pathOnly(this.req.url ?? '/');
  }

  /** The path as asked (path parameters included), without query string or fragment: to parse, never to show. */
  get askedPath(): string {
    return pathAsAsked(this.req.url ?? '/');
  }

  get method(): string {
    return this.req.method ?? 'GET';
  }

  /** What was asked, once the path parsed: every way this exchange ends is then audited with its module. */
  asks(request: ModuleRequest): void {
    this.asked = request;
  }

  /** The module request, once the path parsed (a client that leaves before the answer is audited with it too). */
  get request(): ModuleRequest | undefined {
    return this.asked;
  }

  /** Answers with an error: status and one line from the GateError, or cuts the response if it had begun. */
  fail(err: unknown, extra: { upstreamUrl?: string } = {}): void {
    const gate = asGateError(err);
    const status = httpStatusFor(gate);
    // a verbatim message (the private-module 403, a vulnerability denial) is the exact sentence the go command shows
    const text = gate.verbatim ? gate.message : `gomodgate: ${gate.message}`;
    // a 405 says which methods there are (RFC 9110, 15.5.6)
    this.writeText(status, text, status === 405 ? { allow: ALLOWED_METHODS } : undefined);
    this.end(summarize({ outcome: outcomeFor(gate), upstreamUrl: extra.upstreamUrl, reason: gate.message, error: gate }, status, 0));
  }

  /** A one-line text/plain answer that is not an error of the request (e.g. a CA download). */
  text(status: number, text: string, facts: AnswerFacts): void {
    this.writeText(status, text);
    this.end(summarize(facts, status, 0));
  }

  /** Sends a reply; the summary is completed with the bytes that left and whether the body was whole. */
  send(head: ReplyHead, body: Readable | Buffer | null, facts: AnswerFacts): void {
    if (this.res.headersSent || this.res.destroyed) {
      if (body && !Buffer.isBuffer(body)) body.destroy();
      this.res.destroy();
      this.end(summarize(facts, this.res.statusCode, 0, { outcome: 'error', reason: 'response already begun or client gone' }));
      return;
    }
    this.res.writeHead(head.status, head.headers);
    if (body === null || Buffer.isBuffer(body)) {
      this.res.end(body ?? undefined);
      this.end(summarize(facts, head.status, body?.length ?? 0));
      return;
    }
    this.state = 'streaming';
    let bytes = 0;
    body.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
    });
    const declared = head.headers['content-length'];
    pipeline(body, this.res, (err) => {
      // a client that closes right after the last byte still got the whole response
      const delivered = declared !== undefined && bytes === Number(declared) && this.res.writableEnded;
      if (!err || delivered) {
        this.end(summarize(facts, head.status, bytes));
        return;
      }
      this.res.destroy();
      if ((err as NodeJS.ErrnoException).code === 'ERR_STREAM_PREMATURE_CLOSE' && !(err instanceof GateError)) {
        // the client went away mid-body (a reset, Ctrl-C): its business, not the gateway's error (an info line)
        this.end(summarize(facts, head.status, bytes, { outcome: 'error', reason: `client closed the connection during the answer, after ${bytes} bytes` }));
        return;
      }
      const cause = asGateError(err);
      // a zip refused after it began to stream is still audited as tampered
      const outcome = cause.code === 'INTEGRITY' ? outcomeFor(cause) : 'error';
      this.end(summarize(facts, head.status, bytes, { outcome, reason: `response interrupted: ${err instanceof GateError ? err.message : describeCause(err)}`, error: cause }));
    });
  }

  /** The request was handed on unchanged (relayed upstream): report it when the response is over. */
  relayed(reason: string): void {
    this.state = 'relaying';
    this.relayReason = reason;
  }

  private onClose(): void {
    if (this.state === 'relaying') {
      const whole = this.res.writableFinished;
      this.end({ outcome: whole ? 'forwarded' : 'error', status: this.res.statusCode, bytes: 0, reason: whole ? this.relayReason : `${this.relayReason}; interrupted` });
    } else if (this.state === 'open') {
      // the client left before anything was answered
      this.end({ outcome: 'error', status: 499, bytes: 0, reason: 'client closed the connection before the answer' });
    }
  }

  private writeText(status: number, text: string, extraHeaders?: Record<string, string>): void {
    if (this.res.headersSent || this.res.destroyed) {
      this.res.destroy();
      return;
    }
    const body = Buffer.from(oneLine(text) + '\n');
    this.res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': String(body.length), 'cache-control': 'no-store', ...extraHeaders });
    this.res.end(this.method === 'HEAD' ? undefined : body);
  }

  private end(summary: ExchangeSummary): void {
    if (this.state === 'ended') return;
    this.state = 'ended';
    this.log.ended(this, summary);
  }
}
