// The one adapter around http-mitm-proxy. gomodgate uses a single part of the library: its request relay,
// which copies a request that is not a Go module request (a Go host's home page, a POST) to the upstream
// and the answer back, headers and body as they are. Everything else of the library is unreachable:
// - listen() is never called. It would load or create a CA in `sslCaDir`, generate RSA leaf keys per CONNECT
//   target and write them there (unchecked file names), start an HTTP proxy with its own CONNECT handler and
//   WebSocket servers. The three fields the relay reads, which listen() would set, are set here instead.
// - No server of the library exists, so no socket ever reaches a library handler we did not call.
// Workarounds for its defects, each needed because of what the library does:
// - its _onError writes `${kind}: ${err}` (internal error text) to the client and calls console.error:
//   replaced, so a failure becomes our one-line 502/504 through the Exchange, logged once by our logger;
// - it takes the upstream host and port from an absolute-form URL or the Host header: the target is always
//   set here from the route (the router has already refused targets naming another host);
// - it has no upstream timeouts: an idle timeout on the upstream socket and a total deadline are set here.
import type http from 'node:http';
import { Proxy } from 'http-mitm-proxy';
import { GateError } from '../errors.js';
import { toGateError } from '../upstream/upstream-client.js';
import type { Exchange } from '../http/exchange.js';

/** Where and how to reach the upstream for one relayed request. */
export interface RelayRoute {
  /** Address or name to connect to (the egress proxy's tunnel, when there is one, is in `agent`). */
  host: string;
  port: number;
  /** TLS server name (verified against the upstream certificate); none for an IP address. */
  servername: string | undefined;

  /** The Host header the upstream sees. */
  hostHeader: string;
  agent: http.Agent;
}

export interface MitmRelayOptions {
  /** An upstream that sends nothing for this long is given up (504). */
  idleTimeoutMs: number;
  /** No relayed request lasts longer than this. */
  totalTimeoutMs: number;
}

interface RelayContext {
  clientToProxyRequest: http.IncomingMessage;
  proxyToClientResponse: http.ServerResponse;
  proxyToServerRequestOptions: Record<string, unknown> & { headers: Record<string, unknown> };
  proxyToServerRequest?: http.ClientRequest;
}

interface RelayState {
  exchange: Exchange;
  route: RelayRoute;
}

type LibraryInternals = {
  options: object;
  keepAlive: boolean;
  httpAgent: http.Agent | undefined;
  httpsAgent: http.Agent | undefined;
  _onError: (kind: string, ctx: RelayContext | null, err: unknown) => void;
  _onHttpServerRequest: (isSSL: boolean, req: http.IncomingMessage, res: http.ServerResponse) => void;
};

export class MitmRelay {
  private readonly proxy = new Proxy();
  private readonly lib = this.proxy as unknown as LibraryInternals;
  private readonly pending = new WeakMap<http.IncomingMessage, RelayState>();

  constructor(private readonly opts: MitmRelayOptions) {
    Object.assign(this.lib, { options: {}, keepAlive: true, httpAgent: undefined, httpsAgent: undefined });
    this.lib._onError = (kind, ctx, err) => this.onLibraryError(kind, ctx, err);
    this.proxy.onRequest((ctx, callback) => {
      const c = ctx as unknown as RelayContext;
      const state = this.pending.get(c.clientToProxyRequest);
      if (!state) {
        c.proxyToClientResponse.destroy(); // cannot happen: only relay() enters the library
        return;
      }
      const o = c.proxyToServerRequestOptions;
      const { route } = state;
      Object.assign(o, {
        host: route.host,
        port: route.port,
        servername: route.servername,
        agent: route.agent,
        signal: AbortSignal.timeout(this.opts.totalTimeoutMs),
      });
      o.headers = { ...o.headers, host: route.hostHeader };
      callback();
    });
    this.proxy.onRequestEnd((ctx, callback) => {
      const c = ctx as unknown as RelayContext;
      c.proxyToServerRequest?.setTimeout(this.opts.idleTimeoutMs, () => {
        c.proxyToServerRequest?.destroy(new GateError('UPSTREAM_TIMEOUT', `upstream ${this.pending.get(c.clientToProxyRequest)?.route.hostHeader ?? ''} sent nothing for ${Math.round(this.opts.idleTimeoutMs / 1000)} s`));
      });
      callback();
    });
  }

  /** Relays the exchange's request unchanged over HTTPS along `route`; the answer goes back as it comes. */
  relay(exchange: Exchange, route: RelayRoute): void {
    this.pending.set(exchange.req, { exchange, route });
    exchange.relayed(`not a Go module request; relayed unchanged to ${route.hostHeader}`);
    this.lib._onHttpServerRequest(true, exchange.req, exchange.res);
  }

  private onLibraryError(kind: string, ctx: RelayContext | null, err: unknown): void {
    if (!ctx) return;
    const state = this.pending.get(ctx.clientToProxyRequest);
    ctx.proxyToServerRequest?.destroy();
    if (!state) {
      ctx.proxyToClientResponse.destroy();
      return;
    }
    if (kind === 'CLIENT_TO_PROXY_REQUEST_ERROR' || kind === 'PROXY_TO_CLIENT_RESPONSE_ERROR') {
      ctx.proxyToClientResponse.destroy(); // the client went away: nothing to answer
      return;
    }
    const timedOut = err instanceof GateError ? err.code === 'UPSTREAM_TIMEOUT' : (err as Error)?.name === 'TimeoutError' || (err as Error)?.name === 'AbortError';
    // the upstream's failures are worded as for any upstream request (TLS verification, DNS, refused)
    const gate = err instanceof GateError
      ? err
      : timedOut
        ? new GateError('UPSTREAM_TIMEOUT', `upstream ${state.route.hostHeader} did not finish in time`, { cause: err })
        : toGateError(err, state.route.hostHeader);
    state.exchange.fail(gate);
  }
}
