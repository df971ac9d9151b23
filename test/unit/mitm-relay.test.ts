// Unit: the http-mitm-proxy adapter leaves nothing of the library reachable but its request relay: no
// server, no CA directory, no CONNECT or WebSocket handler, exactly the two hooks we install; and the
// intercepted HTTP server carries only the listeners we mean.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MitmRelay } from '../../src/intercept/mitm-relay.js';
import { InterceptedHttpServer } from '../../src/http/intercepted-server.js';

test('MitmRelay: the library never listens, has no CA, and only our onRequest/onRequestEnd hooks', () => {
  const relay = new MitmRelay({ idleTimeoutMs: 1000, totalTimeoutMs: 2000 });
  const lib = (relay as unknown as { proxy: Record<string, unknown> }).proxy;
  for (const field of ['httpServer', 'httpsServer', 'wsServer', 'wssServer', 'ca', 'sslCaDir', 'httpPort', 'httpsPort']) {
    assert.equal(lib[field], undefined, `${field} is never set`);
  }
  assert.deepEqual(lib.sslServers, {}, 'no per-host servers');
  const hooks = Object.entries(lib)
    .filter(([k, v]) => k.endsWith('Handlers') && Array.isArray(v) && v.length > 0)
    .map(([k, v]) => `${k}:${(v as unknown[]).length}`)
    .sort();
  assert.deepEqual(hooks, ['onRequestEndHandlers:1', 'onRequestHandlers:1']);
  assert.notEqual(lib._onError, Object.getPrototypeOf(lib)._onError, "the library's error path (echoes error text, console.error) is replaced");
});

test('InterceptedHttpServer: request, connect and clientError are ours; no upgrade listener', () => {
  const s = new InterceptedHttpServer({ onRequest: () => undefined, onRefused: () => undefined });
  const server = (s as unknown as { server: import('node:http').Server }).server;
  assert.equal(server.listenerCount('request'), 1);
  assert.equal(server.listenerCount('connect'), 1);
  assert.equal(server.listenerCount('clientError'), 1);
  assert.equal(server.listenerCount('upgrade'), 0);
  assert.equal(server.listening, false, 'it never listens on a port');
  s.close();
});
