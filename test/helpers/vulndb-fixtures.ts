// The Go vulnerability database fixtures (test/fixtures/vulndb, the layout vuln.go.dev serves): GO-2099-0001
// (rsc.io/quote v1.5.0 up to v1.5.3-pre1, aliases CVE-2099-1001), GO-2099-0002 (a range of golang.org/x/text
// pseudo-versions of 2017) and GO-2099-0003 (rsc.io/sampler, withdrawn).
import { readFileSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The fixture directory in the source tree (tests run from dist/test/...). */
export const VULNDB_FIXTURES = fileURLToPath(new URL('../../../test/fixtures/vulndb', import.meta.url));

export function vulndbFixture(path: string): Buffer {
  return readFileSync(join(VULNDB_FIXTURES, path));
}

/** Answers a request for `path` (URL path, leading "/") as the vulnerability database would: the fixture file, or a 404. */
export function answerFromFixtures(path: string, res: ServerResponse): void {
  let body: Buffer;
  try {
    body = vulndbFixture(path.slice(1));
  } catch {
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
    return;
  }
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length }).end(body);
}
