// inspectHttpRequestHead: tables of heads that route, heads that wait, and bytes that are not HTTP.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import fc from 'fast-check';
import { inspectHttpRequestHead } from '../../src/intercept/http-request-head.js';

const KINDS = new Set(['need-more', 'not-http', 'http']);

function head(...lines: string[]): Buffer {
  return Buffer.from(lines.join('\r\n') + '\r\n\r\n', 'latin1');
}

test('complete heads: method, target, routing host, head length', () => {
  const table: [Buffer, string, string, string | null][] = [
    [head('GET /golang.org/x/mod/@v/list HTTP/1.1', 'Host: proxy.golang.org', 'User-Agent: Go-http-client/1.1'), 'GET', '/golang.org/x/mod/@v/list', 'proxy.golang.org'],
    [head('GET / HTTP/1.1', 'Host: Proxy.GoLang.ORG:80'), 'GET', '/', 'proxy.golang.org'],
    [head('GET / HTTP/1.1', 'host:sum.golang.org'), 'GET', '/', 'sum.golang.org'],
    [head('GET / HTTP/1.1', 'HOST: \t sum.golang.org \t'), 'GET', '/', 'sum.golang.org'],
    [head('GET / HTTP/1.1', 'Host: sum.golang.org:'), 'GET', '/', 'sum.golang.org'],
    [head('GET / HTTP/1.1', 'Host: [FD00::1]:8080'), 'GET', '/', '[fd00::1]'],
    [head('GET / HTTP/1.1', 'Host: [::1]'), 'GET', '/', '[::1]'],
    [head('GET / HTTP/1.1', 'Host: 10.0.0.1:80'), 'GET', '/', '10.0.0.1'],
    [head('GET / HTTP/1.1', 'Host: my_host.internal'), 'GET', '/', 'my_host.internal'],
    [head('GET / HTTP/1.0'), 'GET', '/', null],
    [head('GET / HTTP/1.1', 'Accept: */*'), 'GET', '/', null],
    [head('GET / HTTP/1.1', 'Host:'), 'GET', '/', null],
    [head('GET / HTTP/1.1', 'Host:   '), 'GET', '/', null],
    [head('HEAD /x?y=1 HTTP/1.1', 'Host: a.example'), 'HEAD', '/x?y=1', 'a.example'],
    [head('OPTIONS * HTTP/1.1', 'Host: a.example'), 'OPTIONS', '*', 'a.example'],
    [head('CONNECT a.example:443 HTTP/1.1', 'Host: a.example:443'), 'CONNECT', 'a.example:443', 'a.example'],
    // absolute-form: the target's authority replaces Host (RFC 9112 §3.2.2)
    [head('GET http://Proxy.Golang.org:80/x HTTP/1.1', 'Host: other.example'), 'GET', 'http://Proxy.Golang.org:80/x', 'proxy.golang.org'],
    [head('GET HTTP://a.example?q HTTP/1.1'), 'GET', 'HTTP://a.example?q', 'a.example'],
    [head('GET / HTTP/1.1', 'X-Bin: caf\xe9', 'Host: a.example'), 'GET', '/', 'a.example'], // obs-text in a value
  ];
  for (const [buf, method, target, host] of table) {
    assert.deepEqual(
      inspectHttpRequestHead(buf),
      { kind: 'http', method, target, host, headLength: buf.length },
      buf.toString('latin1'),
    );
  }
});

test('the body after the head is not read; headLength points at it', () => {
  const h = head('POST /x HTTP/1.1', 'Host: a.example', 'Content-Length: 5');
  const result = inspectHttpRequestHead(Buffer.concat([h, Buffer.from('hello')]));
  assert.deepEqual(result, { kind: 'http', method: 'POST', target: '/x', host: 'a.example', headLength: h.length });
  // A body that looks like another head changes nothing.
  const twice = Buffer.concat([h, head('GET / HTTP/1.1', 'Host: evil.example')]);
  assert.equal((inspectHttpRequestHead(twice) as { host: string }).host, 'a.example');
});

test('every proper prefix of a valid head is need-more', () => {
  const buf = head('GET /golang.org/x/mod/@v/list HTTP/1.1', 'Host: proxy.golang.org', 'Accept-Encoding: gzip');
  for (let n = 0; n < buf.length; n++) {
    assert.deepEqual(inspectHttpRequestHead(buf.subarray(0, n)), { kind: 'need-more' }, `prefix ${n}`);
  }
  assert.equal(inspectHttpRequestHead(buf).kind, 'http');
});

test('not HTTP, decided from the first bytes where possible', () => {
  const table: (string | Buffer)[] = [
    Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01]), // a TLS ClientHello on port 80
    'SSH-2.0-OpenSSH_9.2\r\n',
    ' GET / HTTP/1.1',
    'GET  / HTTP/1.1',
    'GET / HTTP/2.0\r\n',
    'GET / HTTP/1.1 extra\r\n',
    'GET / HTTP/1.2\r\n',
    'GET / FTP/1.1',
    'GET /\x7f HTTP/1.1',
    'GET / HTTP/1.1\n', // bare LF
    'GET / HTTP/1.1\rX', // bare CR
    'GET / HTTP/1.1\r\nHost: a\n\n',
    'G\u00c9T / HTTP/1.1',
    'AVERYLONGMETHODNAMETHATNOONEUSES / HTTP/1.1',
    'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', // HTTP/2 prior knowledge preface
  ];
  for (const input of table) {
    const buf = typeof input === 'string' ? Buffer.from(input, 'latin1') : input;
    assert.deepEqual(inspectHttpRequestHead(buf), { kind: 'not-http' }, JSON.stringify(buf.toString('latin1')));
  }
});

test('complete but malformed heads are not-http', () => {
  const table: Buffer[] = [
    head('GET / HTTP/1.1', 'Host: a.example', 'Host: b.example'), // two Host fields
    head('GET / HTTP/1.1', 'Host: a.example', 'host: a.example'),
    head('GET / HTTP/1.1', 'Host : a.example'), // whitespace before the colon
    head('GET / HTTP/1.1', 'Host: a.example', ' folded'), // obs-fold
    head('GET / HTTP/1.1', 'NoColonHere'),
    head('GET / HTTP/1.1', ': value'),
    head('GET / HTTP/1.1', 'X: a\x00b', 'Host: a.example'), // NUL in a value
    head('GET / HTTP/1.1', 'Host: a.example/evil'),
    head('GET / HTTP/1.1', 'Host: user@a.example'),
    head('GET / HTTP/1.1', 'Host: a.example:99999'),
    head('GET / HTTP/1.1', 'Host: a.example:8o'),
    head('GET / HTTP/1.1', 'Host: [not-an-ip]'),
    head('GET / HTTP/1.1', 'Host: [::1'),
    head('GET / HTTP/1.1', 'Host: [::1]x'),
    head('GET / HTTP/1.1', 'Host: a example'),
    head('GET http://user@a.example/ HTTP/1.1', 'Host: a.example'),
    head('GET http:///x HTTP/1.1', 'Host: a.example'),
  ];
  for (const buf of table) {
    assert.deepEqual(inspectHttpRequestHead(buf), { kind: 'not-http' }, JSON.stringify(buf.toString('latin1')));
  }
});

test('maxBytes bounds the head: at the limit it is read, one byte over it is not-http', () => {
  const buf = head('GET / HTTP/1.1', 'Host: a.example', `X-Pad: ${'p'.repeat(200)}`);
  assert.equal(inspectHttpRequestHead(buf, buf.length).kind, 'http');
  assert.deepEqual(inspectHttpRequestHead(buf, buf.length - 1), { kind: 'not-http' });
  assert.deepEqual(inspectHttpRequestHead(buf.subarray(0, 100), 100), { kind: 'not-http' });
  assert.deepEqual(inspectHttpRequestHead(buf.subarray(0, 99), 100), { kind: 'need-more' });
  const endless = Buffer.from(`GET / HTTP/1.1\r\nX: ${'a'.repeat(20000)}`);
  assert.deepEqual(inspectHttpRequestHead(endless), { kind: 'not-http' });
});

test('never throws: random bytes, truncations and corruptions', () => {
  const valid = head('GET /golang.org/x/mod/@v/list HTTP/1.1', 'Host: proxy.golang.org:80', 'Accept: */*');
  for (let i = 0; i < valid.length; i++) {
    for (const value of [0x00, 0x0a, 0x0d, 0x20, 0x3a, 0x5b, 0xff]) {
      const buf = Buffer.from(valid);
      buf[i] = value;
      assert.ok(KINDS.has(inspectHttpRequestHead(buf).kind));
      assert.ok(KINDS.has(inspectHttpRequestHead(buf.subarray(0, i)).kind));
    }
  }
  for (let i = 0; i < 1000; i++) assert.ok(KINDS.has(inspectHttpRequestHead(randomBytes(i % 200)).kind));
  const headLike = fc
    .array(fc.constantFrom('GET', ' ', '/', 'HTTP/1.1', '\r\n', '\r', '\n', 'Host', ':', '[', ']', 'a.example', '80', '\t', '\x00'), { maxLength: 40 })
    .map((parts) => Buffer.from(parts.join(''), 'latin1'));
  fc.assert(fc.property(headLike, (buf) => KINDS.has(inspectHttpRequestHead(buf).kind)), { numRuns: 5000 });
});
