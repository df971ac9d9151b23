// Fault injection, upstream side, against a real gomodgate child process on loopback: an upstream that refuses
// connections, resets mid-body, stalls after the headers, sends a wrong Content-Length (short and long), a body
// that never ends, a 200 with an HTML error page (for .info, .mod, .zip and list), or completes its TLS handshake
// slowly. The gateway runs with --upstream-timeout 3s. Each fault hits a module the gateway has never seen, through
// the plain GOPROXY endpoint and through CONNECT; then the fault is cleared and the same object must come back
// byte for byte (nothing wrong was cached). Every case ends with: the process still runs and answers a normal
// request, no partial download is left, and every index row points at the right, complete blob.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, beforeEach, describe, it } from 'node:test';
import { download, PROBE, settledTempFiles, startFaultWorld, zipKey, zipPath, type Download, type FaultWorld } from '../helpers/fault-world.js';
import type { UpstreamFault } from '../helpers/module-upstream.js';
import { assertStoreConsistent, rowFor } from '../helpers/store-check.js';

const KiB = 1024;
const HANG_BOUND_MS = 20_000; // "answers within 20 s": a hang detector, not a timing assertion

type Kind = 'info' | 'mod' | 'zip' | 'list';

interface Obj {
  kind: Kind;
  path: string; // URL path
  key: string; // cache key
  bytes: Buffer | null; // in-memory objects
  sha256: string;
  size: number;
}

let world: FaultWorld;
let fresh = 0;

const sha = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');

/** A module never seen before; its four objects with the bytes the upstream serves for them. */
async function freshModule(name: string, zipBytes = 0): Promise<Record<Kind, Obj>> {
  const m = { path: `example.com/u/${name}${fresh++}`, version: 'v1.0.0' };
  const added = zipBytes > 0
    ? await world.upstream.addLargeModule({ ...m, sizeBytes: zipBytes })
    : world.upstream.addModule({ ...m, files: { 'x.go': `package x // ${m.path}\n`, 'pad.txt': 'p'.repeat(4 * KiB) } });
  const info = Buffer.from(JSON.stringify({ Version: m.version, Time: '2019-01-01T00:00:00Z' }));
  const mod = Buffer.from(`module ${m.path}\n`);
  const list = Buffer.from(`${m.version}\n`);
  const objs: Record<Kind, Obj> = {
    info: { kind: 'info', path: `/${m.path}/@v/${m.version}.info`, key: `mod:${m.path}@${m.version}.info`, bytes: info, sha256: sha(info), size: info.length },
    mod: { kind: 'mod', path: `/${m.path}/@v/${m.version}.mod`, key: `mod:${m.path}@${m.version}.mod`, bytes: mod, sha256: sha(mod), size: mod.length },
    zip: { kind: 'zip', path: zipPath(m), key: zipKey(m), bytes: null, sha256: added.zipSha256, size: added.zipSize },
    list: { kind: 'list', path: `/${m.path}/@v/list`, key: `list:${m.path}`, bytes: list, sha256: sha(list), size: list.length },
  };
  return objs;
}

const viaPlain = (o: Obj): Promise<Download> => download(world.plain(o.path), { timeoutMs: HANG_BOUND_MS });
const viaConnect = (o: Obj): Promise<Download> => download(world.intercepted(o.path), { agent: world.agent(), timeoutMs: HANG_BOUND_MS });

function describeDownload(d: Download): string {
  return `status ${d.status}, ${d.bytes} bytes, complete ${d.complete}${d.error ? `, ${d.error}` : ''}`;
}

function assertExact(d: Download, o: Obj, what: string): void {
  assert.equal(d.status, 200, `${what}: ${describeDownload(d)}`);
  assert.ok(d.complete, `${what}: complete (${describeDownload(d)})`);
  assert.equal(d.sha256, o.sha256, `${what}: byte-exact (${describeDownload(d)})`);
}

/** The fault reached the client as a 502/504, or as a 200 cut short; never a complete 200 of other bytes. */
function assertFailedCleanly(d: Download, o: Obj, what: string): void {
  assert.ok(d.error !== 'timeout', `${what}: answered within ${HANG_BOUND_MS} ms (${describeDownload(d)})`);
  if (d.status === 200 && d.complete) {
    assert.equal(d.sha256, o.sha256, `${what}: a complete 200 must be the real object (${describeDownload(d)})`);
    return;
  }
  assert.ok(d.status === 200 || d.status === 502 || d.status === 504 || d.status === 0, `${what}: 502/504 or a cut-off 200 (${describeDownload(d)})`);
}

/** Clears the fault, then both paths must get the real object, and the index must hold it (or nothing). */
async function assertRecovered(objs: Obj[], when: string): Promise<void> {
  world.upstream.resetFaults();
  for (const o of objs) {
    assertExact(await viaPlain(o), o, `${when}: ${o.kind} again through the plain endpoint`);
    assertExact(await viaConnect(o), o, `${when}: ${o.kind} again through CONNECT`);
  }
  await world.assertAlive(when);
  assert.deepEqual(await settledTempFiles(world.dataDir), [], `${when}: no partial download left in tmp/`);
  // every row must point at a complete blob; the objects of this case must be the real ones (a wrong object an
  // earlier case left is that case's failure, not this one's)
  const own: Record<string, string> = { [zipKey(PROBE)]: world.probe.zipSha256 };
  for (const o of objs) own[o.key] = o.sha256;
  await assertStoreConsistent(world.dataDir, own, when);
}

/** Sets the fault on each object, asks for it on both paths, checks nothing of it was cached. */
async function injectEach(objs: Obj[], fault: (o: Obj) => UpstreamFault | null, check: (d: Download, o: Obj, what: string) => void): Promise<void> {
  for (const o of objs) {
    const f = fault(o);
    if (f) world.upstream.setFault(o.path, f);
    const results = await Promise.all([viaPlain(o), viaConnect(o)]);
    check(results[0]!, o, `${o.kind} through the plain endpoint`);
    check(results[1]!, o, `${o.kind} through CONNECT`);
    const row = rowFor(world.dataDir, o.key);
    if (row) assert.equal(row.sha256, o.sha256, `${o.kind}: nothing but the real object is cached (row ${JSON.stringify(row)})`);
  }
}

before(async () => {
  world = await startFaultWorld({ name: 'upstream' });
  await world.assertAlive('start'); // the probe is cached from here on
});

after(async () => {
  await world?.close();
});

beforeEach(async () => {
  world.upstream.resetFaults();
  world.relay.setFirstByteDelay(0);
  await world.relay.setRefusing(false);
  const dead = await world.ensureRunning();
  if (dead) console.log(`gomodgate had died in an earlier case and was restarted; it printed:\n${dead}`);
});

describe('upstream faults', () => {
  it('refuses connections: 502/504 for each kind, cached objects still served, then recovers', () => world.guard(async () => {
    const m = await freshModule('refused');
    await world.relay.setRefusing(true);
    for (const o of Object.values(m)) {
      for (const d of [await viaPlain(o), await viaConnect(o)]) {
        assert.ok(d.status === 502 || d.status === 504, `${o.kind} with the upstream refusing: ${describeDownload(d)}`);
        assert.ok(d.complete, `${o.kind}: a whole error answer (${describeDownload(d)})`);
      }
      assert.equal(rowFor(world.dataDir, o.key), undefined, `${o.kind}: nothing cached`);
    }
    const hit = await download(world.plain(zipPath(PROBE)), { timeoutMs: HANG_BOUND_MS });
    assert.equal(hit.sha256, world.probe.zipSha256, 'a cached zip is served while the upstream refuses');
    await world.relay.setRefusing(false);
    await assertRecovered(Object.values(m), 'after refusals');
  }));

  it('resets mid-body: never a complete wrong body, nothing cached, then recovers', () => world.guard(async () => {
    const m = await freshModule('reset', 1 << 20);
    for (const o of [m.zip, m.mod, m.info]) world.upstream.dropMidBody(o.path, Math.floor(o.size / 2));
    await injectEach([m.zip, m.mod, m.info], () => null, assertFailedCleanly);
    await assertRecovered([m.zip, m.mod, m.info], 'after mid-body resets');
  }));

  it('stalls after the headers: given up within the bound (--upstream-timeout 3s), nothing cached, then recovers', () => world.guard(async () => {
    const m = await freshModule('stall');
    await injectEach([m.zip, m.mod, m.list], () => ({ kind: 'stall-after-headers' }), assertFailedCleanly);
    await assertRecovered([m.zip, m.mod, m.list], 'after stalls');
  }));

  it('a Content-Length shorter than the body: the cut object is neither delivered whole nor cached', () => world.guard(async () => {
    const m = await freshModule('short');
    await injectEach([m.zip, m.info, m.mod], (o) => ({ kind: 'content-length', declared: o.size - Math.min(100, Math.floor(o.size / 2)) }), assertFailedCleanly);
    await assertRecovered([m.zip, m.info, m.mod], 'after short Content-Lengths');
  }));

  it('a Content-Length longer than the body, then the connection closes: nothing cached, then recovers', () => world.guard(async () => {
    const m = await freshModule('long');
    await injectEach([m.zip, m.info, m.mod], (o) => ({ kind: 'content-length', declared: o.size + 100 }), assertFailedCleanly);
    await assertRecovered([m.zip, m.info, m.mod], 'after long Content-Lengths');
  }));

  it('a body that never ends (.mod, .info, list): cut at the size limit within the bound, nothing cached', () => world.guard(async () => {
    const m = await freshModule('endless');
    await injectEach([m.mod, m.info, m.list], () => ({ kind: 'endless' }), (d, o, what) => {
      assert.ok(d.error !== 'timeout', `${what}: answered or cut within ${HANG_BOUND_MS} ms (${describeDownload(d)})`);
      assert.ok(!(d.status === 200 && d.complete), `${what}: an endless body is never a complete 200 (${describeDownload(d)})`);
    });
    await assertRecovered([m.mod, m.info, m.list], 'after endless bodies');
  }));

  it('a 200 with an HTML error page for .info, .mod, .zip and list: 502, never cached', () => world.guard(async () => {
    const m = await freshModule('html');
    await injectEach(Object.values(m), () => ({ kind: 'html' }), (d, o, what) => {
      assert.equal(d.status, 502, `${what}: an HTML page is not a Go module object (${describeDownload(d)})`);
    });
    for (const o of Object.values(m)) assert.equal(rowFor(world.dataDir, o.key), undefined, `${o.kind}: the HTML page is not cached`);
    await assertRecovered(Object.values(m), 'after HTML error pages');
  }));

  it('a slow TLS handshake: below the timeout it succeeds while hits are served; above it 502/504, nothing cached', () => world.guard(async () => {
    const slow = await freshModule('slowtls');
    world.relay.setFirstByteDelay(1500);
    world.relay.dropConnections(); // the gateway's pooled upstream connections would skip the handshake
    const pending = viaConnect(slow.zip);
    const hit = await download(world.plain(zipPath(PROBE)), { timeoutMs: HANG_BOUND_MS });
    assert.equal(hit.sha256, world.probe.zipSha256, 'a hit is served while an upstream handshake is slow');
    assertExact(await pending, slow.zip, 'the zip behind a 1.5 s handshake');

    const slower = await freshModule('slowertls');
    // The gateway answers 504 after two attempts of 3 s, and its second attempt may be served by a handshake the
    // first one began: a 6 s handshake sat exactly on that edge (a 200 at 6.2 s, now and then, under load). A
    // 20 s handshake outlasts both attempts. Each object gets handshakes of its own (connections dropped).
    world.relay.setFirstByteDelay(20_000);
    for (const o of [slower.zip, slower.info]) {
      world.relay.dropConnections();
      const d = await viaPlain(o);
      assert.ok(d.status === 502 || d.status === 504, `${o.kind} behind a 20 s handshake (timeout 3 s): ${describeDownload(d)}`);
      assert.equal(rowFor(world.dataDir, o.key), undefined, `${o.kind}: nothing cached`);
    }
    world.relay.setFirstByteDelay(0);
    world.relay.dropConnections();
    await assertRecovered([slower.zip, slower.info], 'after slow handshakes');
  }));
});
