// Integration: a checksum database that sends its answer a byte at a time. The gateway checks a .mod against
// the database before anyone gets it; the lookup it reads for that check trickles in (headers at once, then a
// byte every 500 ms: never idle long enough for --upstream-timeout 3s). With --upstream-deadline 5s the client
// gets a one-line 504 (the database did not answer in time) instead of waiting for the thousands of seconds the lookup would take, nothing is
// cached, and once the database answers normally the same .mod is verified and served byte for byte.
// The upstream is the Go team's real test module proxy (with its checksum database) behind a relay that
// trickles the one lookup while told to.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureGoTestProxyBinary, TEST_SUMDB_KEY } from '../helpers/go-test-proxy.js';
import { startLocalProxy, httpGet, type LocalProxy } from '../helpers/local-go-proxy.js';
import { startTestGateway, fetchVia, query } from '../helpers/gateway.js';

const LOOKUP = '/sumdb/localhost.localdev/sumdb/lookup/rsc.io/quote@v1.5.2';
const MOD = '/rsc.io/quote/@v/v1.5.2.mod';
const HANG_BOUND_MS = 20_000; // a hang detector, not a timing assertion

let work: string;
let proxy: LocalProxy;
let relay: http.Server;
let relayBase: string;
let trickling = true;
const timers = new Set<NodeJS.Timeout>();

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'gmg-sumdb-trickle-'));
  proxy = await startLocalProxy(await ensureGoTestProxyBinary(), join(work, 'proxy'));
  relay = http.createServer(async (req, res) => {
    const path = req.url ?? '/';
    const up = await httpGet(proxy.base + path);
    if (path !== LOOKUP || !trickling) {
      res.writeHead(up.status, { 'content-length': String(up.body.length) }).end(up.body);
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
    let sent = 0;
    const timer = setInterval(() => {
      if (res.destroyed || sent >= up.body.length) {
        clearInterval(timer);
        res.end();
        return;
      }
      res.write(up.body.subarray(sent, ++sent));
    }, 500);
    timers.add(timer);
    res.on('close', () => clearInterval(timer));
  });
  await new Promise<void>((r) => relay.listen(0, '127.0.0.1', r));
  relayBase = `http://127.0.0.1:${(relay.address() as { port: number }).port}`;
});

after(async () => {
  for (const t of timers) clearInterval(t);
  relay?.closeAllConnections();
  relay?.close();
  await proxy?.stop();
  await rm(work, { recursive: true, force: true });
});

test('a .mod whose checksum lookup trickles in: a one-line 504 at the deadline, nothing cached, then served', async () => {
  const gw = await startTestGateway({ upstream: relayBase, sumdb: TEST_SUMDB_KEY, upstreamTimeout: '3s', upstreamDeadline: '5s' });
  try {
    const slow = await fetchVia(gw.baseUrl + MOD, { timeoutMs: HANG_BOUND_MS });
    assert.equal(slow.status, 504, slow.body.toString());
    assert.match(String(slow.headers['content-type']), /^text\/plain/);
    const line = slow.body.toString();
    assert.equal(line.trimEnd().split('\n').length, 1, line);
    assert.match(line, /checksum database .* did not answer in time/, line);
    assert.deepEqual(query(gw, 'SELECT key FROM objects WHERE kind = ?', 'mod'), [], 'nothing cached');

    trickling = false;
    const served = await fetchVia(gw.baseUrl + MOD, { timeoutMs: HANG_BOUND_MS });
    assert.equal(served.status, 200, served.body.toString());
    assert.ok(served.body.equals((await httpGet(proxy.base + MOD)).body), 'the test proxy\'s go.mod, byte for byte');
  } finally {
    await gw.close();
  }
});
