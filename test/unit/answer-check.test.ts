// checkAnswer: which upstream 200 answers are refused before caching, as the go command would refuse them.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { checkAnswer } from '../../src/goproxy/answer-check.js';
import { parseProxyPath, type ModuleRequest } from '../../src/goproxy/request-path.js';

function request(path: string): ModuleRequest {
  const result = parseProxyPath(path);
  assert.equal(result.ok, true, `${path}: ${JSON.stringify(result)}`);
  return (result as { ok: true; request: ModuleRequest }).request;
}

const info = (version: string) => Buffer.from(JSON.stringify({ Version: version, Time: '2018-02-14T00:54:53Z' }));

describe('checkAnswer: .info', () => {
  // [path asked, Version answered, refusal (regexp) or null]: the go command's rule (modfetch/proxy.go Stat)
  const table: Array<[string, string, RegExp | null]> = [
    ['/rsc.io/quote/@v/v1.5.2.info', 'v1.5.2', null],
    ['/rsc.io/quote/@v/v1.5.2.info', 'v1.5.3', /version "v1\.5\.3", not v1\.5\.2/],
    ['/rsc.io/quote/v2/@v/v2.0.1.info', 'v2.0.0', /not v2\.0\.1/],
    ['/gopkg.in/yaml.v2/@v/v2.4.0.info', 'v2.4.1', /not v2\.4\.0/],
    // not exact for the path: the proxy resolves it, as proxy.golang.org does for a tag without go.mod
    ['/rsc.io/breaker/@v/v2.0.0.info', 'v2.0.0+incompatible', null],
    ['/rsc.io/quote/@v/v2.0.0.info', 'v0.0.0-20180709153244-fd906ed3b100', null],
    ['/rsc.io/quote/@v/master.info', 'v1.5.3-0.20180709153244-fd906ed3b100', null],
    ['/rsc.io/quote/@v/v1.5.info', 'v1.5.2', null],
  ];
  for (const [path, version, refusal] of table) {
    it(`${path} answered ${version} → ${refusal ? 'refused' : 'accepted'}`, () => {
      const why = checkAnswer(request(path), info(version));
      if (refusal) assert.match(why ?? '', refusal);
      else assert.equal(why, null);
    });
  }

  it('refuses what is not a version answer at all, exact or not', () => {
    for (const path of ['/rsc.io/quote/@v/v1.5.2.info', '/rsc.io/quote/@v/v2.0.0.info']) {
      assert.equal(checkAnswer(request(path), Buffer.from('<html>blocked</html>')), 'the answer is not JSON');
      assert.equal(checkAnswer(request(path), Buffer.from('{"Version":"banana"}')), 'the answer has no valid Version');
      assert.equal(checkAnswer(request(path), Buffer.from([0xff, 0xfe])), 'the answer is not UTF-8 text');
    }
  });

  it('takes a Time only as the go command reads it: RFC 3339, or null (Date.parse took "2019-01-01" and "1")', () => {
    const req = request('/rsc.io/quote/@v/v1.5.2.info');
    const withTime = (time: unknown) => checkAnswer(req, Buffer.from(JSON.stringify({ Version: 'v1.5.2', Time: time })));
    for (const good of ['2018-02-14T00:54:53Z', '2018-02-14T00:54:53.5-07:00', '2020-02-29T23:59:59Z', null]) assert.equal(withTime(good), null, String(good));
    for (const bad of ['2019-01-01', '1', '', '2019-02-29T00:00:00Z', '2018-02-14T24:00:00Z', '2018-02-14T00:54:60Z', '2018-02-14T00:54:53', 'Wed, 14 Feb 2018 00:54:53 GMT', 5, {}]) {
      assert.match(withTime(bad) ?? '', /is not an RFC 3339 time$/, JSON.stringify(bad));
    }
    assert.match(checkAnswer(request('/rsc.io/quote/@latest'), Buffer.from('{"Version":"v1.5.2","Time":"2019-01-01"}')) ?? '', /RFC 3339/);
  });

  it('reads fields whatever their case, as encoding/json does, and refuses a field given twice', () => {
    const req = request('/rsc.io/quote/@v/v1.5.2.info');
    assert.equal(checkAnswer(req, Buffer.from('{"version":"v1.5.2","TIME":"2018-02-14T00:54:53Z"}')), null);
    assert.match(checkAnswer(req, Buffer.from('{"version":"v1.5.2","time":"2019-01-01"}')) ?? '', /RFC 3339/);
    assert.equal(checkAnswer(req, Buffer.from('{"Version":"v1.5.2","Time":"1","time":"2018-02-14T00:54:53Z"}')), 'the answer repeats a field');
    assert.equal(checkAnswer(req, Buffer.from('{"Version":"v1.5.2","Time":"1","Time":"2018-02-14T00:54:53Z"}')), 'the answer repeats a field');
    assert.equal(checkAnswer(req, Buffer.from('{"Version":"v1.5.2","x":{"Time":"1","time":"1"},"Time":"2018-02-14T00:54:53Z"}')), null, 'nested objects are not fields');
  });

  it('folds keys as encoding/json does: "Verſion" (U+017F) is a Version to the go command, and so it is here', () => {
    const info = request('/rsc.io/quote/@v/v1.5.2.info');
    // Go reads v9.9.9 from the second key, and refuses the answer for another version than asked
    assert.equal(checkAnswer(info, Buffer.from('{"Version":"v1.5.2","Ver\u017fion":"v9.9.9"}')), 'the answer repeats a field');
    assert.equal(checkAnswer(info, Buffer.from('{"Ver\u017fion":"v9.9.9"}')), 'the answer is for version "v9.9.9", not v1.5.2');
    assert.equal(checkAnswer(info, Buffer.from('{"VER\u017fION":"v1.5.2"}')), null, 'the right version under a folded key');
    assert.equal(checkAnswer(request('/rsc.io/quote/@latest'), Buffer.from('{"Ver\u017fion":"not a version"}')), 'the answer has no valid Version');
    assert.equal(checkAnswer(info, Buffer.from('{"Version":"v1.5.2","T\u0131me":"1"}')), null, 'dotless i is not i to encoding/json: not a Time');
  });

  it('refuses a byte order mark before the JSON, as encoding/json does', () => {
    const bom = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{"Version":"v1.5.2"}')]);
    assert.equal(checkAnswer(request('/rsc.io/quote/@v/v1.5.2.info'), bom), 'the answer is not JSON');
    assert.equal(checkAnswer(request('/rsc.io/quote/@latest'), bom), 'the answer is not JSON');
  });
});

describe('checkAnswer: lists and go.mod files, as leniently as the go command reads them', () => {
  const list = request('/rsc.io/quote/@v/list');
  const mod = request('/rsc.io/quote/@v/v1.5.2.mod');
  it('a list with one line the go command skips is accepted; markup, NUL or no version at all is not', () => {
    assert.equal(checkAnswer(list, Buffer.from('v1.0.0\nlatest\nv1.1.0 2018-01-01\n')), null, 'proxy.go Versions skips "latest"');
    assert.equal(checkAnswer(list, Buffer.from('')), null, 'a module without tagged versions');
    assert.equal(checkAnswer(list, Buffer.from('\n\n')), null);
    assert.equal(checkAnswer(list, Buffer.from('v1.0.0\n\xe9t\xe9\n', 'latin1')), null, 'bytes that are not UTF-8 are skipped like any odd line');
    assert.equal(checkAnswer(list, Buffer.from('<html>\n<body>maintenance</body>\n')), 'the list looks like HTML or XML');
    assert.equal(checkAnswer(list, Buffer.from('Access denied\nby policy\n')), 'no line of the list is a version');
    assert.equal(checkAnswer(list, Buffer.from('v1.0.0\n\0\n')), 'the list contains NUL bytes');
  });
  it('a go.mod with Latin-1 in a comment is accepted; HTML and NUL bytes are not', () => {
    assert.equal(checkAnswer(mod, Buffer.from('module rsc.io/quote // caf\xe9\n', 'latin1')), null);
    assert.equal(checkAnswer(mod, Buffer.from('<!doctype html><p>error')), 'the go.mod looks like HTML or XML');
    assert.equal(checkAnswer(mod, Buffer.from('module x\n\0')), 'the go.mod contains NUL bytes');
  });
});
