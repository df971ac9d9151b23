// Soak: 500 concurrent client loops against a real gomodgate child process for 20 s (60 s with GOMODGATE_SOAK=60),
// mixing hits (a cached 1 MiB zip and small objects), misses (a module never asked for before, each loop in turn)
// and aborts (a connection reset after 64 KiB), through the plain GOPROXY endpoint and through CONNECT. Reports the
// process's resident memory and open file descriptors (from /proc/PID) before and after, and how many requests
// of each sort completed. Asserts: no crash, every completed download byte-exact, and once the clients are gone
// the descriptors come back near where they started (a leak of one per request would not).
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { download, PROBE, settledTempFiles, startFaultWorld, zipKey, zipPath, type Download, type FaultWorld } from '../helpers/fault-world.js';
import { waitFor } from '../helpers/gateway.js';
import { assertStoreConsistent } from '../helpers/store-check.js';

const SECONDS = Number(process.env.GOMODGATE_SOAK ?? 20);
const LOOPS = 500;
const MISSES = 3000;
const MiB = 1 << 20;

let world: FaultWorld;

function procFigures(pid: number): { rssMiB: number; fds: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rss = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
  return { rssMiB: Math.round((rss / MiB) * 10) / 10, fds: readdirSync(`/proc/${pid}/fd`).length };
}

before(async () => {
  // a loaded upstream on the same two cores answers slowly: the soak is not about upstream timeouts
  world = await startFaultWorld({ name: 'soak', upstreamTimeout: '30s' });
});

after(async () => {
  await world?.close();
});

test(`soak: ${LOOPS} concurrent loops of hits, misses and aborts for ${SECONDS} s`, { timeout: (SECONDS + 120) * 1000 }, (t) => world.guard(async () => {
  const hot = { path: 'example.com/soak/hot', version: 'v1.0.0' };
  const hotZip = await world.upstream.addLargeModule({ ...hot, sizeBytes: MiB });
  const misses = Array.from({ length: MISSES }, (_, i) => {
    const m = { path: `example.com/soak/m${i}`, version: 'v1.0.0' };
    return { ...m, added: world.upstream.addModule({ ...m, files: { 'm.go': `package m // ${i}\n` } }) };
  });
  const expected: Record<string, string> = { [zipKey(hot)]: hotZip.zipSha256, [zipKey(PROBE)]: world.probe.zipSha256 };
  for (const m of misses) expected[zipKey(m)] = m.added.zipSha256;
  await world.assertAlive('before the soak');
  const first = await download(world.plain(zipPath(hot)), { timeoutMs: 30_000 });
  assert.equal(first.sha256, hotZip.zipSha256);
  const pid = world.gw.child.pid!;
  const before = procFigures(pid);

  const counts = { hit: 0, miss: 0, abort: 0, failed: 0, wrong: 0 };
  const failures: string[] = [];
  /** A complete 200 of other bytes is wrong; anything else that is not a complete 200 failed. */
  const classify = (what: 'hit' | 'miss', d: Download, want: string, via: string): void => {
    if (d.status === 200 && d.complete && d.sha256 === want) counts[what]++;
    else if (d.status === 200 && d.complete) counts.wrong++;
    else {
      counts.failed++;
      if (failures.length < 5) failures.push(`${what} ${via}: status ${d.status}, ${d.bytes} bytes, ${d.error ?? 'complete'}`);
    }
  };
  let nextMiss = 0;
  const deadline = Date.now() + SECONDS * 1000;
  const agent = world.agent({ keepAlive: true, maxSockets: 200 });
  const loop = async (n: number): Promise<void> => {
    for (let i = 0; i < 100_000 && Date.now() < deadline; i++) {
      const viaConnect = (n + i) % 2 === 1;
      const url = (p: string) => (viaConnect ? world.intercepted(p) : world.plain(p));
      const pick = (n * 7 + i) % 10;
      if (pick < 5) {
        const small = pick % 2 === 0;
        const d = await download(url(small ? zipPath(PROBE) : zipPath(hot)), { agent: viaConnect ? agent : undefined, timeoutMs: 60_000 });
        classify('hit', d, small ? world.probe.zipSha256 : hotZip.zipSha256, viaConnect ? 'CONNECT' : 'plain');
      } else if (pick < 8 && nextMiss < MISSES) {
        const m = misses[nextMiss++]!;
        const d = await download(url(zipPath(m)), { agent: viaConnect ? agent : undefined, timeoutMs: 60_000 });
        classify('miss', d, m.added.zipSha256, viaConnect ? 'CONNECT' : 'plain');
      } else {
        // a fresh connection reset after 64 KiB of the 1 MiB zip
        await download(url(zipPath(hot)), { agent: viaConnect ? world.agent() : undefined, resetAfterBytes: 64 * 1024, timeoutMs: 60_000 });
        counts.abort++;
      }
    }
  };
  await Promise.all(Array.from({ length: LOOPS }, (_, n) => loop(n)));
  agent.destroy();
  const during = procFigures(pid);
  await world.assertAlive('after the soak');
  // the clients are gone: descriptors come back near the start (bounded wait, not a timing assertion)
  const settled = await waitFor('descriptors back near the start', () => {
    const f = procFigures(pid);
    return f.fds <= before.fds + 20 ? f : null;
  }, 20_000).catch(() => procFigures(pid));
  const report = `soak ${SECONDS} s, ${LOOPS} loops: ${counts.hit} hits, ${counts.miss} misses, ${counts.abort} aborts, ` +
    `${counts.failed} incomplete, ${counts.wrong} wrong; RSS ${before.rssMiB} MiB before, ${during.rssMiB} MiB at the end of the load, ` +
    `${settled.rssMiB} MiB settled; fds ${before.fds} before, ${during.fds} at the end of the load, ${settled.fds} settled`;
  t.diagnostic(report);
  console.log(report);
  assert.equal(counts.wrong, 0, 'every completed download is byte-exact');
  assert.deepEqual(failures, [], `requests that did not complete: ${counts.failed}`);
  assert.ok(counts.hit > 0 && counts.miss > 0 && counts.abort > 0, 'the mix ran');
  assert.ok(settled.fds <= before.fds + 20, `open descriptors settle near the start (${before.fds} → ${settled.fds})`);
  assert.deepEqual(await settledTempFiles(world.dataDir), [], 'no partial download left');
  await assertStoreConsistent(world.dataDir, expected, 'after the soak');
}));
