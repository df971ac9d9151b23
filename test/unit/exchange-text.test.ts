// Unit: the one line of text every error answer is (oneLine in http/exchange.ts). The go command prints a
// text/plain error body only when every character of it is graphic or a space: one escape code, NUL or line
// separator from an upstream's reason would hide the gateway's whole explanation from the user.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { oneLine } from '../../src/http/exchange.js';

test('oneLine: one line, control and separator characters as spaces, tabs and non-ASCII letters kept', () => {
  assert.equal(oneLine('upstream said:\r\n\x1b[31mforbidden\x1b[0m'), 'upstream said:  [31mforbidden [0m');
  assert.equal(oneLine('a\u0000b\u007fc\u0085d\u2028e\u2029f\u200bg'), 'a b c d e f g');
  assert.equal(oneLine('tab\there, é and 😀 stay'), 'tab\there, é and 😀 stay');
});

test('oneLine: at most 1,000 characters, and a surrogate pair cut at the end is not left half', () => {
  assert.equal(oneLine('x'.repeat(1500)).length, 1000);
  const cut = oneLine('x'.repeat(999) + '😀');
  assert.equal(cut.length, 1000);
  assert.doesNotMatch(cut, /[\uD800-\uDFFF]/);
});
