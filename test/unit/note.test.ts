// Unit tests for signed notes: verifier-key parsing and signature checking.
// The real note below was served by the Go team's test checksum database (cmd/go's proxy_test.go,
// `-proxy` mode) and is signed by its key; the test signer key is published in that same file, so the
// tests can also sign their own notes to reach the corners.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createPrivateKey, createPublicKey, sign } from 'node:crypto';
import { computeKeyHash, parseVerifierKey, verifyNote, type Verifier } from '../../src/verify/note.js';
import { isVerifyError } from '../../src/verify/verify-error.js';

const TEST_VKEY = 'localhost.localdev/sumdb+00000c67+AcTrnkbUA+TU4heY3hkjiSES/DSQniBqIeQ/YppAUtK6';
const TEST_SKEY_SEED = 'AXu6+oaVaOYuQOFrf1V59JK1owcFlJcHwwXHDfDGxSPk'; // from PRIVATE+KEY+localhost.localdev/sumdb+00000c67+…
const SUM_GOLANG_ORG_VKEY = 'sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8';

const REAL_NOTE =
  'go.sum database tree\n167\nSct0Ln8CDf8Fh3RRjoJ5f166KqrwTUk0JRw0ILii+3I=\n\n' +
  '\u2014 localhost.localdev/sumdb AAAMZ5f7TuMsRrLM2Vr/n2yTufPUomoLxkBzcHyMz5shBeQNJ9fZ8Hcoa4P0bT1MM/8x7nBs34KcRLmlvRolkDDYTgA=\n';

/** A signer from an Ed25519 seed (the test key's, or a fresh one), producing note signature lines. */
function makeSigner(name: string, seed: Buffer) {
  const privateKey = createPrivateKey({
    key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), seed]),
    format: 'der',
    type: 'pkcs8',
  });
  const spki = createPublicKey(privateKey).export({ format: 'der', type: 'spki' });
  const pub = Buffer.concat([Buffer.from([1]), spki.subarray(spki.length - 32)]);
  const keyHash = computeKeyHash(name, pub);
  const vkey = `${name}+${keyHash.toString(16).padStart(8, '0')}+${pub.toString('base64')}`;
  const line = (text: string, hashOverride?: number) => {
    const sig = sign(null, Buffer.from(text), privateKey);
    const tag = Buffer.alloc(4);
    tag.writeUInt32BE(hashOverride ?? keyHash);
    return `\u2014 ${name} ${Buffer.concat([tag, sig]).toString('base64')}\n`;
  };
  return { vkey, keyHash, line };
}

const testSigner = makeSigner('localhost.localdev/sumdb', Buffer.from(TEST_SKEY_SEED, 'base64').subarray(1));
const otherSigner = makeSigner('example.com/other', createHash('sha256').update('other').digest());

function rejects(fn: () => unknown, code: string, message: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(isVerifyError(err), `expected a VerifyError, got ${String(err)}`);
    assert.equal(err.code, code);
    assert.match(err.message, message);
    return true;
  });
}

test('parseVerifierKey reads the test database key and the sum.golang.org key', () => {
  const v = parseVerifierKey(TEST_VKEY);
  assert.equal(v.name, 'localhost.localdev/sumdb');
  assert.equal(v.keyHash, 0x00000c67);
  assert.equal(v.publicKey.asymmetricKeyType, 'ed25519');
  const s = parseVerifierKey(SUM_GOLANG_ORG_VKEY);
  assert.equal(s.name, 'sum.golang.org');
  assert.equal(s.keyHash, 0x033de0ae);
});

test('the published test signer key matches the verifier key (so self-signed notes are meaningful)', () => {
  assert.equal(testSigner.vkey, TEST_VKEY);
});

test('malformed verifier keys are rejected with a message naming the problem', () => {
  const cases: [string, RegExp][] = [
    ['', /name .* empty/],
    ['with space+00000c67+AcTrnkbUA+TU4heY3hkjiSES/DSQniBqIeQ/YppAUtK6', /white space/],
    ['localhost.localdev/sumdb', /8 hex digits/],
    ['localhost.localdev/sumdb+c67+AcTrnkbUA+TU4heY3hkjiSES/DSQniBqIeQ/YppAUtK6', /8 hex digits/],
    ['localhost.localdev/sumdb+00000c67+', /not standard base64/],
    ['localhost.localdev/sumdb+00000c67+AcTrnkbUA+TU4heY3hkjiSES/DSQniBqIeQ/YppAUtK', /not standard base64/],
    ['localhost.localdev/sumdb+00000c68+AcTrnkbUA+TU4heY3hkjiSES/DSQniBqIeQ/YppAUtK6', /does not match the key/],
    ['localhost.localdev/sumdb+00000c67+AcTrnkbUA+TU4heY3hkjiSES/DSQniBqIeQ/YppAUtK7', /does not match the key/],
  ];
  for (const [vkey, message] of cases) rejects(() => parseVerifierKey(vkey), 'bad-key', message);

  // Well-formed apart from the algorithm byte or the key length (hash computed to match).
  const withKey = (name: string, algAndKey: Buffer) =>
    `${name}+${computeKeyHash(name, algAndKey).toString(16).padStart(8, '0')}+${algAndKey.toString('base64')}`;
  rejects(() => parseVerifierKey(withKey('x.example', Buffer.concat([Buffer.from([2]), Buffer.alloc(32, 7)]))), 'bad-key', /algorithm 2/);
  rejects(() => parseVerifierKey(withKey('x.example', Buffer.concat([Buffer.from([1]), Buffer.alloc(31, 7)]))), 'bad-key', /32 bytes \(got 31\)/);
});

test('a real signed tree head verifies with the real key', () => {
  const n = verifyNote(REAL_NOTE, [parseVerifierKey(TEST_VKEY)]);
  assert.equal(n.text, 'go.sum database tree\n167\nSct0Ln8CDf8Fh3RRjoJ5f166KqrwTUk0JRw0ILii+3I=\n');
  assert.deepEqual(
    n.signatures.map((s) => [s.name, s.keyHash]),
    [['localhost.localdev/sumdb', 0x0c67]],
  );
  assert.deepEqual(n.unverifiedSignatures, []);
  // Buffer input too.
  assert.equal(verifyNote(Buffer.from(REAL_NOTE), [parseVerifierKey(TEST_VKEY)]).text, n.text);
});

test('tampered text is rejected', () => {
  const v = [parseVerifierKey(TEST_VKEY)];
  rejects(() => verifyNote(REAL_NOTE.replace('\n167\n', '\n168\n'), v), 'bad-signature', /invalid signature for key localhost\.localdev\/sumdb\+00000c67/);
  rejects(() => verifyNote(REAL_NOTE.replace('Sct0', 'Sct1'), v), 'bad-signature', /invalid signature/);
  // A flipped signature byte.
  rejects(() => verifyNote(REAL_NOTE.replace('TuMs', 'TuMt'), v), 'bad-signature', /invalid signature/);
});

test('a note signed by a different key is rejected: no known signature', () => {
  rejects(() => verifyNote(REAL_NOTE, [parseVerifierKey(SUM_GOLANG_ORG_VKEY)]), 'bad-signature', /no signature by a known key.*localhost\.localdev\/sumdb\+00000c67.*sum\.golang\.org\+033de0ae/);
  rejects(() => verifyNote(REAL_NOTE, []), 'bad-signature', /no signature by a known key/);
  // Same name, different key hash: not this key's signature.
  const text = 'hello\n';
  rejects(() => verifyNote(`${text}\n${testSigner.line(text, 0x0c68)}`, [parseVerifierKey(TEST_VKEY)]), 'bad-signature', /no signature by a known key/);
});

test('unknown signers are listed but not trusted; the known one decides', () => {
  const text = 'go.sum database tree\n3\n' + Buffer.alloc(32, 9).toString('base64') + '\n';
  const note = `${text}\n${otherSigner.line(text)}${testSigner.line(text)}${testSigner.line(text)}`;
  const n = verifyNote(note, [parseVerifierKey(TEST_VKEY)]);
  assert.equal(n.text, text);
  assert.equal(n.signatures.length, 1);
  assert.deepEqual(n.unverifiedSignatures.map((s) => s.name), ['example.com/other']);
  // Both keys known: both verify.
  assert.equal(verifyNote(note, [parseVerifierKey(TEST_VKEY), parseVerifierKey(otherSigner.vkey)]).signatures.length, 2);
  // A bad signature by a known key fails the note even though another known signature is good.
  const forged = `${text}\n${otherSigner.line('something else\n')}${testSigner.line(text)}`;
  rejects(() => verifyNote(forged, [parseVerifierKey(TEST_VKEY), parseVerifierKey(otherSigner.vkey)]), 'bad-signature', /invalid signature for key example\.com\/other/);
});

test('two verifiers with the same name and key hash are ambiguous', () => {
  const v: Verifier = parseVerifierKey(TEST_VKEY);
  rejects(() => verifyNote(REAL_NOTE, [v, { ...v }]), 'bad-signature', /ambiguous key/);
});

test('malformed notes are rejected before any signature is checked', () => {
  const v = [parseVerifierKey(TEST_VKEY)];
  const sigLine = REAL_NOTE.slice(REAL_NOTE.indexOf('\u2014'));
  const cases: [string | Buffer, RegExp][] = [
    ['go.sum database tree\n167\n', /no blank line/],
    [REAL_NOTE.slice(0, -1), /end in a newline/],
    [REAL_NOTE.replace('\u2014 ', '- '), /does not start with/],
    [REAL_NOTE.replace('\n167\n', '\n1\t67\n'), /control characters/],
    [Buffer.concat([Buffer.from('go.sum \xff\n', 'latin1'), Buffer.from(`\n${sigLine}`)]), /UTF-8/],
    [REAL_NOTE.replace('AAAMZ5f7', 'AAAMZ5f!'), /not "\u2014 name base64"/],
    [`hi\n\n\u2014 localhost.localdev/sumdb AAAM\n`, /not "\u2014 name base64"/],
    [`hi\n\n${otherSigner.line('hi\n').repeat(101)}`, /more than 100 signatures/],
  ];
  for (const [note, message] of cases) rejects(() => verifyNote(note, v), 'bad-signature', message);
});
