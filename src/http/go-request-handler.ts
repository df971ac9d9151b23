// The HTTP face of the module service: turns one exchange on an intercepted connection (or on the plain
// GOPROXY endpoint) into a ModuleQuery and answers it through the Exchange, the one writer of responses.
// Requests that are not Go module requests are relayed unchanged when the connection allows it; a module path
// is answered for GET and HEAD only (405 otherwise), never relayed. Each 200
// answered to a GET from upstream (not a hit) is told to the prefetcher, which fetches ahead what the go
// command asks next.
// Paths are parsed once and remembered (ParsedPaths): a hit asks for the same few paths again and again.
// Never echoes internal error text to clients, nor a path parameter's value (";jsessionid=..."): a path is parsed
// as asked, but a refusal of one with path parameters quotes it as the audit keeps it (values masked).
import { GateError, describeCause } from '../errors.js';
import { parseProxyPath, parseSumdbDirectPath, type ParseResult } from '../goproxy/request-path.js';
import { quoteForReason } from '../goproxy/protocol-error.js';
import type { ModuleService } from '../service/module-service.js';
import type { Prefetcher } from '../service/prefetch.js';
import type { UpstreamChain } from '../upstream/upstream-chain.js';
import type { Exchange } from './exchange.js';
import { ParsedPaths } from './parsed-paths.js';

export interface GoRoute {
  /** The host the client asked for (SNI / Host), or the upstream's host for the plain GOPROXY endpoint. */
  host: string;
  upstream: UpstreamChain;
  /** 'goproxy': GOPROXY protocol paths (with /sumdb/NAME/...); 'sumdb-direct': a checksum DB host's own paths. */
  protocol: 'goproxy' | 'sumdb-direct';
}

/** Relays a request that is not a Go module request, unchanged, to where the client meant it to go. */
export type Forward = (exchange: Exchange) => void;

export class GoRequestHandler {
  private readonly parsed = new ParsedPaths();

  constructor(
    private readonly service: ModuleService,
    /** Told of each 200 answered to a GET from upstream, to fetch ahead what the go command asks next. */
    private readonly prefetch: Pick<Prefetcher, 'answered'> | null = null,
  ) {}

  handle(exchange: Exchange, route: GoRoute, forward: Forward | null): void {
    const method = exchange.method;
    let parsed: ParseResult;
    const path = exchange.askedPath;
    try {
      parsed = this.parsed.get(route.protocol, route.host, path, () =>
        route.protocol === 'sumdb-direct' ? parseSumdbDirectPath(path, route.host) : parseProxyPath(path));
    } catch (err) {
      parsed = { ok: false, status: 400, reason: `cannot parse request path: ${describeCause(err)}` };
    }
    // Only a path that is no Go module request at all is relayed. A module path asked with another method is
    // refused here: relayed, it would pass by the policy, the private patterns and every check of the answer.
    if (parsed.ok === 'other' && forward) {
      forward(exchange);
      return;
    }
    if (method !== 'GET' && method !== 'HEAD') {
      exchange.fail(new GateError('METHOD', `${method} is not a Go module request method (GET or HEAD)`));
      return;
    }
    if (parsed.ok === 'other') {
      exchange.fail(new GateError('NOT_FOUND', `${exchange.path} is not a Go module request`));
      return;
    }
    if (parsed.ok === false) {
      // the parser quotes what it refused, decoded or case-escaped: a path parameter's value must not be in it
      const shown = exchange.path;
      const reason = shown === path ? parsed.reason : `invalid request path ${quoteForReason(shown)}: a Go module request has no path parameters (;name=value)`;
      exchange.fail(new GateError(parsed.status === 404 ? 'NOT_FOUND' : 'BAD_PATH', reason));
      return;
    }
    const request = parsed.request;
    exchange.asks(request);
    this.service.answer({ request, upstream: route.upstream, method: method as 'GET' | 'HEAD' }).then(
      (reply) => {
        // a streamed zip's SHA-256 exists once its body is whole: the exchange asks sealedSha256 when it ends
        exchange.send(reply, reply.body, { outcome: reply.outcome, upstreamUrl: reply.upstreamUrl, reason: reply.warning, sha256: reply.sha256, sealedSha256: reply.sealedSha256, joined: reply.joined });
        // the cold path only: after a cache hit, what comes next was most likely fetched ahead already, and a
        // hit must not pay for asking again
        if (reply.status === 200 && method === 'GET' && reply.outcome !== 'hit') this.prefetch?.answered(request, route.upstream);
      },
      (err: unknown) => exchange.fail(err, { upstreamUrl: err instanceof GateError ? err.upstreamUrl : undefined }),
    );
  }
}
