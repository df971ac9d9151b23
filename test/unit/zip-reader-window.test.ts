// Unit: ZipReader's read window (src/verify/zip-reader.ts). Its small reads go through one 64 KiB window; every
// answer must be the bytes a read of the file at that offset gives, also short at the end of the file and empty
// past it, in any order of offsets. A real zip (300 deflated entries, ~0.5 MB) in a real file, read both ways.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { buildZipSync, moduleZipEntries } from '../helpers/module-zip.js';
import { ZipReader } from '../../src/verify/zip-reader.js';

test('every read through the window is the file read at that offset: in order, backwards, across and past the end', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'gmg-zipwin-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const files: Record<string, Buffer> = {};
  for (let i = 0; i < 300; i++) files[`f${i}.txt`] = randomBytes(100 + ((i * 7919) % 3000));
  const file = join(dir, 'm.zip');
  writeFileSync(file, buildZipSync(moduleZipEntries('example.com/win', 'v1.0.0', files, 'module example.com/win\n')).zip);
  const whole = readFileSync(file);
  const zip = await ZipReader.open(file);
  try {
    const expect = (pos: number, length: number) => whole.subarray(Math.max(0, pos), Math.max(0, Math.min(pos + length, whole.length)));
    const probes: [number, number][] = [];
    for (let pos = 0; pos < whole.length; pos += 997) probes.push([pos, 30]); // forwards, as the checks read
    for (let pos = whole.length - 1; pos >= 0; pos -= 4099) probes.push([pos, 16]); // backwards
    probes.push([1000, 4], [1000 + 65_536 - 10, 30]); // runs past a window that is not the end of the file
    probes.push([whole.length - 10, 16], [whole.length - 10, 70_000], [whole.length, 4], [whole.length + 5, 4], [0, 70_000], [65_530, 12], [3, 0]);
    for (const [pos, length] of probes) {
      const got = await zip.readAt(pos, length);
      assert.ok(got.equals(length <= 0 ? Buffer.alloc(0) : expect(pos, length)), `readAt(${pos}, ${length}) of a ${whole.length}-byte file`);
    }
    for (const e of zip.entries) {
      const local = await zip.localHeader(e);
      assert.ok(local, `a local header for ${e.name}`);
      assert.ok(local.name.equals(e.name));
    }
  } finally {
    await zip.close();
  }
});
