// Integration: one serving gateway per data directory. A second `gomodgate serve` on a data directory another
// one serves exits 2 naming the first one's PID, and touches nothing of it: the first one's download in progress
// (its temporary file) completes and is served. Before, the second one removed that file as a leftover of an
// earlier run (the first one's client got a 502) and only then failed, or ran beside it. After the first one
// stops (or is killed: its PID is then gone), the directory is free again. Real child processes and a real
// upstream whose answer the test holds back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT, fetchVia, spawnGatewayProcess, waitFor } from '../helpers/gateway.js';
import { startModuleUpstream } from '../helpers/module-upstream.js';
import { tempFiles } from '../helpers/store-check.js';

const run = promisify(execFile);

function serveArgs(dir: string, upstream: string, ca: string): string[] {
  return ['--data-dir', join(dir, 'data'), '--ca-dir', join(dir, 'certs'), '--listen', '127.0.0.1', '--tls-port', '0', '--http-port', '0',
    '--proxy-port', '0', '--admin-port', '0', '--upstream', upstream, '--upstream-ca', ca, '--sumdb', 'off', '--log-format', 'json', '--upstream-timeout', '8s'];
}

test('a second serve on a data directory in use is refused and touches nothing; after a stop or a kill it is free', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gmg-dirlock-'));
  const upstream = await startModuleUpstream();
  const added = upstream.addModule({ path: 'example.com/held', version: 'v1.0.0', files: { 'a.go': 'package held\n', 'pad.txt': 'p'.repeat(200_000) } });
  const args = serveArgs(dir, upstream.url, upstream.caFile);
  const first = await spawnGatewayProcess(args);
  try {
    const lockFile = join(dir, 'data', 'gomodgate.pid');
    assert.equal(readFileSync(lockFile, 'utf8').trim(), String(first.child.pid));
    // a download in progress: headers and part of the zip, then the upstream holds the rest
    upstream.setFault('/example.com/held/@v/v1.0.0.zip', { kind: 'stall-after-headers' });
    const pending = fetchVia(`${first.baseUrl}/example.com/held/@v/v1.0.0.zip`, { timeoutMs: 30_000 }).catch((err: Error) => err);
    await waitFor('the first gateway\'s temporary file', () => tempFiles(join(dir, 'data')).length > 0, 15_000);
    const before = tempFiles(join(dir, 'data'));

    const second = await run(process.execPath, [join(REPO_ROOT, 'bin/gomodgate.js'), 'serve', ...args], { timeout: 30_000 }).then(
      () => ({ code: 0, stderr: '' }),
      (err: { code: number; stderr: string }) => err,
    );
    assert.equal(second.code, 2, second.stderr);
    assert.match(second.stderr, new RegExp(`is in use by another gomodgate \\(pid ${first.child.pid}, `));
    assert.deepEqual(tempFiles(join(dir, 'data')), before, 'the first one\'s download in progress is left alone');
    assert.equal(first.child.exitCode, null);
    assert.equal(readFileSync(lockFile, 'utf8').trim(), String(first.child.pid));

    await pending; // the stalled download gives up after --upstream-timeout (8 s); its temporary file goes with it
    upstream.resetFaults();
    const served = await fetchVia(`${first.baseUrl}/example.com/held/@v/v1.0.0.zip`, { timeoutMs: 30_000 });
    assert.equal(served.status, 200);
    assert.equal(served.sha256, added.zipSha256);

    first.child.kill('SIGKILL'); // a crash: its lock file stays, naming a PID that is gone
    await waitFor('the first gateway gone', () => first.child.exitCode !== null || first.child.signalCode !== null, 15_000);
    assert.ok(existsSync(lockFile));
    const third = await spawnGatewayProcess(args);
    assert.equal(readFileSync(lockFile, 'utf8').trim(), String(third.child.pid), 'a dead holder\'s lock is taken over');
    await third.stop();
    assert.ok(!existsSync(lockFile), 'a stopped gateway leaves the directory free');
  } finally {
    await first.stop().catch(() => undefined);
    await upstream.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
