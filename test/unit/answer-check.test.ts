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
});
