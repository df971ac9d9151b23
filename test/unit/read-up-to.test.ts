// Unit: readUpTo, the one bounded reader of upstream bodies. Cut mode keeps the first maxBytes (and what came
// before a failure); refuse mode throws the caller's error past the bound, and a failure of the body. Past the
// bound the body is destroyed: an endless body is never read to its end.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { readUpTo } from '../../src/upstream/upstream.js';

const chunks = (...parts: string[]) => Readable.from(parts.map((p) => Buffer.from(p)));

/** A body that never ends (a chunk per read), counting what was pulled from it. */
function endless(): Readable & { pulled: number } {
  const body = new Readable({
    read() {
      body.pulled++;
      this.push(Buffer.alloc(100, 120));
    },
  }) as Readable & { pulled: number };
  body.pulled = 0;
  return body;
}

test('cut mode: a body within the bound whole; one past it cut at the bound; an endless one destroyed', async () => {
  assert.equal((await readUpTo(chunks('ab', 'cd'), 4, null)).toString(), 'abcd');
  assert.equal((await readUpTo(chunks('ab', 'cd', 'ef'), 5, null)).toString(), 'abcde');
  const body = endless();
  assert.equal((await readUpTo(body, 250, null)).length, 250);
  assert.ok(body.destroyed);
  assert.ok(body.pulled < 10, `read ${body.pulled} chunks of an endless body`);
});

test('cut mode: what came before a failure is the answer', async () => {
  const failing = new Readable({ read() {} });
  failing.push(Buffer.from('not found: '));
  setImmediate(() => failing.destroy(new Error('reset')));
  assert.equal((await readUpTo(failing, 100, null)).toString(), 'not found: ');
});

test('refuse mode: past the bound the caller\'s error, a failure of the body as it is', async () => {
  const tooLong = () => new Error('too long');
  assert.equal((await readUpTo(chunks('ab', 'cd'), 4, tooLong)).toString(), 'abcd');
  const body = endless();
  await assert.rejects(readUpTo(body, 250, tooLong), /too long/);
  assert.ok(body.destroyed);
  const failing = new Readable({ read() {} });
  setImmediate(() => failing.destroy(new Error('reset')));
  await assert.rejects(readUpTo(failing, 100, tooLong), /reset/);
});
