// Unit: the zip hashing threads (src/verify/zip-walk-pool.ts) against the walk on the event loop. Real worker
// threads and real zips (deflated with and without data descriptors, stored with descriptors as yazl and Go
// write them, a large one, a truncated one), fed in odd-sized chunks: the same walked offsets and the same
// digests, proven against the same central directory, and the same verdict (made on the thread). A thread that dies fails its walk (write/end reject),
// the pool replaces it; close() fails running walks and later starts. No sockets, no sleeps.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { InThreadZipWalks, ZipWalkThreads, type ZipWalk, type ZipWalkPool } from '../../src/verify/zip-walk-pool.js';
import { ZipReader } from '../../src/verify/zip-reader.js';
import { hash1ModuleZip } from '../../src/verify/dirhash.js';
import { VerifyError } from '../../src/verify/verify-error.js';
import { buildZipSync, moduleZipEntries, writeLargeModuleZip } from '../helpers/module-zip.js';
import { STOP_THREAD_MARK } from '../helpers/stopping-zip-walk-worker.js';

const M = 'example.com/walk/pool';
const STOPPING_WORKER = new URL('../helpers/stopping-zip-walk-worker.js', import.meta.url);

let dir: string;
const zips = new Map<string, string>(); // name → file

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gmg-walkpool-'));
  const files: Record<string, Buffer | string> = { 'a.go': 'package a\n'.repeat(5000), 'rand.bin': randomBytes(300_000), 'empty.txt': '' };
  for (let i = 0; i < 200; i++) files[`many/f${i}.go`] = `package many // ${i}\n`.repeat(i);
  const deflated = buildZipSync(moduleZipEntries(M, 'v1.0.0', files, `module ${M}\n`)).zip;
  await writeFile(join(dir, 'deflated.zip'), deflated);
  zips.set('deflated', join(dir, 'deflated.zip'));
  await writeFile(join(dir, 'truncated.zip'), deflated.subarray(0, deflated.length - 100));
  zips.set('truncated', join(dir, 'truncated.zip'));
  const large = await writeLargeModuleZip(join(dir, 'large.zip'), M, 'v1.0.1', Buffer.from(`module ${M}\n`), 6 << 20);
  zips.set('stored with descriptors, 6 MiB', large.zipFile);
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Feeds `bytes` to a walk in chunks of varying size (1 byte to ~200 KiB); returns the walk, ended. */
async function walkAll(walk: ZipWalk, bytes: Buffer): Promise<ZipWalk> {
  let at = 0;
  let i = 0;
  while (at < bytes.length) {
    const n = [1, 7, 4096, 65536, 200_003, 30][i++ % 6]!;
    await walk.write(bytes.subarray(at, at + n));
    at += n;
  }
  await walk.end();
  return walk;
}

async function digestsOf(pool: ZipWalkPool, file: string): Promise<{ walked: number; digests: string[] | null }> {
  const walk = await walkAll(pool.start(), await readFile(file));
  const zip = await ZipReader.open(file).catch(() => null);
  try {
    return { walked: walk.walkedBytes, digests: zip ? walk.digestsFor(zip)?.map((d) => d.toString('hex')) ?? null : null };
  } finally {
    await zip?.close();
  }
}

test('threads walk every zip to the same offsets and digests as the event loop', async () => {
  const threads = new ZipWalkThreads({ threads: 2 });
  try {
    for (const [name, file] of zips) {
      const inThread = await digestsOf(new InThreadZipWalks(), file);
      const offThread = await digestsOf(threads, file);
      assert.deepEqual(offThread, inThread, name);
      if (name !== 'truncated') assert.ok(offThread.digests && offThread.digests.length > 1, `${name}: proven digests`);
    }
    // several at once, spread over both threads, each with its own result
    const files = [...zips.values()];
    const together = await Promise.all([...files, ...files].map((f) => digestsOf(threads, f)));
    const alone = await Promise.all(files.map((f) => digestsOf(new InThreadZipWalks(), f)));
    assert.deepEqual(together, [...alone, ...alone]);
  } finally {
    await threads.close();
  }
});

test('a thread that dies fails its walk, not the process; the next walk gets a new thread', async () => {
  const pool = new ZipWalkThreads({ threads: 1, workerUrl: STOPPING_WORKER });
  try {
    const marked = Buffer.concat([Buffer.alloc(300_000), Buffer.from(STOP_THREAD_MARK), Buffer.alloc(300_000)]);
    const doomed = pool.start();
    await assert.rejects(walkAll(doomed, marked), (err: Error) => /zip hashing thread stopped/.test(err.message) && /exit code 70/.test(String((err.cause as Error).message)));
    const zip = await ZipReader.open(zips.get('deflated')!);
    assert.equal(doomed.digestsFor(zip), null);
    await zip.close();
    await assert.rejects(doomed.write(Buffer.alloc(1)), /zip hashing thread stopped/, 'stays failed');
    const file = zips.get('deflated')!;
    assert.deepEqual(await digestsOf(pool, file), await digestsOf(new InThreadZipWalks(), file));
  } finally {
    await pool.close();
  }
});

test('close() fails the walks still running and refuses new ones; destroy() abandons a walk', async () => {
  const pool = new ZipWalkThreads({ threads: 1 });
  const bytes = await readFile(zips.get('deflated')!);
  const abandoned = pool.start();
  await abandoned.write(bytes.subarray(0, 1000));
  abandoned.destroy();
  await assert.rejects(abandoned.end(), /abandoned/);
  const running = pool.start();
  await running.write(bytes.subarray(0, 300_000));
  await pool.close();
  await assert.rejects(running.end(), /shutting down/);
  assert.throws(() => pool.start(), /shut down/);
});

test('a walk on a thread makes the whole verdict there: the same h1, the same refusal (code and message)', async () => {
  const threads = new ZipWalkThreads({ threads: 2 });
  try {
    for (const [name, file] of zips) {
      const bytes = await readFile(file);
      const version = name.startsWith('stored') ? 'v1.0.1' : 'v1.0.0';
      for (const [module, why] of [[M, 'its own module'], ['example.com/other', 'another module: refused']] as const) {
        const here = await walkAll(new InThreadZipWalks().start(), bytes);
        const there = await walkAll(threads.start(), bytes);
        assert.ok(there.moduleZipHash && !here.moduleZipHash);
        const want = await settle(hash1ModuleZip(file, module, version, here));
        const got = await settle(hash1ModuleZip(file, module, version, there));
        assert.deepEqual(got, want, `${name}, ${why}`);
        if (module === M && name !== 'truncated') assert.ok(got.ok, `${name}: accepted`);
        else assert.ok(!got.ok, `${name}, ${why}: refused`);
      }
    }
  } finally {
    await threads.close();
  }
});

async function settle(p: Promise<string>): Promise<{ ok: true; h1: string } | { ok: false; error: string; code: string | null }> {
  try {
    return { ok: true, h1: await p };
  } catch (err) {
    return { ok: false, error: (err as Error).message, code: err instanceof VerifyError ? err.code : null };
  }
}
