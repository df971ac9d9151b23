// Unit: which upstream URLs go through the egress proxy (NO_PROXY semantics as curl and Go read them).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bypassesProxy, egressProxyFor } from '../../src/upstream/egress-proxy.js';

test('NO_PROXY matching: names, suffixes, leading dots, ports, *', () => {
  const cases: Array<[string, number, string, boolean]> = [
    ['proxy.golang.org', 443, 'golang.org', true],
    ['proxy.golang.org', 443, '.golang.org', true],
    ['proxy.golang.org', 443, '*.golang.org', true],
    ['golang.org', 443, 'golang.org', true],
    ['notgolang.org', 443, 'golang.org', false],
    ['proxy.golang.org', 443, 'golang.org:8443', false],
    ['proxy.golang.org', 8443, 'golang.org:8443', true],
    ['goproxy.cn', 443, 'localhost, 127.0.0.1 ,corp.example', false],
    ['anything', 443, '*', true],
    ['PROXY.Golang.ORG', 443, 'golang.org', true],
    ['goproxy.cn', 443, '', false],
  ];
  for (const [host, port, noProxy, expected] of cases) assert.equal(bypassesProxy(host, port, noProxy), expected, `${host}:${port} vs "${noProxy}"`);
});

test('--egress-proxy wins over the environment and ignores NO_PROXY; the environment applies otherwise', () => {
  const url = new URL('https://proxy.golang.org/x');
  assert.equal(egressProxyFor(url, { egressProxy: 'http://egress:3128', env: { NO_PROXY: '*' } })?.host, 'egress:3128');
  assert.equal(egressProxyFor(url, { egressProxy: '', env: { HTTPS_PROXY: 'http://envproxy:8080' } })?.host, 'envproxy:8080');
  assert.equal(egressProxyFor(url, { egressProxy: '', env: { https_proxy: 'envproxy:8080' } })?.host, 'envproxy:8080');
  assert.equal(egressProxyFor(url, { egressProxy: '', env: { HTTPS_PROXY: 'http://envproxy:8080', NO_PROXY: 'golang.org' } }), null);
  assert.equal(egressProxyFor(url, { egressProxy: '', env: {} }), null);
  assert.equal(egressProxyFor(new URL('http://mirror.corp/x'), { egressProxy: '', env: { HTTPS_PROXY: 'http://p:1' } }), null, 'HTTPS_PROXY is for https URLs only');
});
