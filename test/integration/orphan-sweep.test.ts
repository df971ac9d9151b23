// Integration: blob files a crash left without their index row (a SIGKILL between a blob's rename and its row)
// are removed by the gateway shortly after it starts, with one log line; one written after the gateway took the
// data directory (a store of this run may be between its rename and its row) is left, and so are the blobs rows
// name. With one process and with two workers (the sweep is worker 0's). The real CLI and a real upstream.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { startModuleUpstream, type AddedModule, type ModuleUpstream } from '../helpers/module-upstream.js';
import { fetchVia, spawnGatewayProcess, waitFor } from '../helpers/gateway.js';
import { assertStoreConsistent } from '../helpers/store-check.js';
import { BlobStore } from '../../src/store/blob-store.js';

let dir: string;
let up: ModuleUpstream;
let mod: AddedModule;
const ZIP = '/example.com/kept/@v/v1.0.0.zip';

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gmg-orphans-'));
  up = await startModuleUpstream({ tls: false });
  mod = up.addModule({ path: 'example.com/kept', version: 'v1.0.0', files: { 'data.bin': randomBytes(50_000) } });
});

after(async () => {
  await up?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A blob file under its own name, as a store renames it into place, with no row; last written at `mtime`. */
function plantBlob(blobs: BlobStore, mtime: Date): string {
  const body = randomBytes(3000);
  const sha = createHash('sha256').update(body).digest('hex');
  const path = blobs.pathOf(sha);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, body);
  utimesSync(path, mtime, mtime);
  return path;
}

for (const workers of [1, 2]) {
  test(`workers ${workers}: a crash's blob files without a row are removed after a start; a newer one and named blobs stay`, { timeout: 90_000 }, async () => {
    const dataDir = join(dir, `data-${workers}`);
    const config = join(dir, `gomodgate-${workers}.yaml`);
    writeFileSync(config, [
      `dataDir: ${dataDir}`, `caDir: ${join(dir, 'certs')}`, 'listen: 127.0.0.1', 'tlsPort: 0', 'httpPort: 0', 'proxyPort: 0',
      'adminPort: 0', 'sumdb: "off"', `workers: ${workers}`, 'logLevel: info', 'prefetch: "off"', `upstream: ${up.url}`,
    ].join('\n') + '\n');
    let gw = await spawnGatewayProcess(['--config', config]);
    assert.equal((await fetchVia(gw.baseUrl + ZIP, { keepBelow: 0 })).sha256, mod.zipSha256);
    await gw.stop();

    const blobs = new BlobStore(dataDir, { create: false });
    const hourAgo = new Date(Date.now() - 3600_000);
    const orphans = [plantBlob(blobs, hourAgo), plantBlob(blobs, hourAgo)];
    // a second copy of the named blob's content elsewhere is a stray of another shape: a non-blob name, left alone
    const stray = join(blobs.blobDir, 'README');
    copyFileSync(blobs.pathOf(mod.zipSha256), stray);
    const newer = plantBlob(blobs, new Date(Date.now() + 3600_000)); // written after the start, as a store of this run
    const hitsBefore = up.hits(ZIP);

    gw = await spawnGatewayProcess(['--config', config]);
    try {
      const line = await waitFor('the sweep', () => gw.log().split('\n').find((l) => l.includes('removed blob files no index row named')) ?? null, 30_000);
      const logged = JSON.parse(line) as { removed: number; bytes: number };
      assert.equal(logged.removed, 2);
      assert.equal(logged.bytes, 6000);
      for (const o of orphans) assert.equal(existsSync(o), false, `${o} removed`);
      assert.equal(existsSync(newer), true, 'a file written after the start stays');
      assert.equal(existsSync(stray), true, 'what is not a blob name is not the sweep\'s');
      const again = await fetchVia(gw.baseUrl + ZIP, { keepBelow: 0 });
      assert.equal(again.sha256, mod.zipSha256);
      assert.equal(up.hits(ZIP), hitsBefore, 'the named blob was kept: a hit');
      await assertStoreConsistent(dataDir);
    } finally {
      await gw.stop();
    }
  });
}
