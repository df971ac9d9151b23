// Contract: what the cache store promises the rest of gomodgate, in the style of Athens' storage compliance
// suite (pkg/storage/compliance): one suite, written against the public API only (BlobStore, CacheIndex,
// PendingBlob, eviction), run for every store implementation. Today there is one, blob files + a SQLite index,
// each run in a fresh temp directory. No sockets, no timers: waits are bounded turns of the event loop.
import { describe, test, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { openDatabase, type Db } from '../../src/store/database.js';
import { BlobStore } from '../../src/store/blob-store.js';
import { CacheIndex, type CachedObject } from '../../src/store/cache-index.js';
import { PendingBlob } from '../../src/store/pending-blob.js';
import { evictToLimit } from '../../src/store/eviction.js';
import { GateError } from '../../src/errors.js';
import { settle } from '../helpers/settle.js';

/** One store implementation under test: its parts, and how to tear it down. */
interface StoreUnderTest {
  db: Db;
  index: CacheIndex;
  blobs: BlobStore;
  close(): void;
}

function sha256(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

function row(key: string, over: Partial<CachedObject> = {}): CachedObject {
  return {
    key,
    kind: 'zip',
    module: 'example.com/m',
    version: 'v1.0.0',
    status: 200,
    sha256: null,
    h1: null,
    size: 0,
    contentType: 'application/zip',
    bodyInline: null,
    upstreamUrl: 'https://proxy.test/example.com/m/@v/v1.0.0.zip',
    storedAt: 1_000,
    expiresAt: null,
    ...over,
  };
}

async function readAll(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of stream as AsyncIterable<Buffer>) parts.push(chunk);
  return Buffer.concat(parts);
}

/** A reader that records what it has received so far. */
function follow(stream: Readable): { received: () => number; done: Promise<Buffer> } {
  const parts: Buffer[] = [];
  let n = 0;
  const done = new Promise<Buffer>((resolve, reject) => {
    stream.on('data', (c: Buffer) => {
      parts.push(c);
      n += c.length;
    });
    stream.once('end', () => resolve(Buffer.concat(parts)));
    stream.once('error', reject);
  });
  done.catch(() => undefined); // observed by the test when it matters
  return { received: () => n, done };
}

/** The writer's side, in the documented order: temp file → fsync → rename → index row → seal. */
async function storeObject(s: StoreUnderTest, key: string, content: Buffer, over: Partial<CachedObject> = {}): Promise<CachedObject> {
  const pending = await PendingBlob.create(s.blobs.newTempPath(), content.length);
  await pending.append(content);
  const { sha256: sha, size } = await pending.finishWriting();
  await s.blobs.commit(pending.tempPath, sha);
  const obj = row(key, { sha256: sha, size, ...over });
  s.index.put(obj);
  pending.seal();
  return obj;
}

function storeContract(name: string, open: () => StoreUnderTest): void {
  describe(`store contract: ${name}`, () => {
    let s: StoreUnderTest;
    beforeEach(() => {
      s = open();
    });
    afterEach(() => s.close());

    test('put, get, delete; absent is null; a missing blob is STORE_IO', async () => {
      assert.equal(s.index.get('mod:example.com/m@v1.0.0.zip'), null);
      const content = Buffer.from('zip content\n');
      const obj = await storeObject(s, 'mod:example.com/m@v1.0.0.zip', content, { h1: 'h1:abc=' });
      const got = s.index.get(obj.key)!;
      assert.deepEqual({ ...got }, { ...obj, upstreamUrl: obj.upstreamUrl });
      assert.equal((await s.blobs.readSmall(obj.sha256!, obj.size)).toString(), 'zip content\n');
      assert.equal((await readAll(await s.blobs.openRead(obj.sha256!))).toString(), 'zip content\n');
      assert.equal(await s.blobs.sizeOf(obj.sha256!), content.length);
      assert.equal(s.blobs.sizeOfSync(obj.sha256!), content.length);
      assert.equal(await s.blobs.digest(obj.sha256!), obj.sha256);

      // put replaces a row in place
      s.index.put({ ...got, h1: 'h1:def=' });
      assert.equal(s.index.get(obj.key)!.h1, 'h1:def=');
      assert.equal([...s.index.all()].length, 1);

      s.index.delete(obj.key);
      assert.equal(s.index.get(obj.key), null);
      await s.blobs.remove(obj.sha256!);
      assert.equal(await s.blobs.sizeOf(obj.sha256!), null);
      await assert.rejects(s.blobs.readSmall(obj.sha256!, obj.size), (e: unknown) => e instanceof GateError && e.code === 'STORE_IO');
      await assert.rejects(s.blobs.openRead(obj.sha256!), (e: unknown) => e instanceof GateError && e.code === 'STORE_IO');
      assert.throws(() => s.blobs.pathOf('../../etc/passwd'), (e: unknown) => e instanceof GateError && e.code === 'STORE_IO');
    });

    test('a blob of the wrong size is refused, not served', async () => {
      const obj = await storeObject(s, 'mod:example.com/m@v1.0.0.mod', Buffer.from('module example.com/m\n'));
      await assert.rejects(s.blobs.readSmall(obj.sha256!, obj.size + 1), (e: unknown) => e instanceof GateError && e.code === 'STORE_IO');
    });

    test('commit is idempotent for equal content: one blob file, no temp file left', async () => {
      const content = Buffer.from('same bytes');
      const a = await storeObject(s, 'k1', content);
      const b = await storeObject(s, 'k2', content);
      assert.equal(a.sha256, b.sha256);
      assert.deepEqual(s.blobs.listBlobFiles().map((f) => f.sha256), [a.sha256]);
      assert.deepEqual(s.blobs.listTempFiles(), []);
    });

    test('commit is atomic: no blob under its name and no row until it is complete; readers never get the last byte early', async () => {
      const content = Buffer.from('0123456789');
      const key = 'mod:example.com/m@v2.0.0.zip';
      const pending = await PendingBlob.create(s.blobs.newTempPath(), content.length);
      const early = follow(pending.createReader()!);
      await pending.append(content.subarray(0, 4));
      await pending.append(content.subarray(4));
      const sha = sha256(content);
      assert.equal(s.blobs.sizeOfSync(sha), null, 'not under its name while writing');
      assert.equal(s.index.get(key), null);
      assert.equal(s.blobs.listTempFiles().length, 1, 'the bytes are in the temp directory');

      const { sha256: got, size } = await pending.finishWriting();
      assert.equal(got, sha);
      await settle('the reader has all but the last byte', () => early.received() === content.length - 1);
      for (let i = 0; i < 50; i++) await new Promise((resolve) => setImmediate(resolve));
      assert.equal(early.received(), content.length - 1, 'the last byte waits for the seal');

      await s.blobs.commit(pending.tempPath, sha);
      assert.equal(s.blobs.sizeOfSync(sha), content.length, 'complete under its name before any row points at it');
      assert.deepEqual(s.blobs.listTempFiles(), [], 'renamed, not copied');
      assert.equal(s.index.get(key), null);
      s.index.put(row(key, { sha256: sha, size }));
      pending.seal();
      assert.equal((await early.done).toString(), '0123456789');
      assert.equal(pending.createReader(), null, 'once sealed and closed, read it from the store');
    });

    test('a failed download: every reader errors, the temp file is gone, nothing is stored', async () => {
      const pending = await PendingBlob.create(s.blobs.newTempPath(), null);
      const reader = follow(pending.createReader()!);
      await pending.append(Buffer.alloc(1000, 1));
      await pending.fail(new Error('upstream reset'));
      await assert.rejects(reader.done, /upstream reset/);
      await assert.rejects(readAll(pending.createReader()!), /download failed/);
      assert.deepEqual(s.blobs.listTempFiles(), []);
      assert.deepEqual(s.blobs.listBlobFiles(), []);
      await assert.rejects(pending.finishWriting());
    });

    test('concurrent readers while committing: readers that joined early, late and after the commit all get every byte', async () => {
      const content = Buffer.concat(Array.from({ length: 40 }, (_, i) => Buffer.alloc(16 * 1024, i)));
      const sha = sha256(content);
      const key = 'mod:example.com/big@v1.0.0.zip';
      const pending = await PendingBlob.create(s.blobs.newTempPath(), content.length);
      const readers = [follow(pending.createReader()!), follow(pending.createReader()!)];
      const step = 64 * 1024;
      for (let off = 0; off < content.length; off += step) {
        await pending.append(content.subarray(off, off + step));
        if (off === 4 * step) readers.push(follow(pending.createReader()!)); // joins mid-way, starts at byte 0
      }
      const { size } = await pending.finishWriting();
      await s.blobs.commit(pending.tempPath, sha);
      readers.push(follow(pending.createReader()!)); // after the rename, before the seal: the open handle still reads
      const fromStore = await s.blobs.openRead(sha); // a reader of the committed blob, before its row exists
      assert.equal(s.blobs.inUse(sha), true);
      s.index.put(row(key, { sha256: sha, size }));
      pending.seal();
      const bodies = await Promise.all([...readers.map((r) => r.done), readAll(fromStore)]);
      for (const b of bodies) assert.equal(sha256(b), sha);
      await settle('the store reader is closed', () => !s.blobs.inUse(sha));
    });

    test('removeLeftoverTempFiles removes what a crash left in the temp directory, and nothing else', async () => {
      const kept = await storeObject(s, 'k', Buffer.from('kept'));
      const abandoned = await PendingBlob.create(s.blobs.newTempPath(), null);
      await abandoned.append(Buffer.from('half a download'));
      const odd = join(s.blobs.tempDir, 'odd-dir');
      mkdirSync(odd);
      writeFileSync(join(odd, 'x'), 'x');
      assert.equal(s.blobs.listTempFiles().length, 2);
      assert.equal(s.blobs.removeLeftoverTempFiles(), 2);
      assert.deepEqual(s.blobs.listTempFiles(), []);
      assert.equal(s.blobs.removeLeftoverTempFiles(), 0);
      assert.equal((await s.blobs.readSmall(kept.sha256!, kept.size)).toString(), 'kept');
      await abandoned.fail(new Error('abandoned'));
    });

    test('the layout is listed by the store: blobs by name, strays, and removeStray stays inside its directories', async () => {
      const obj = await storeObject(s, 'k', Buffer.from('blob'));
      writeFileSync(join(s.blobs.blobDir, 'stray.txt'), 'not a blob');
      const files = s.blobs.listBlobFiles();
      assert.deepEqual(files.map((f) => f.sha256).sort(), [obj.sha256, null].sort());
      const stray = files.find((f) => f.sha256 === null)!;
      assert.equal(s.blobs.blobNameAt(s.blobs.pathOf(obj.sha256!)), obj.sha256);
      assert.equal(s.blobs.blobNameAt(stray.path), null);
      const outside = join(s.blobs.blobDir, '..', 'gomodgate.db');
      assert.equal(s.blobs.removeStray(outside), false, 'never outside the blob and temp directories');
      assert.equal(s.blobs.removeStray(s.blobs.blobDir), false, 'never the directory itself');
      assert.equal(s.blobs.removeStray(stray.path), true);
      assert.deepEqual(s.blobs.listBlobFiles().map((f) => f.sha256), [obj.sha256]);
      assert.equal(s.blobs.removeSync(obj.sha256!), true);
      assert.deepEqual(s.blobs.listBlobFiles(), []);
    });

    test('evictToLimit removes least recently used blobs, never one in use, and counts a shared blob once', async () => {
      const a = await storeObject(s, 'a', Buffer.alloc(1000, 1));
      const b = await storeObject(s, 'b', Buffer.alloc(1000, 2));
      const c = await storeObject(s, 'c', Buffer.alloc(1000, 3));
      const c2 = await storeObject(s, 'c-again', Buffer.alloc(1000, 3)); // same blob as c
      assert.equal(c2.sha256, c.sha256);
      s.index.touch('a', 10); // a is the least recently used
      s.index.touch('b', 20);
      s.index.touch('c', 30);
      s.index.touch('c-again', 40);
      s.index.flushTouches(); // hits are written in batches; eviction reads them from the table

      const reading = await s.blobs.openRead(a.sha256!); // a is being served
      // the index is told of each row deleted on its own connection, as the gateway's CacheLimit does
      const forget = { onRemove: (o: { key: string }) => s.index.forgetKept(o.key) };
      const r = evictToLimit(s.db, s.blobs, 2000, (sha) => s.blobs.inUse(sha), forget);
      assert.deepEqual(r, { removedObjects: 1, removedBytes: 1000 });
      assert.ok(s.index.get('a'), 'in use: kept although least recently used');
      assert.equal(s.blobs.sizeOfSync(a.sha256!), 1000);
      assert.equal(s.index.get('b'), null, 'the next least recently used goes');
      assert.equal(s.blobs.sizeOfSync(b.sha256!), null);
      assert.ok(s.index.get('c') && s.index.get('c-again'));
      assert.equal((await readAll(reading)).length, 1000, 'the reader of the kept blob is unharmed');
      await settle('the reader is closed', () => !s.blobs.inUse(a.sha256!));

      const r2 = evictToLimit(s.db, s.blobs, 1000, (sha) => s.blobs.inUse(sha), forget);
      assert.deepEqual(r2, { removedObjects: 1, removedBytes: 1000 });
      assert.equal(s.index.get('a'), null, 'no longer in use: now it goes');
      assert.equal(s.blobs.sizeOfSync(c.sha256!), 1000);

      // everything in use: nothing goes, however small the limit
      const r3 = evictToLimit(s.db, s.blobs, 0, () => true);
      assert.deepEqual(r3, { removedObjects: 0, removedBytes: 0 });
      assert.equal(s.blobs.sizeOfSync(c.sha256!), 1000);
    });

    test('pruneNegatives bounds remembered 404/410s: expired first, then the oldest; blobs untouched', async () => {
      const now = 100_000;
      const kept = await storeObject(s, 'positive', Buffer.from('x'));
      for (let i = 0; i < 10; i++) {
        s.index.put(row(`neg${i}`, { status: 404, size: 3, bodyInline: Buffer.from('404'), storedAt: 1000 + i, expiresAt: i % 3 === 0 ? now - 1 : now + 1000 }));
      }
      assert.equal(s.index.pruneNegatives(20, now), 0, 'under the bound: nothing to do');
      // past the bound of 4: down to a fiftieth below it (3)
      assert.equal(s.index.pruneNegatives(4, now), 7);
      const left = [...s.index.all()].filter((o) => o.status !== 200).map((o) => o.key).sort();
      // expired: neg0, neg3, neg6, neg9 go first; then the oldest unexpired: neg1, neg2, neg4
      assert.deepEqual(left, ['neg5', 'neg7', 'neg8']);
      assert.ok(s.index.get('positive'));
      assert.equal(s.blobs.sizeOfSync(kept.sha256!), 1);
      assert.equal(s.index.pruneNegatives(0, now), 3);
      assert.deepEqual([...s.index.all()].map((o) => o.key), ['positive']);
    });
  });
}

storeContract('blob files + SQLite index', () => {
  const dir = mkdtempSync(join(tmpdir(), 'store-contract-'));
  const db = openDatabase(join(dir, 'gomodgate.db'));
  return {
    db,
    index: new CacheIndex(db),
    blobs: new BlobStore(dir),
    close: () => {
      db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});
