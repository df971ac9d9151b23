// Self-test of the module-upstream fixture: GOPROXY answers over real TLS, zips readable by unzip and Go, h1 hashes
// equal to Go's own dirhash and to what the real go command records, hit counts, and every misbehaviour on command.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { startModuleUpstream, type AddedModule, type ModuleUpstream } from '../helpers/module-upstream.js';
import { createTestPki, type TestPki } from '../helpers/test-pki.js';
import { buildGoDirhash, type GoDirhash } from '../helpers/go-dirhash.js';

const run = promisify(execFile);

interface Fetched {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  sha256: string;
  size: number;
  complete: boolean; // false when the connection ended before Content-Length bytes arrived
  reusedSocket: boolean;
}

/** GET (or HEAD) with node's https trusting only the test CA; the body is hashed as it streams, and kept if small. */
function fetch(url: string, ca: string, opts: { method?: string; agent?: http.Agent; timeoutMs?: number } = {}): Promise<Fetched> {
  return new Promise((resolve, reject) => {
    const client = url.startsWith('https:') ? https : http;
    const req = client.request(url, { method: opts.method ?? 'GET', ca: ca || undefined, agent: opts.agent ?? false }, (res) => {
      const digest = createHash('sha256');
      const kept: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        digest.update(chunk);
        size += chunk.length;
        if (size <= 1 << 20) kept.push(chunk);
      });
      res.on('error', () => {}); // 'aborted': reported through complete = false
      res.on('close', () => {
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(kept),
          sha256: digest.digest('hex'),
          size,
          complete: res.complete,
          reusedSocket: req.reusedSocket,
        });
      });
    });
    if (opts.timeoutMs) req.setTimeout(opts.timeoutMs, () => req.destroy(Object.assign(new Error('client timeout'), { code: 'ETIMEDOUT' })));
    req.on('error', reject);
    req.end();
  });
}

function hasCommand(name: string): boolean {
  return ['/usr/bin', '/usr/local/bin', '/bin', '/usr/local/go/bin'].some((d) => existsSync(join(d, name)));
}

function goEnv(dir: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    ...process.env,
    GOFLAGS: '-mod=mod -modcacherw',
    GOPROXY: 'off',
    GOCACHE: process.env.GOCACHE ?? join(tmpdir(), 'gomodgate-test-gocache'),
    GOPATH: join(dir, 'gopath'),
    GOMODCACHE: join(dir, 'modcache'),
    GOTOOLCHAIN: 'local',
    ...extra,
  };
}

describe('module-upstream fixture', () => {
  let dir: string;
  let pki: TestPki;
  let upstream: ModuleUpstream;
  let ca: string;
  let goDirhash: GoDirhash | null = null;
  let azure: AddedModule;
  const files = { 'foo.go': 'package foo\n\nconst Answer = 42\n', 'sub/README': Buffer.from('read me\n'), LICENSE: 'MIT\n' };
  const azureGoMod = 'module github.com/Azure/Foo\n\ngo 1.19\n';
  const base = '/github.com/!azure/!foo/@v';

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'module-upstream-test-'));
    pki = createTestPki(join(dir, 'pki'));
    upstream = await startModuleUpstream({ pki });
    ca = readFileSync(upstream.caFile, 'utf8');
    azure = upstream.addModule({ path: 'github.com/Azure/Foo', version: 'v1.2.0', files, goMod: azureGoMod, time: '2020-05-06T07:08:09Z' });
    upstream.addModule({ path: 'github.com/Azure/Foo', version: 'v1.10.0', files });
    upstream.addModule({ path: 'github.com/Azure/Foo', version: 'v1.9.0-rc.1', files });
    upstream.addModule({ path: 'github.com/Azure/Foo', version: 'v0.0.0-20190101000000-abcdefabcdef', files });
    goDirhash = await buildGoDirhash(dir);
  });

  after(async () => {
    await upstream?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('serves list, @latest, .info and .mod with Content-Length, case-encoded paths, and counts hits per path', async () => {
    upstream.resetHits();
    const list = await fetch(`${upstream.url}${base}/list`, ca);
    assert.equal(list.status, 200);
    assert.equal(list.body.toString(), 'v1.2.0\nv1.9.0-rc.1\nv1.10.0\n', 'canonical versions in semver order, no pseudo-versions');
    assert.equal(Number(list.headers['content-length']), list.size);
    assert.match(String(list.headers['content-type']), /^text\/plain/);

    const latest = await fetch(`${upstream.url}/github.com/!azure/!foo/@latest`, ca);
    assert.equal(latest.status, 200);
    assert.equal(JSON.parse(latest.body.toString()).Version, 'v1.10.0');

    const info = await fetch(`${upstream.url}${base}/v1.2.0.info`, ca);
    assert.equal(info.status, 200);
    assert.deepEqual(JSON.parse(info.body.toString()), { Version: 'v1.2.0', Time: '2020-05-06T07:08:09Z' });
    assert.equal(Number(info.headers['content-length']), info.size);

    const mod = await fetch(`${upstream.url}${base}/v1.2.0.mod`, ca);
    assert.equal(mod.status, 200);
    assert.equal(mod.body.toString(), azureGoMod);
    assert.equal(Number(mod.headers['content-length']), mod.size);
    const defaultMod = await fetch(`${upstream.url}${base}/v1.10.0.mod`, ca);
    assert.equal(defaultMod.body.toString(), 'module github.com/Azure/Foo\n');

    await fetch(`${upstream.url}${base}/list`, ca);
    assert.equal(upstream.hits(`${base}/list`), 2);
    assert.equal(upstream.hits(`${base}/v1.2.0.info`), 1);
    assert.equal(upstream.hits('/github.com/Azure/Foo/@v/list'), 0, 'hits are per escaped path, as requested');
    assert.equal(upstream.hits('/github.com/%21azure/%21foo/@v/list'), 2, 'percent-encoded and plain spellings of one path count together');
    assert.equal(upstream.hits(), 6);
    assert.equal(upstream.requests[0]!.method, 'GET');
    assert.equal(upstream.requests[0]!.path, `${base}/list`);
    assert.equal(upstream.requests[0]!.headers.host, `127.0.0.1:${upstream.port}`);
    upstream.resetHits();
    assert.equal(upstream.hits(), 0);
  });

  it('answers unknown modules and versions 404 text/plain "not found", bad escapes 400', async () => {
    const unknownModule = await fetch(`${upstream.url}/example.com/nope/@v/list`, ca);
    assert.equal(unknownModule.status, 404);
    assert.match(String(unknownModule.headers['content-type']), /^text\/plain/);
    assert.match(unknownModule.body.toString(), /^not found: module example\.com\/nope/);
    assert.equal(Number(unknownModule.headers['content-length']), unknownModule.size);

    const unknownVersion = await fetch(`${upstream.url}${base}/v9.9.9.zip`, ca);
    assert.equal(unknownVersion.status, 404);
    assert.match(unknownVersion.body.toString(), /^not found: github\.com\/Azure\/Foo@v9\.9\.9/);

    const rawUpper = await fetch(`${upstream.url}/github.com/Azure/Foo/@v/list`, ca);
    assert.equal(rawUpper.status, 400);
    assert.equal(Number(rawUpper.headers['content-length']), rawUpper.size);
  });

  it('serves a real module zip: entries path@version/FILE with go.mod, its sha256 and size as addModule said', async () => {
    const zip = await fetch(`${upstream.url}${base}/v1.2.0.zip`, ca);
    assert.equal(zip.status, 200);
    assert.equal(zip.headers['content-type'], 'application/zip');
    assert.equal(Number(zip.headers['content-length']), azure.zipSize);
    assert.equal(zip.size, azure.zipSize);
    assert.equal(zip.sha256, azure.zipSha256);
    const zipFile = join(dir, 'azure.zip');
    writeFileSync(zipFile, zip.body);
    if (!hasCommand('unzip')) return;
    const listed = await run('unzip', ['-Z1', zipFile]);
    assert.deepEqual(listed.stdout.trim().split('\n').sort(), [
      'github.com/Azure/Foo@v1.2.0/LICENSE',
      'github.com/Azure/Foo@v1.2.0/foo.go',
      'github.com/Azure/Foo@v1.2.0/go.mod',
      'github.com/Azure/Foo@v1.2.0/sub/README',
    ]);
    await run('unzip', ['-tq', zipFile]); // CRCs and structure; exits non-zero on any error
    const goMod = await run('unzip', ['-p', zipFile, 'github.com/Azure/Foo@v1.2.0/go.mod']);
    assert.equal(goMod.stdout, azureGoMod);
  });

  it('h1 and goModH1 equal Go dirhash over the served zip and .mod', async (t) => {
    if (!goDirhash) return t.skip('go is not installed');
    const zipFile = join(dir, 'azure-h1.zip');
    writeFileSync(zipFile, (await fetch(`${upstream.url}${base}/v1.2.0.zip`, ca)).body);
    const modFile = join(dir, 'azure.mod');
    writeFileSync(modFile, (await fetch(`${upstream.url}${base}/v1.2.0.mod`, ca)).body);
    assert.equal((await goDirhash.zips([zipFile])).get(zipFile), azure.h1);
    assert.equal((await goDirhash.goMods([modFile])).get(modFile), azure.goModH1);
    assert.match(azure.h1, /^h1:[A-Za-z0-9+/]{43}=$/);
  });

  it('the real go command downloads through it over TLS and records the same Sum and GoModSum', async (t) => {
    if (!hasCommand('go')) return t.skip('go is not installed');
    upstream.resetHits();
    const work = mkdtempSync(join(dir, 'go-download-'));
    const env = goEnv(work, { GOPROXY: upstream.url, GOSUMDB: 'off', SSL_CERT_FILE: upstream.caFile });
    const { stdout } = await run('go', ['mod', 'download', '-json', 'github.com/Azure/Foo@v1.2.0'], { cwd: work, env });
    const result = JSON.parse(stdout) as { Sum: string; GoModSum: string; Error?: string };
    assert.equal(result.Error, undefined);
    assert.equal(result.Sum, azure.h1);
    assert.equal(result.GoModSum, azure.goModH1);
    assert.equal(upstream.hits(`${base}/v1.2.0.zip`), 1, 'the go command asked for the case-encoded zip path once');
    assert.ok(upstream.requests.some((r) => r.path === '/github.com/%21azure/%21foo/@v/v1.2.0.zip'), 'recorded as sent: ! as %21');
    assert.ok(upstream.requests.every((r) => String(r.headers['user-agent']).startsWith('Go-http-client')));
  });

  it('keeps connections alive between requests', async () => {
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const first = await fetch(`${upstream.url}${base}/list`, ca, { agent });
      const second = await fetch(`${upstream.url}${base}/v1.2.0.info`, ca, { agent });
      assert.equal(first.status, 200);
      assert.equal(first.reusedSocket, false);
      assert.equal(second.reusedSocket, true);
    } finally {
      agent.destroy();
    }
  });

  it('setDown: open and new connections are destroyed (socket error, no hit); setDown(false) serves again on the same port', async () => {
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      assert.equal((await fetch(`${upstream.url}${base}/list`, ca, { agent })).status, 200);
      upstream.resetHits();
      upstream.setDown(true);
      await assert.rejects(fetch(`${upstream.url}${base}/list`, ca, { agent }), (err: NodeJS.ErrnoException) => {
        assert.match(String(err.code), /^(ECONNRESET|EPIPE)$/);
        return true;
      });
      await assert.rejects(fetch(`${upstream.url}${base}/list`, ca), (err: NodeJS.ErrnoException) => {
        assert.match(String(err.code), /^(ECONNRESET|EPIPE)$/);
        return true;
      });
      assert.equal(upstream.hits(), 0);
      upstream.setDown(false);
      assert.equal((await fetch(`${upstream.url}${base}/list`, ca)).status, 200);
      assert.equal(upstream.hits(), 1);
    } finally {
      upstream.resetFaults();
      agent.destroy();
    }
  });

  it('dropMidBody: full Content-Length, exactly afterBytes bytes, then the connection dies', async () => {
    const zipPath = `${base}/v1.2.0.zip`;
    try {
      upstream.dropMidBody(zipPath, 100);
      const cut = await fetch(`${upstream.url}${zipPath}`, ca);
      assert.equal(cut.status, 200);
      assert.equal(Number(cut.headers['content-length']), azure.zipSize);
      assert.equal(cut.complete, false);
      assert.equal(cut.size, 100);
      upstream.dropMidBody(zipPath, 0);
      const headersOnly = await fetch(`${upstream.url}${zipPath}`, ca);
      assert.equal(headersOnly.complete, false);
      assert.equal(headersOnly.size, 0);
      upstream.dropMidBody(zipPath, null);
      const whole = await fetch(`${upstream.url}${zipPath}`, ca);
      assert.equal(whole.complete, true);
      assert.equal(whole.sha256, azure.zipSha256);
    } finally {
      upstream.resetFaults();
    }
  });

  it('setStatusFor forces a status with a text body on one path only; null clears', async () => {
    const infoPath = `${base}/v1.2.0.info`;
    try {
      for (const status of [500, 404, 410, 502]) {
        upstream.setStatusFor(infoPath, status);
        const forced = await fetch(`${upstream.url}${infoPath}`, ca);
        assert.equal(forced.status, status);
        assert.match(String(forced.headers['content-type']), /^text\/plain/);
        assert.equal(Number(forced.headers['content-length']), forced.size);
        assert.ok(forced.size > 0);
      }
      assert.equal((await fetch(`${upstream.url}${base}/v1.2.0.mod`, ca)).status, 200);
      upstream.setStatusFor(infoPath, null);
      assert.equal((await fetch(`${upstream.url}${infoPath}`, ca)).status, 200);
    } finally {
      upstream.resetFaults();
    }
  });

  it('tamper serves other bytes of the same length, so only a checksum can tell; null restores', async () => {
    const zipPath = `${base}/v1.2.0.zip`;
    try {
      const original = (await fetch(`${upstream.url}${zipPath}`, ca)).body;
      const evil = Buffer.from(original);
      evil[evil.length - 30] = evil[evil.length - 30]! ^ 0xff;
      upstream.tamper(zipPath, evil);
      const served = await fetch(`${upstream.url}${zipPath}`, ca);
      assert.equal(served.status, 200);
      assert.equal(Number(served.headers['content-length']), azure.zipSize);
      assert.deepEqual(served.body, evil);
      assert.notEqual(served.sha256, azure.zipSha256);
      upstream.tamper(zipPath, null);
      assert.equal((await fetch(`${upstream.url}${zipPath}`, ca)).sha256, azure.zipSha256);
    } finally {
      upstream.resetFaults();
    }
  });

  it('setDelay holds every answer back (a client that gives up sooner sees a timeout, the hit still counts)', async () => {
    const listPath = `${base}/list`;
    try {
      upstream.resetHits();
      upstream.setDelay(10_000);
      await assert.rejects(fetch(`${upstream.url}${listPath}`, ca, { timeoutMs: 200 }), { code: 'ETIMEDOUT' });
      assert.equal(upstream.hits(listPath), 1);
      upstream.setDelay(0);
      assert.equal((await fetch(`${upstream.url}${listPath}`, ca)).status, 200);
    } finally {
      upstream.resetFaults();
    }
  });

  it('a 50 MB module zip is written to disk and streamed, sha256, size, entries and h1 all matching', async (t) => {
    const sizeBytes = 50 * 1024 * 1024;
    const big = await upstream.addLargeModule({ path: 'example.com/Big', version: 'v1.0.0', sizeBytes });
    assert.ok(big.zipSize > sizeBytes);
    const zipPath = '/example.com/!big/@v/v1.0.0.zip';
    const head = await fetch(`${upstream.url}${zipPath}`, ca, { method: 'HEAD' });
    assert.equal(Number(head.headers['content-length']), big.zipSize);
    assert.equal(head.size, 0);
    const got = await fetch(`${upstream.url}${zipPath}`, ca);
    assert.equal(got.status, 200);
    assert.equal(got.complete, true);
    assert.equal(Number(got.headers['content-length']), big.zipSize);
    assert.equal(got.size, big.zipSize);
    assert.equal(got.sha256, big.zipSha256);
    assert.equal(createHash('sha256').update(readFileSync(big.zipFile)).digest('hex'), big.zipSha256);

    try {
      upstream.dropMidBody(zipPath, 3 * 1024 * 1024 + 7);
      const cut = await fetch(`${upstream.url}${zipPath}`, ca);
      assert.equal(cut.complete, false);
      assert.equal(cut.size, 3 * 1024 * 1024 + 7);
    } finally {
      upstream.resetFaults();
    }

    if (hasCommand('unzip')) {
      const listed = await run('unzip', ['-Z1', big.zipFile]);
      assert.deepEqual(listed.stdout.trim().split('\n'), ['example.com/Big@v1.0.0/go.mod', 'example.com/Big@v1.0.0/data.bin']);
    }
    if (!goDirhash) return t.skip('go is not installed');
    assert.equal((await goDirhash.zips([big.zipFile])).get(big.zipFile), big.h1);
  });

  it('serves plain HTTP when tls is false, and makes its own PKI when none is given', async () => {
    const plain = await startModuleUpstream({ tls: false });
    const ownPki = await startModuleUpstream({});
    try {
      plain.addModule({ path: 'example.com/plain', version: 'v0.1.0', files: { 'a.go': 'package a\n' } });
      assert.match(plain.url, /^http:\/\/127\.0\.0\.1:\d+$/);
      const list = await fetch(`${plain.url}/example.com/plain/@v/list`, '');
      assert.equal(list.body.toString(), 'v0.1.0\n');
      assert.equal(plain.hits('/example.com/plain/@v/list'), 1);

      ownPki.addModule({ path: 'example.com/tls', version: 'v0.1.0', files: {} });
      const ownCa = readFileSync(ownPki.caFile, 'utf8');
      assert.notEqual(ownCa, ca);
      assert.equal((await fetch(`${ownPki.url}/example.com/tls/@v/list`, ownCa)).status, 200);
      await assert.rejects(fetch(`${ownPki.url}/example.com/tls/@v/list`, ca), { code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' });
    } finally {
      await plain.close();
      await ownPki.close();
    }
    assert.equal(existsSync(ownPki.caFile), false, 'close removes the PKI it made');
  });
});
