// Fault injection, client side, against a real gomodgate child process on loopback (a crash shows as an exit):
// clients that reset mid-headers, mid-body, right after the request, during the TLS handshake and during a
// single-flight fetch others wait on; thousands of keep-alive requests on few connections and one request each
// on thousands of connections; slow readers next to full-speed ones; a load generator that resets its 64
// keep-alive connections mid-response (what `wrk` does when it ends). Both the CONNECT path (same TLS terminator
// and request handler as the transparent listener) and the plain GOPROXY endpoint.
// Every case ends with: the process still runs and answers a normal request byte for byte, and the cache holds
// no partial or wrong object (index rows against blob files on disk).
import assert from 'node:assert/strict';
import http from 'node:http';
import type net from 'node:net';
import { after, before, beforeEach, describe, it } from 'node:test';
import { captureClientHello, RawClient } from '../helpers/hostile-client.js';
import { openTlsViaConnect, openTunnel, rawSocketOf } from '../helpers/connect-client.js';
import { download, inBatches, PROBE, settledTempFiles, startFaultWorld, zipKey, zipPath, type Download, type FaultWorld } from '../helpers/fault-world.js';
import { waitFor } from '../helpers/gateway.js';
import type { AddedModule } from '../helpers/module-upstream.js';
import { assertStoreConsistent } from '../helpers/store-check.js';

const KiB = 1024;
const MiB = 1024 * KiB;

let world: FaultWorld;
let hello: Buffer;
const expected: Record<string, string> = {};
const small = { path: 'example.com/small', version: 'v1.0.0' };
const large = { path: 'example.com/large', version: 'v1.0.0' };
let smallZip: AddedModule;
let largeZip: AddedModule;
let fresh = 0;

/** A module the gateway has never seen (a miss), `bytes` of data in its zip. */
async function freshModule(name: string, bytes = 0): Promise<{ path: string; version: string; added: AddedModule }> {
  const m = { path: `example.com/c/${name}${fresh++}`, version: 'v1.0.0' };
  const added = bytes > 0
    ? await world.upstream.addLargeModule({ ...m, sizeBytes: bytes })
    : world.upstream.addModule({ ...m, files: { 'x.go': `package x // ${m.path}\n` } });
  expected[zipKey(m)] = added.zipSha256;
  return { ...m, added };
}

function request(path: string): string {
  return `GET ${path} HTTP/1.1\r\nHost: proxy.golang.org\r\n\r\n`;
}

/** The case's closing checks: alive, answers, no partial download left, the index points at right objects. */
async function assertHealthy(when: string): Promise<void> {
  await world.assertAlive(when);
  assert.deepEqual(await settledTempFiles(world.dataDir), [], `${when}: no partial download left in tmp/`);
  await assertStoreConsistent(world.dataDir, expected, when);
}

function assertExact(d: Download, m: { added: AddedModule } | AddedModule, what: string): void {
  const added = 'added' in m ? m.added : m;
  assert.equal(d.status, 200, `${what}: status (${d.error ?? ''})`);
  assert.ok(d.complete, `${what}: complete (${d.error ?? ''}, ${d.bytes} bytes)`);
  assert.equal(d.bytes, added.zipSize, `${what}: size`);
  assert.equal(d.sha256, added.zipSha256, `${what}: byte-exact`);
}

before(async () => {
  // no test here waits out the upstream timeout: 10 s, so a busy test process delaying the upstream's 1.5 s answer
  // never makes the gateway ask again (the single-flight test counts exactly one fetch)
  world = await startFaultWorld({ name: 'client', upstreamTimeout: '10s' });
  smallZip = world.upstream.addModule({ ...small, files: { 'small.go': 'package small\n', 'data.txt': 'x'.repeat(20 * KiB) } });
  largeZip = await world.upstream.addLargeModule({ ...large, sizeBytes: 8 * MiB });
  expected[zipKey(small)] = smallZip.zipSha256;
  expected[zipKey(large)] = largeZip.zipSha256;
  expected[zipKey(PROBE)] = world.probe.zipSha256;
  hello = await captureClientHello({ servername: 'proxy.golang.org' });
  await world.assertAlive('start');
  // warm the cache: the small and the large zip are hits from now on
  assertExact(await download(world.plain(zipPath(small))), smallZip, 'warm small');
  assertExact(await download(world.plain(zipPath(large)), { timeoutMs: 60_000 }), largeZip, 'warm large');
});

after(async () => {
  await world?.close();
});

beforeEach(async () => {
  world.upstream.resetFaults();
  world.upstream.setDelay(0);
  const dead = await world.ensureRunning();
  if (dead) console.log(`gomodgate had died in an earlier case and was restarted; it printed:\n${dead}`);
});

describe('clients that reset', () => {
  it('mid-headers: a partial request head, then RST (plain endpoint and CONNECT), 20 times each', () => world.guard(async () => {
    const partial = 'GET /example.com/small/@v/v1.0.0.zip HTTP/1.1\r\nHost: proxy.go';
    for (let i = 0; i < 20; i++) {
      const c = await RawClient.connect(world.ports.proxy);
      c.write(partial);
      await new Promise((r) => setImmediate(r));
      c.socket.resetAndDestroy();
      const s = await openTlsViaConnect({ proxyPort: world.ports.proxy, ca: world.gatewayCa });
      s.write(partial);
      await new Promise((r) => setImmediate(r));
      s.raw.resetAndDestroy();
    }
    await assertHealthy('after resets mid-headers');
  }));

  it('mid-body: RST after 256 KiB of a cached 8 MiB zip and of a miss, both paths, concurrently', () => world.guard(async () => {
    const miss = await freshModule('midbody', 4 * MiB);
    const resets = await Promise.all([
      ...Array.from({ length: 10 }, () => download(world.plain(zipPath(large)), { resetAfterBytes: 256 * KiB })),
      ...Array.from({ length: 10 }, () => download(world.intercepted(zipPath(large)), { agent: world.agent(), resetAfterBytes: 256 * KiB })),
      download(world.intercepted(zipPath(miss)), { agent: world.agent(), resetAfterBytes: 256 * KiB }),
      download(world.plain(zipPath(miss)), { resetAfterBytes: 256 * KiB }),
    ]);
    assert.ok(resets.every((d) => d.reset && d.status === 200), `every download was reset mid-body: ${JSON.stringify(resets.map((d) => [d.status, d.bytes, d.error]))}`);
    // the interrupted miss, asked again, is the upstream's zip byte for byte
    assertExact(await download(world.plain(zipPath(miss)), { timeoutMs: 30_000 }), miss, 'the miss after the resets');
    assertExact(await download(world.intercepted(zipPath(large)), { agent: world.agent(), timeoutMs: 30_000 }), largeZip, 'the large zip after the resets');
    await assertHealthy('after resets mid-body');
  }));

  it('right after the request: full request then RST, on hits and on misses still waiting for upstream, both paths', () => world.guard(async () => {
    for (let i = 0; i < 10; i++) {
      for (const path of [zipPath(small), zipPath(large), `/${small.path}/@v/list`]) {
        const c = await RawClient.connect(world.ports.proxy);
        c.write(request(path));
        c.socket.resetAndDestroy();
        const s = await openTlsViaConnect({ proxyPort: world.ports.proxy, ca: world.gatewayCa });
        s.write(request(path));
        s.raw.resetAndDestroy();
      }
    }
    // misses: the upstream answers after 400 ms, the client is long gone by then
    world.upstream.setDelay(400);
    const misses = await Promise.all(Array.from({ length: 6 }, () => freshModule('gone')));
    for (const m of misses) {
      const c = await RawClient.connect(world.ports.proxy);
      c.write(request(zipPath(m)));
      c.socket.resetAndDestroy();
      const s = await openTlsViaConnect({ proxyPort: world.ports.proxy, ca: world.gatewayCa });
      s.write(request(`/${m.path}/@v/${m.version}.info`));
      await new Promise((r) => setTimeout(r, 20)); // the request has reached the handler
      s.raw.resetAndDestroy();
    }
    await new Promise((r) => setTimeout(r, 1000)); // let the upstream answers arrive for clients that are gone
    world.upstream.setDelay(0);
    for (const m of misses) assertExact(await download(world.intercepted(zipPath(m)), { agent: world.agent() }), m, `${m.path} afterwards`);
    await assertHealthy('after resets right after the request');
  }));

  it('during the TLS handshake: RST after a partial ClientHello, after a whole one, after the ServerHello (20 each)', () => world.guard(async () => {
    for (let i = 0; i < 20; i++) {
      for (const stage of ['partial', 'whole', 'server-hello'] as const) {
        const raw = await openTunnel({ proxyPort: world.ports.proxy, ca: world.gatewayCa });
        raw.resume();
        raw.on('error', () => undefined);
        if (stage === 'partial') raw.write(hello.subarray(0, 1 + (i * 31) % (hello.length - 1)));
        else raw.write(hello);
        if (stage === 'server-hello') {
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, 2000);
            raw.once('data', () => {
              clearTimeout(timer);
              resolve();
            });
          });
        }
        raw.resetAndDestroy();
      }
    }
    await assertHealthy('after resets during the handshake');
  }));

  it('during a single-flight fetch: the leader and some joiners reset, the others get byte-exact bodies, 1 upstream fetch', () => world.guard(async () => {
    const m = await freshModule('flight', 2 * MiB);
    world.upstream.setDelay(1500);
    const path = zipPath(m);
    // the leader starts the fetch, then resets while the gateway waits for upstream
    const leader = await openTlsViaConnect({ proxyPort: world.ports.proxy, ca: world.gatewayCa });
    leader.write(request(path));
    await waitFor('the upstream fetch started', () => world.upstream.hits(path) >= 1, 5000);
    const waiters: Promise<Download>[] = [];
    const quitters: Promise<unknown>[] = [];
    for (let i = 0; i < 3; i++) {
      waiters.push(download(world.plain(path), { timeoutMs: 30_000 }));
      waiters.push(download(world.intercepted(path), { agent: world.agent(), timeoutMs: 30_000 }));
    }
    for (let i = 0; i < 2; i++) {
      quitters.push((async () => {
        const c = await RawClient.connect(world.ports.proxy);
        c.write(request(path));
        await new Promise((r) => setTimeout(r, 300));
        c.socket.resetAndDestroy();
      })());
      quitters.push((async () => {
        const s = await openTlsViaConnect({ proxyPort: world.ports.proxy, ca: world.gatewayCa });
        s.write(request(path));
        await new Promise((r) => setTimeout(r, 300));
        s.raw.resetAndDestroy();
      })());
    }
    await new Promise((r) => setTimeout(r, 200));
    leader.raw.resetAndDestroy();
    await Promise.all(quitters);
    const results = await Promise.all(waiters);
    world.upstream.setDelay(0);
    results.forEach((d, i) => assertExact(d, m, `waiter ${i}`));
    assert.equal(world.upstream.hits(path), 1, 'exactly one upstream fetch for all of them');
    await assertHealthy('after resets during a single-flight fetch');
  }));
});

describe('many requests, many connections', () => {
  it('thousands of keep-alive requests on 4 connections (CONNECT and plain), all byte-exact', () => world.guard(async () => {
    const N = 1500;
    const agent = world.agent({ keepAlive: true, maxSockets: 4 });
    const plainAgent = new http.Agent({ keepAlive: true, maxSockets: 4 });
    let plainConnections = 0;
    const create = (plainAgent as unknown as { createConnection: (...a: unknown[]) => net.Socket }).createConnection.bind(plainAgent);
    (plainAgent as unknown as { createConnection: (...a: unknown[]) => net.Socket }).createConnection = (...a: unknown[]) => {
      plainConnections++;
      return create(...a);
    };
    try {
      const objects = [
        { path: zipPath(small), added: smallZip },
        { path: zipPath(PROBE), added: world.probe },
      ];
      const viaConnect = await inBatches(N, 4, (i) => download(world.intercepted(objects[i % 2]!.path), { agent, timeoutMs: 20_000 }));
      const viaPlain = await inBatches(N, 4, (i) => download(world.plain(objects[i % 2]!.path), { agent: plainAgent, timeoutMs: 20_000 }));
      viaConnect.forEach((d, i) => assertExact(d, objects[i % 2]!.added, `CONNECT request ${i}`));
      viaPlain.forEach((d, i) => assertExact(d, objects[i % 2]!.added, `plain request ${i}`));
      assert.ok(agent.connections <= 4, `${N} requests over ${agent.connections} CONNECT tunnels (at most 4: kept alive)`);
      assert.ok(plainConnections <= 4, `${N} requests over ${plainConnections} plain connections (at most 4: kept alive)`);
    } finally {
      agent.destroy();
      plainAgent.destroy();
    }
    await assertHealthy('after thousands of keep-alive requests');
  }));

  it('one request each on thousands of connections (2000 plain, 500 CONNECT + TLS), all byte-exact', () => world.guard(async () => {
    const plain = await inBatches(2000, 50, () => download(world.plain(zipPath(small)), { timeoutMs: 20_000 }));
    plain.forEach((d, i) => assertExact(d, smallZip, `plain connection ${i}`));
    const tunnelled = await inBatches(500, 16, async () => {
      const agent = world.agent();
      try {
        return await download(world.intercepted(zipPath(small)), { agent, timeoutMs: 20_000 });
      } finally {
        agent.destroy();
      }
    });
    tunnelled.forEach((d, i) => assertExact(d, smallZip, `tunnel ${i}`));
    await assertHealthy('after thousands of connections');
  }));

  it('slow readers (~1 KiB/s) on a hit and on a miss do not hold back full-speed clients', () => world.guard(async () => {
    const miss = await freshModule('slow', 4 * MiB);
    const slow: { res: http.IncomingMessage | null; bytes: number }[] = [];
    const timers: NodeJS.Timeout[] = [];
    const slowReader = (url: string, agent?: http.Agent): Promise<Download> =>
      download(url, {
        agent,
        timeoutMs: 120_000,
        onResponse: (res) => {
          const s = { res, bytes: 0 };
          slow.push(s);
          res.pause();
          timers.push(setInterval(() => {
            const c = res.read(KiB) as Buffer | null;
            if (c) s.bytes += c.length;
          }, 1000));
        },
      });
    // the slow ones start first: on the miss, a slow reader is the one who started the fetch
    const slowDone = [
      slowReader(world.plain(zipPath(miss))),
      slowReader(world.intercepted(zipPath(large)), world.agent()),
      slowReader(world.plain(zipPath(large))),
    ];
    try {
      await waitFor('the slow readers have their responses', () => slow.length === 3, 10_000);
      const fast = await Promise.all([
        ...Array.from({ length: 5 }, () => download(world.plain(zipPath(large)), { timeoutMs: 60_000 })),
        ...Array.from({ length: 5 }, () => download(world.intercepted(zipPath(large)), { agent: world.agent(), timeoutMs: 60_000 })),
        ...Array.from({ length: 3 }, () => download(world.plain(zipPath(miss)), { timeoutMs: 60_000 })),
        ...Array.from({ length: 3 }, () => download(world.intercepted(zipPath(miss)), { agent: world.agent(), timeoutMs: 60_000 })),
      ]);
      fast.slice(0, 10).forEach((d, i) => assertExact(d, largeZip, `fast reader ${i} of the hit`));
      fast.slice(10).forEach((d, i) => assertExact(d, miss, `fast reader ${i} of the miss`));
      const unfinished = slow.filter((s) => !s.res!.complete).length;
      assert.equal(unfinished, 3, 'the slow readers were still reading while the fast ones finished');
    } finally {
      for (const t of timers) clearInterval(t);
      for (const s of slow) rawSocketOf(s.res!.socket).resetAndDestroy();
      await Promise.all(slowDone);
    }
    await assertHealthy('after slow readers');
  }));

  it('a load generator: 64 keep-alive tunnels hammer a cached zip for 4 s, then reset mid-response (twice)', (t) => world.guard(async () => {
    for (let round = 0; round < 2; round++) {
      const agent = world.agent({ keepAlive: true, maxSockets: 64 });
      const deadline = Date.now() + 4000;
      let completed = 0;
      let wrong = 0;
      const loops = Array.from({ length: 64 }, async () => {
        for (let i = 0; i < 100_000 && Date.now() < deadline; i++) {
          const d = await download(world.intercepted(zipPath(small)), { agent, timeoutMs: 10_000 });
          if (d.complete) {
            completed++;
            if (d.sha256 !== smallZip.zipSha256 || d.status !== 200) wrong++;
          }
        }
      });
      // at the deadline, like wrk: every connection is reset whatever it was doing
      const stopper = new Promise<void>((resolve) => setTimeout(() => {
        for (const sockets of Object.values(agent.sockets)) for (const s of sockets ?? []) rawSocketOf(s as net.Socket).resetAndDestroy();
        for (const sockets of Object.values(agent.freeSockets)) for (const s of sockets ?? []) rawSocketOf(s as net.Socket).resetAndDestroy();
        agent.destroy();
        resolve();
      }, 4000));
      await stopper;
      await Promise.all(loops);
      t.diagnostic(`round ${round + 1}: ${completed} complete responses, ${wrong} wrong`);
      assert.equal(wrong, 0, 'every complete response is the cached zip');
      assert.ok(completed > 0, 'the load generator got answers');
      await world.assertAlive(`after load-generator round ${round + 1}`);
    }
    await assertHealthy('after the load generator');
  }));
});
