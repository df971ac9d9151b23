// Unit: PendingBlob's write-behind (src/store/pending-blob.ts). Appends not awaited one by one still land in
// order and whole; append() waits only past its bound; a reader never gets bytes that are not in the file; a
// disk that refuses writes (a real one: /dev/full, behind a symlink so that fail() removes only the link)
// fails the download with the disk's error and leaves no file. Real files, no timers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, lstatSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { PendingBlob } from '../../src/store/pending-blob.js';

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'gmg-pending-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('1,000 appends of 16 KiB, not awaited one by one: the file and its SHA-256 are the bytes in order', async (t) => {
  const file = join(tempDir(t), 'blob');
  const chunks = Array.from({ length: 1000 }, (_, i) => Buffer.alloc(16 * 1024, i % 251));
  const pending = await PendingBlob.create(file, null);
  const appended = chunks.map((c) => pending.append(c)); // as a stream would, faster than the disk
  assert.equal(pending.bytesWritten, 1000 * 16 * 1024, 'every byte is accounted for at once');
  await Promise.all(appended);
  const { sha256: got, size } = await pending.finishWriting();
  const whole = Buffer.concat(chunks);
  assert.equal(size, whole.length);
  assert.equal(got, sha256(whole));
  assert.equal(sha256(readFileSync(file)), got);
  await pending.fail(new Error('done with the test'));
});

test('append() resolves at once within the bound and waits beyond it; a reader gets only what is in the file', async (t) => {
  const file = join(tempDir(t), 'blob');
  const pending = await PendingBlob.create(file, null);
  let quick = false;
  void pending.append(Buffer.alloc(64 * 1024, 1)).then(() => (quick = true));
  await Promise.resolve();
  await Promise.resolve();
  assert.equal(quick, true, '64 KiB is within the bound: no wait for the disk');
  const big = pending.append(Buffer.alloc(2 << 20, 2)); // past the 1 MiB bound
  let waited = true;
  void big.then(() => (waited = false));
  await Promise.resolve();
  assert.equal(waited, true, 'past the bound append() waits for the disk');
  await big;
  assert.ok(pending.releasedBytes <= readFileSync(file).length, 'released bytes are in the file');
  await pending.finishWriting();
  const reader = pending.createReader()!;
  pending.seal();
  const parts: Buffer[] = [];
  for await (const c of reader) parts.push(c as Buffer);
  assert.equal(Buffer.concat(parts).length, 64 * 1024 + (2 << 20));
});

test('a disk that refuses writes (ENOSPC): append or finishWriting rejects with it, fail() removes the file', async (t) => {
  const dir = tempDir(t);
  const link = join(dir, 'blob');
  symlinkSync('/dev/full', link);
  const pending = await PendingBlob.create(link, null);
  let failure: NodeJS.ErrnoException | null = null;
  // Bounded: at most 64 appends of 64 KiB (4 MiB, past the bound), then finishWriting.
  for (let i = 0; i < 64 && !failure; i++) {
    await pending.append(Buffer.alloc(64 * 1024, 3)).catch((err: NodeJS.ErrnoException) => (failure = err));
  }
  if (!failure) await pending.finishWriting().catch((err: NodeJS.ErrnoException) => (failure = err));
  assert.equal((failure as NodeJS.ErrnoException | null)?.code, 'ENOSPC');
  await assert.rejects(pending.append(Buffer.from('more')), /ENOSPC/);
  await assert.rejects(pending.finishWriting(), /ENOSPC/);
  await pending.fail(failure!);
  assert.equal(existsSync(link) || isLink(link), false, 'the link is removed');
  assert.ok(lstatSync('/dev/full').isCharacterDevice(), '/dev/full itself is untouched');
});

function isLink(p: string): boolean {
  try {
    return lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
}
