// Unit: the URL redaction helper on its own (table), before the integration test greps every output path.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { maskCredentialsOf, redactUrl, redactUrlsInText, redactUrlsDeep, pathOnly, pathAsAsked, redactAuthority } from '../../src/redact.js';

test('redactUrl masks userinfo and query values and keeps the rest', () => {
  const table: [string, string][] = [
    ['http://alice:s3cret@proxy.corp:3128', 'http://redacted@proxy.corp:3128'],
    ['https://token@goproxy.example/a/b', 'https://redacted@goproxy.example/a/b'],
    ['https://bucket.s3.amazonaws.com/x.zip?X-Amz-Credential=AKIA&X-Amz-Signature=abc123', 'https://bucket.s3.amazonaws.com/x.zip?X-Amz-Credential=redacted&X-Amz-Signature=redacted'],
    ['https://h/p?bare&k=v#frag', 'https://h/p?redacted&k=redacted#frag'],
    ['https://proxy.golang.org/rsc.io/quote/@v/list', 'https://proxy.golang.org/rsc.io/quote/@v/list'],
    ['https://u:p@a@host/x', 'https://redacted@host/x'],
    ['not a url', 'not a url'],
    ['', ''],
  ];
  for (const [input, want] of table) assert.equal(redactUrl(input), want, input);
});

test('redactUrlsInText finds every URL in messages and GOPROXY lists', () => {
  const table: [string, string][] = [
    ['http://a:1@x:1,https://b:2@y|https://z?t=3', 'http://redacted@x:1,https://redacted@y|https://z?t=redacted'],
    ['egressProxy must be an http:// proxy URL (got "https://bob:pw@p:3128")', 'egressProxy must be an http:// proxy URL (got "https://redacted@p:3128")'],
    ['fetch https://h/x?sig=1, then gave up.', 'fetch https://h/x?sig=redacted, then gave up.'],
    ['sum.golang.org+033de0ae+Ac4z https://u:p@sum.example', 'sum.golang.org+033de0ae+Ac4z https://redacted@sum.example'],
    ['no urls here: user:pass', 'no urls here: user:pass'],
  ];
  for (const [input, want] of table) assert.equal(redactUrlsInText(input), want, input);
});

test('redactUrlsDeep walks objects and arrays and leaves other values alone', () => {
  const out = redactUrlsDeep({ a: ['http://u:p@h'], b: { c: 'https://h?x=1' }, n: 3, t: true, z: null });
  assert.deepEqual(out, { a: ['http://redacted@h'], b: { c: 'https://h?x=redacted' }, n: 3, t: true, z: null });
});

test('a string with no userinfo and no query comes back as the same string, and the check sees every URL in it', () => {
  // the shape of a "go request" log line: a Go path's "/@v/" after the host is not userinfo
  const line = '{"path":"/rsc.io/quote/@v/v1.5.2.zip","upstreamUrl":"https://proxy.golang.org/rsc.io/quote/@v/v1.5.2.zip","msg":"go request"}';
  assert.equal(redactUrlsInText(line), line);
  assert.equal(redactUrl('https://proxy.golang.org/rsc.io/quote/@v/list'), 'https://proxy.golang.org/rsc.io/quote/@v/list');
  // a secret in the second of several URLs, or right at the end, is still masked
  const table: [string, string][] = [
    ['a https://h/x/@v/list then http://u:p@h2/y', 'a https://h/x/@v/list then http://redacted@h2/y'],
    ['{"u":"https://h/@v","v":"https://tok@h"}', '{"u":"https://h/@v","v":"https://redacted@h"}'],
    ['see https://h/x/@v/list#frag?', 'see https://h/x/@v/list#frag?'],
    ['https://h#a@b', 'https://h#a@b'],
    ['https://u@h#f', 'https://redacted@h#f'],
  ];
  for (const [input, want] of table) assert.equal(redactUrlsInText(input), want, input);
});

test("maskCredentialsOf masks echoes of a URL's own password and Basic token, and nothing of a URL without them", () => {
  const url = new URL('https://gw-user:p%40ss-w0rd@mirror.example/go');
  const basic = Buffer.from('gw-user:p@ss-w0rd').toString('base64');
  assert.equal(maskCredentialsOf(url, `Authorization: Basic ${basic}; password p@ss-w0rd, raw p%40ss-w0rd`), 'Authorization: Basic redacted; password redacted, raw redacted');
  assert.equal(maskCredentialsOf(new URL('https://mirror.example/go'), 'nothing p@ss-w0rd here'), 'nothing p@ss-w0rd here');
  assert.equal(maskCredentialsOf(new URL('https://u:ab@mirror.example'), 'a tab and a cab'), 'a tab and a cab', 'a password too short to tell from text is not searched for');
});

test('pathOnly keeps a request target up to its query or fragment', () => {
  assert.equal(pathOnly('/example.com/m/@v/list'), '/example.com/m/@v/list');
  assert.equal(pathOnly('/example.com/m/@v/list?token=s3cret'), '/example.com/m/@v/list');
  assert.equal(pathOnly('/example.com/m/@v/list#s3cret'), '/example.com/m/@v/list');
  assert.equal(pathOnly('/x#a?b'), '/x');
  assert.equal(pathOnly(''), '');
});

test('pathOnly masks the value of every path parameter; pathAsAsked keeps them, to parse', () => {
  const table: [string, string][] = [
    ['/example.com/m;jsessionid=S3CRET/@v/list', '/example.com/m;jsessionid=redacted/@v/list'],
    ['/example.com/m/@v/v1.0.0.info;sid=s3cret?token=x', '/example.com/m/@v/v1.0.0.info;sid=redacted'],
    ['/a;s3cret/b;x=1;y=2;/c', '/a;redacted/b;x=redacted;y=redacted;/c'],
    ['/a;=s3cret', '/a;=redacted'],
    ['/a;', '/a;'],
    ['/a;x=redacted', '/a;x=redacted'],
  ];
  for (const [target, shown] of table) {
    assert.equal(pathOnly(target), shown, target);
    assert.equal(pathOnly(shown), shown, `${shown} stays as it is`);
  }
  assert.equal(pathAsAsked('/example.com/m;jsessionid=S3CRET/@v/list?token=x#f'), '/example.com/m;jsessionid=S3CRET/@v/list');
});

test('redactAuthority masks the userinfo of a CONNECT target, and of a URL given instead', () => {
  assert.equal(redactAuthority('proxy.golang.org:443'), 'proxy.golang.org:443');
  assert.equal(redactAuthority('user:s3cret@x.example:443'), 'redacted@x.example:443');
  assert.equal(redactAuthority('a@b@[::1]:443'), 'redacted@[::1]:443');
  assert.equal(redactAuthority('https://user:s3cret@x.example/?sig=1'), 'https://redacted@x.example/?sig=redacted');
});
