// Fault injection, host side, against a real gomodgate child process on loopback: the disk fills up during a
// blob write (the data directory on a 2 MiB tmpfs), the data directory turns read-only (chattr +i on its
// directories: even root cannot create, rename or remove files in them; the open index stays writable), another process holds a write transaction on gomodgate.db, SIGHUP and SIGTERM arrive under
// load, and stdout is closed or blocked (nobody reads the pipe). Needs root for the tmpfs mount and chattr; every
// mount and flag is undone in a finally, and leftovers of an earlier run (/tmp/gmgf-host*) are removed at set-up.
// Every case ends with: the process still runs (or, after SIGTERM, exited cleanly and starts again) and answers a
// normal request byte for byte, no partial download is left, and every index row points at the right blob.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { download, inBatches, PROBE, settledTempFiles, startFaultWorld, zipKey, zipPath, type Download, type FaultWorld } from '../helpers/fault-world.js';
import { REPO_ROOT, waitFor } from '../helpers/gateway.js';
import { run, runChecked } from '../helpers/netns.js';
import { assertStoreConsistent, rowFor } from '../helpers/store-check.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const HANG_BOUND_MS = 20_000;
const isRoot = process.getuid?.() === 0;
const PREFIX = 'gmgf-host-'; // this file's directories: /tmp/gmgf-host-XXXXXX
let fresh = 0;

function describeDownload(d: Download): string {
  return `status ${d.status}, ${d.bytes} bytes, complete ${d.complete}${d.error ? `, ${d.error}` : ''}`;
}

/** A new module (a miss) on the world's upstream; returns its zip path, key and hash. */
async function freshZip(world: FaultWorld, name: string, bytes = 0): Promise<{ path: string; key: string; sha256: string; size: number }> {
  const m = { path: `example.com/h/${name}${fresh++}`, version: 'v1.0.0' };
  const added = bytes > 0
    ? await world.upstream.addLargeModule({ ...m, sizeBytes: bytes })
    : world.upstream.addModule({ ...m, files: { 'x.go': `package x // ${m.path}\n` } });
  return { path: zipPath(m), key: zipKey(m), sha256: added.zipSha256, size: added.zipSize };
}

function assertExact(d: Download, z: { sha256: string }, what: string): void {
  assert.equal(d.status, 200, `${what}: ${describeDownload(d)}`);
  assert.ok(d.complete, `${what}: complete (${describeDownload(d)})`);
  assert.equal(d.sha256, z.sha256, `${what}: byte-exact`);
}

/** Answered within the bound; a complete 200 is the real object; otherwise a 5xx or a cut-off 200. */
function assertCleanOutcome(d: Download, z: { sha256: string }, what: string): void {
  assert.ok(d.error !== 'timeout', `${what}: answered within ${HANG_BOUND_MS} ms (${describeDownload(d)})`);
  if (d.status === 200 && d.complete) assert.equal(d.sha256, z.sha256, `${what}: a complete 200 is the real object`);
  else assert.ok(d.status === 200 || d.status >= 500 || d.status === 0, `${what}: 5xx or a cut-off 200 (${describeDownload(d)})`);
}

async function assertHealthy(world: FaultWorld, own: Array<{ key: string; sha256: string }>, when: string): Promise<void> {
  await world.assertAlive(when);
  assert.deepEqual(await settledTempFiles(world.dataDir), [], `${when}: no partial download left in tmp/`);
  const expected: Record<string, string> = { [zipKey(PROBE)]: world.probe.zipSha256 };
  for (const z of own) expected[z.key] = z.sha256;
  await assertStoreConsistent(world.dataDir, expected, when);
}

async function removeLeftovers(): Promise<void> {
  for (const entry of readdirSync(tmpdir())) {
    const dir = join(tmpdir(), entry);
    if (!entry.startsWith(PREFIX) || !statSync(dir).isDirectory()) continue;
    await run(['chattr', '-R', '-i', dir], { timeoutMs: 10_000 });
    await run(['umount', '-l', join(dir, 'mnt')], { timeoutMs: 10_000 });
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('host faults', { skip: isRoot ? false : 'needs root (tmpfs mount, chattr)' }, () => {
  let base: string;
  let world: FaultWorld;

  before(async () => {
    await removeLeftovers();
    base = mkdtempSync(join(tmpdir(), PREFIX));
    world = await startFaultWorld({ name: 'host' });
    await world.assertAlive('start');
  });

  after(async () => {
    await world?.close();
    if (base) {
      await run(['chattr', '-R', '-i', base], { timeoutMs: 10_000 });
      rmSync(base, { recursive: true, force: true });
    }
  });

  it('disk full during a blob write (data dir on a 2 MiB tmpfs): no partial object, space given back, still serving', async () => {
    const mnt = join(base, 'mnt');
    mkdirSync(mnt, { recursive: true });
    await runChecked(['mount', '-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', mnt]);
    let small: FaultWorld | null = null;
    try {
      small = await startFaultWorld({ name: 'hostfull', dataDir: join(mnt, 'data') });
      await small.guard(async () => {
        await small!.assertAlive('on the small disk');
        const big = await freshZip(small!, 'toobig', 3 * MiB);
        const results = await Promise.all([
          download(small!.plain(big.path), { timeoutMs: HANG_BOUND_MS }),
          download(small!.intercepted(big.path), { agent: small!.agent(), timeoutMs: HANG_BOUND_MS }),
        ]);
        results.forEach((d, i) => assertCleanOutcome(d, big, `the 3 MiB zip on a 2 MiB disk (${i ? 'CONNECT' : 'plain'})`));
        const row = rowFor(small!.dataDir, big.key);
        if (row) assert.equal(row.sha256, big.sha256, 'nothing but the real zip is indexed');
        // the temp file of the failed write is gone, so small objects fit again
        assert.deepEqual(await settledTempFiles(small!.dataDir), [], 'the partial blob is removed');
        const full = small!.gw.log().split('\n').find((l) => l.includes('its disk is full'));
        assert.match(full ?? '', /ENOSPC: no space left on device/, "the admin's log line names the disk's own error");
        const fits = await freshZip(small!, 'fits');
        assertExact(await download(small!.plain(fits.path), { timeoutMs: HANG_BOUND_MS }), fits, 'a small miss after the disk filled');
        await assertHealthy(small!, [big, fits], 'after the disk filled');
      });
    } finally {
      await small?.close();
      await run(['umount', mnt], { timeoutMs: 10_000 });
    }
  });

  // Only the directories: making the open gomodgate.db-shm immutable too kills any SQLite process with SIGBUS
  // (its WAL index is a shared mapping of that file), which no gateway code can survive.
  it('the data directory turned read-only (chattr +i on its directories): hits served, misses fail cleanly, recovers', async () => {
    const ro = await startFaultWorld({ name: 'hostro', dataDir: join(base, 'ro-data') });
    try {
      await ro.guard(async () => {
        await ro.assertAlive('before the data directory turned read-only');
        const miss = await freshZip(ro, 'readonly');
        const dirs = (await runChecked(['find', ro.dataDir, '-type', 'd'])).stdout.split('\n').filter(Boolean);
        await runChecked(['chattr', '+i', ...dirs]);
        try {
          const hit = await download(ro.plain(zipPath(PROBE)), { timeoutMs: HANG_BOUND_MS });
          assertExact(hit, { sha256: ro.probe.zipSha256 }, 'a hit from a read-only data directory');
          const results = await Promise.all([
            download(ro.plain(miss.path), { timeoutMs: HANG_BOUND_MS }),
            download(ro.intercepted(miss.path), { agent: ro.agent(), timeoutMs: HANG_BOUND_MS }),
          ]);
          results.forEach((d, i) => assertCleanOutcome(d, miss, `a miss into a read-only data directory (${i ? 'CONNECT' : 'plain'})`));
          assert.equal(ro.gw.child.exitCode, null, `gomodgate exited:\n${ro.gw.log().slice(-3000)}`);
        } finally {
          await runChecked(['chattr', '-R', '-i', ro.dataDir]);
        }
        assertExact(await download(ro.plain(miss.path), { timeoutMs: HANG_BOUND_MS }), miss, 'the miss once the directory is writable again');
        await assertHealthy(ro, [miss], 'after the read-only data directory');
      });
    } finally {
      await run(['chattr', '-R', '-i', ro.dataDir], { timeoutMs: 10_000 });
      await ro.close();
    }
  });

  it('SQLite locked by another process holding a write transaction: hits answered, misses clean, recovers after', () => world.guard(async () => {
    const miss = await freshZip(world, 'locked');
    const script = `
      const Database = require('better-sqlite3');
      const db = new Database(process.argv[1]);
      db.pragma('busy_timeout = 10000');
      db.exec('BEGIN IMMEDIATE');
      db.prepare("INSERT INTO audit (ts, outcome) VALUES (0, 'lock-holder')").run();
      console.log('locked');
      setTimeout(() => { db.exec('ROLLBACK'); db.close(); process.exit(0); }, 7000);
    `;
    const holder = spawn(process.execPath, ['-e', script, join(world.dataDir, 'gomodgate.db')], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    holder.stdout!.on('data', (c) => (out += c));
    holder.stderr!.on('data', (c) => (out += c));
    try {
      await waitFor('the write lock is held', () => {
        if (holder.exitCode !== null) throw new Error(`the lock holder exited: ${out}`);
        return out.includes('locked');
      }, 10_000);
      const results = await Promise.all([
        download(world.plain(zipPath(PROBE)), { timeoutMs: HANG_BOUND_MS }),
        download(world.intercepted(zipPath(PROBE)), { agent: world.agent(), timeoutMs: HANG_BOUND_MS }),
        download(world.plain(miss.path), { timeoutMs: HANG_BOUND_MS }),
      ]);
      assertExact(results[0]!, { sha256: world.probe.zipSha256 }, 'a hit while the index is locked (plain)');
      assertExact(results[1]!, { sha256: world.probe.zipSha256 }, 'a hit while the index is locked (CONNECT)');
      assertCleanOutcome(results[2]!, miss, 'a miss while the index is locked');
      await waitFor('the lock holder exits', () => holder.exitCode !== null, 15_000);
    } finally {
      if (holder.exitCode === null) holder.kill('SIGKILL');
    }
    assertExact(await download(world.plain(miss.path), { timeoutMs: HANG_BOUND_MS }), miss, 'the miss after the lock was released');
    await assertHealthy(world, [miss], 'after the SQLite lock');
  }));

  it('SIGHUP five times under load: no connection dropped, every download byte-exact', () => world.guard(async () => {
    const hot = await freshZip(world, 'hup', MiB);
    assertExact(await download(world.plain(hot.path), { timeoutMs: HANG_BOUND_MS }), hot, 'warm');
    const misses = await Promise.all(Array.from({ length: 10 }, () => freshZip(world, 'hupmiss')));
    const deadline = Date.now() + 3000;
    const results: Array<{ d: Download; z: { sha256: string } }> = [];
    const load = Promise.all(Array.from({ length: 40 }, async (_, w) => {
      for (let i = 0; i < 1000 && Date.now() < deadline; i++) {
        const z = i === 0 && w < misses.length ? misses[w]! : hot;
        const url = w % 2 ? world.intercepted(z.path) : world.plain(z.path);
        results.push({ d: await download(url, { agent: w % 2 ? world.agent() : undefined, timeoutMs: HANG_BOUND_MS }), z });
      }
    }));
    for (let i = 0; i < 5; i++) {
      await new Promise((r) => setTimeout(r, 400));
      world.gw.child.kill('SIGHUP');
    }
    await load;
    results.forEach(({ d, z }, i) => assertExact(d, z, `download ${i} during SIGHUPs`));
    await waitFor('five reloads logged', () => world.gw.log().split('\n').filter((l) => l.includes('"configuration reloaded')).length >= 5, 5000);
    await assertHealthy(world, [hot, ...misses], 'after SIGHUPs');
  }));

  it('SIGTERM under load: exits 0 within the bound, in-flight downloads whole or cut (never wrong), restarts clean', () => world.guard(async () => {
    const zips = await Promise.all(Array.from({ length: 4 }, () => freshZip(world, 'term', 2 * MiB)));
    world.relay.setRate(2 * MiB); // each upstream download takes about a second
    const downloads = zips.flatMap((z) => [
      download(world.plain(z.path), { timeoutMs: 30_000 }).then((d) => ({ d, z })),
      download(world.intercepted(z.path), { agent: world.agent(), timeoutMs: 30_000 }).then((d) => ({ d, z })),
    ]);
    await waitFor('downloads in flight', () => world.relay.bytesDown > 256 * KiB, 10_000);
    const child = world.gw.child;
    child.kill('SIGTERM');
    try {
      await waitFor('gomodgate exits after SIGTERM', () => child.exitCode !== null || child.signalCode !== null, HANG_BOUND_MS);
    } finally {
      world.relay.setRate(1 << 30);
    }
    assert.equal(child.exitCode, 0, `exit code after SIGTERM:\n${world.gw.log().slice(-2000)}`);
    for (const { d, z } of await Promise.all(downloads)) {
      if (d.complete && d.status === 200) assert.equal(d.sha256, z.sha256, 'a download completed during shutdown is the real zip');
    }
    await assertStoreConsistent(world.dataDir, Object.fromEntries(zips.map((z) => [z.key, z.sha256])), 'after SIGTERM, before the restart');
    await world.restart();
    await assertHealthy(world, zips, 'after SIGTERM and a restart');
  }));

  it('stdout closed (the reader of the pipe went away): still serving, and SIGTERM still ends it', () => world.guard(async () => {
    world.gw.detachStdout('close');
    const results = await inBatches(200, 8, () => download(world.plain(zipPath(PROBE)), { timeoutMs: HANG_BOUND_MS }));
    results.forEach((d, i) => assertExact(d, { sha256: world.probe.zipSha256 }, `request ${i} with stdout closed`));
    await world.assertAlive('with stdout closed');
    const child = world.gw.child;
    child.kill('SIGTERM');
    await waitFor('gomodgate exits after SIGTERM with stdout closed', () => child.exitCode !== null || child.signalCode !== null, HANG_BOUND_MS);
    await world.restart();
    await assertHealthy(world, [], 'after stdout was closed');
  }));

  it('stdout blocked (nobody reads the pipe): requests still answered, and SIGTERM still ends it', () => world.guard(async () => {
    world.gw.detachStdout('block');
    const child = world.gw.child;
    try {
      // each request logs a line: 1000 lines are far more than a pipe holds
      const results = await inBatches(1000, 8, () => download(world.plain(zipPath(PROBE)), { timeoutMs: HANG_BOUND_MS }));
      const failed = results.map((d, i) => [i, d] as const).filter(([, d]) => !(d.complete && d.sha256 === world.probe.zipSha256));
      assert.deepEqual(failed.slice(0, 3).map(([i, d]) => `${i}: ${describeDownload(d)}`), [], 'every request answered while stdout is blocked');
      child.kill('SIGTERM');
      await waitFor('gomodgate exits after SIGTERM with stdout blocked', () => child.exitCode !== null || child.signalCode !== null, HANG_BOUND_MS);
    } finally {
      child.stdout?.resume(); // let it drain whatever happens
    }
    await world.restart();
    await assertHealthy(world, [], 'after stdout was blocked');
  }));
});

