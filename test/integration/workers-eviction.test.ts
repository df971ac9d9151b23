// Integration: `gomodgate serve --workers 2` with a cache limit below the size of any object, so every store
// evicts what the other worker has just stored, under 40 concurrent clients for zips and for .mod files that
// share one blob. Both workers write the one SQLite index at once. Every client gets a 200 with the upstream's
// bytes (nothing "evicted as soon as stored", no SQLITE_BUSY from a write that read first), and the store is
// consistent afterwards: no row names a missing blob. Counts and hashes only; the load is bounded in requests
// and time.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { startModuleUpstream, type ModuleUpstream } from '../helpers/module-upstream.js';
import { fetchVia, spawnGatewayProcess, type GatewayProcess } from '../helpers/gateway.js';
import { assertStoreConsistent } from '../helpers/store-check.js';

const SHARED_GO_MOD = 'module example.com/shared\n\ngo 1.19\n';
const CLIENTS = 40;
const REQUESTS_PER_CLIENT = 40;
const LOAD_MS = 8000;

let dir: string;
let up: ModuleUpstream;
let gw: GatewayProcess;
/** path → sha256 of what the upstream serves there. */
const expected = new Map<string, string>();

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gmg-workers-evict-'));
  up = await startModuleUpstream({ tls: false });
  for (let i = 0; i < 12; i++) {
    const m = up.addModule({ path: `example.com/z${i}`, version: 'v1.0.0', files: { 'data.bin': randomBytes(60_000) } });
    expected.set(`/example.com/z${i}/@v/v1.0.0.zip`, m.zipSha256);
  }
  const sharedSha = createHash('sha256').update(SHARED_GO_MOD).digest('hex');
  for (let v = 0; v < 12; v++) {
    up.addModule({ path: 'example.com/shared', version: `v1.0.${v}`, files: { 'a.go': 'package shared\n' }, goMod: SHARED_GO_MOD });
    expected.set(`/example.com/shared/@v/v1.0.${v}.mod`, sharedSha);
  }
  const config = join(dir, 'gomodgate.yaml');
  writeFileSync(config, [
    `dataDir: ${join(dir, 'data')}`, `caDir: ${join(dir, 'certs')}`, 'listen: 127.0.0.1', 'tlsPort: 0', 'httpPort: 0', 'proxyPort: 0',
    'adminPort: 0', 'sumdb: "off"', 'workers: 2', 'logLevel: info', 'prefetch: "off"', `upstream: ${up.url}`, 'cache:', '  maxBytes: 1000',
  ].join('\n') + '\n');
  gw = await spawnGatewayProcess(['--config', config]);
});

after(async () => {
  await gw?.stop();
  await up?.close();
  rmSync(dir, { recursive: true, force: true });
});

test('a cache limit below any object, two workers, 40 clients: every answer is the object, no row without its blob', { timeout: 120_000 }, async () => {
  const paths = [...expected.keys()];
  const until = Date.now() + LOAD_MS;
  const wrong: string[] = [];
  let answered = 0;
  const client = async (c: number) => {
    for (let n = 0; n < REQUESTS_PER_CLIENT && Date.now() < until; n++) {
      const path = paths[(c * 7 + n) % paths.length]!;
      const r = await fetchVia(`${gw.baseUrl}${path}`, { keepBelow: 0, timeoutMs: 30_000 }).catch((err: Error) => err);
      if (r instanceof Error) wrong.push(`${path}: ${r.message}`);
      else if (r.status !== 200) wrong.push(`${path}: ${r.status}`);
      else if (r.sha256 !== expected.get(path)) wrong.push(`${path}: other bytes (${r.bytes})`);
      else answered++;
    }
  };
  await Promise.all(Array.from({ length: CLIENTS }, (_, c) => client(c)));
  assert.deepEqual(wrong.slice(0, 10), [], `${wrong.length} of ${answered + wrong.length} requests went wrong`);
  assert.ok(answered >= CLIENTS, `${answered} answers`);
  const errors = gw.log().split('\n').filter((l) => l.includes('"outcome":"error"'));
  assert.deepEqual(errors.slice(0, 3), [], 'no request ended in an error');
  await assertStoreConsistent(join(dir, 'data'));
});
