// Unit: the pieces of the bench's redirect scenario that run without root. The relay's child process listens on
// the address it is given (the namespace world puts it on the upstream's own address, not loopback) and passes
// bytes both ways; the bare Node server (the floor row) serves exactly its file over keep-alive TLS; the large
// scenario's streaming floor serves its file whole to clients at once and answers its loop stall; the test
// proxy's file names map to the module@version the go command is asked for; the settled runs carry the wrk loads
// in their name only when wrk ran. Real sockets, real TLS and real child processes (stopped by their PID); no
// timing is asserted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import http from 'node:http';
import https from 'node:https';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createTestPki } from '../helpers/test-pki.js';
import { delayRelayArgv } from '../../bench/delay-relay-process.js';
import { freePort, spawnLogged, waitForListener } from '../../bench/processes.js';
import { moduleOfTestdataFile, settledPhase } from '../../bench/scenarios/redirect.js';

test('the relay process listens on the host it is told and relays both ways', async () => {
  const target = net.createServer((s) => {
    s.on('error', () => undefined);
    s.on('data', (d: Buffer) => s.end(Buffer.concat([Buffer.from('echo:'), d])));
  });
  await new Promise<void>((r) => target.listen(0, '127.0.0.1', r));
  const argv = delayRelayArgv('127.0.0.1', (target.address() as net.AddressInfo).port, 10, '127.0.0.2');
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const [first] = (await once(createInterface({ input: child.stdout! }), 'line')) as [string]; // {"port":N}
    const port = (JSON.parse(first) as { port: number }).port;
    const client = net.connect(port, '127.0.0.2');
    client.end('ping');
    const parts: Buffer[] = [];
    client.on('data', (d: Buffer) => parts.push(d));
    await once(client, 'end');
    assert.equal(Buffer.concat(parts).toString(), 'echo:ping');
    // not on 127.0.0.1: it listens only where it was told
    const other = net.connect(port, '127.0.0.1');
    const [err] = (await once(other, 'error')) as [NodeJS.ErrnoException];
    assert.equal(err.code, 'ECONNREFUSED');
  } finally {
    child.kill('SIGTERM');
    if (child.exitCode === null) await once(child, 'exit');
    await new Promise<void>((r) => target.close(() => r()));
  }
});

test('the bare Node https server serves exactly its file, twice on one keep-alive connection', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gmg-floor-'));
  const pki = createTestPki(join(dir, 'pki'));
  const cert = pki.issue('floor', ['proxy.golang.org']);
  const body = randomBytes(1780);
  writeFileSync(join(dir, 'body.zip'), body);
  const main = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bench', 'node-floor-main.js');
  const child = spawn(process.execPath, [main, '0', cert.certFile, cert.keyFile, join(dir, 'body.zip')], { stdio: ['ignore', 'pipe', 'inherit'] });
  const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const [first] = (await once(createInterface({ input: child.stdout! }), 'line')) as [string]; // {"port":N}
    const port = (JSON.parse(first) as { port: number }).port;
    const sockets = new Set<unknown>();
    for (let i = 0; i < 2; i++) {
      const got = await new Promise<{ status: number; type: string | undefined; sha: string; length: number }>((resolve, reject) => {
        const req = https.get({ host: '127.0.0.1', port, path: '/rsc.io/quote/@v/v1.5.2.zip', servername: 'proxy.golang.org', ca: pki.ca.certPem, agent }, (res) => {
          sockets.add(res.socket);
          const parts: Buffer[] = [];
          res.on('data', (d: Buffer) => parts.push(d));
          res.on('end', () => {
            const all = Buffer.concat(parts);
            resolve({ status: res.statusCode!, type: res.headers['content-type'], sha: createHash('sha256').update(all).digest('hex'), length: all.length });
          });
        });
        req.on('error', reject);
      });
      assert.deepEqual(got, { status: 200, type: 'application/zip', sha: createHash('sha256').update(body).digest('hex'), length: 1780 });
    }
    assert.equal(sockets.size, 1, 'both requests on one connection');
  } finally {
    agent.destroy();
    child.kill('SIGTERM');
    if (child.exitCode === null) await once(child, 'exit');
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the streaming floor serves its whole file to clients at once and answers its longest loop stall', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gmg-stream-floor-'));
  const body = randomBytes(3 * 1024 * 1024 + 17); // several 256 KiB reads, and a last short one
  writeFileSync(join(dir, 'big.zip'), body);
  const port = await freePort();
  const main = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bench', 'stream-floor-main.js');
  const floor = spawnLogged('stream-floor', [process.execPath, main, String(port), join(dir, 'big.zip')], { logFile: join(dir, 'floor.log') });
  const get = (path: string) =>
    new Promise<{ status: number; length: number; sha: string; text: string }>((resolve, reject) => {
      const req = http.get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
        const parts: Buffer[] = [];
        res.on('data', (d: Buffer) => parts.push(d));
        res.on('end', () => {
          const all = Buffer.concat(parts);
          resolve({ status: res.statusCode!, length: Number(res.headers['content-length']), sha: createHash('sha256').update(all).digest('hex'), text: all.toString() });
        });
      });
      req.on('error', reject);
    });
  try {
    await waitForListener(floor, port, 5000); // throws, with the floor's log, if it never listens
    const first = await get('/loop-stall');
    assert.equal(first.status, 200);
    assert.ok(Number.isFinite(Number(first.text)) && Number(first.text) >= 0, `a stall in ms: ${first.text}`);
    const want = createHash('sha256').update(body).digest('hex');
    const got = await Promise.all([get('/a.zip'), get('/b.zip'), get('/c.zip')]);
    for (const g of got) assert.deepEqual({ status: g.status, length: g.length, sha: g.sha }, { status: 200, length: body.length, sha: want });
    const after = await get('/loop-stall');
    assert.ok(Number.isFinite(Number(after.text)) && Number(after.text) >= 0, `a stall in ms: ${after.text}`);
  } finally {
    await floor.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the test proxy file names map to module@version, upper case unescaped', () => {
  assert.equal(moduleOfTestdataFile('rsc.io_quote_v1.5.2.txt'), 'rsc.io/quote@v1.5.2');
  assert.equal(moduleOfTestdataFile('example.com_invalidpath_v1_v1.0.0.txt'), 'example.com/invalidpath/v1@v1.0.0');
  assert.equal(moduleOfTestdataFile('rsc.io_!q!u!o!t!e_v1.5.3-!p!r!e.txt'), 'rsc.io/QUOTE@v1.5.3-PRE');
  assert.equal(moduleOfTestdataFile('example.com_incompatiblewithsub_v2.0.0+incompatible.txt'), 'example.com/incompatiblewithsub@v2.0.0+incompatible');
  assert.equal(moduleOfTestdataFile('README'), null);
  assert.equal(moduleOfTestdataFile('noversion.txt'), null);
});

test('the settled runs are named after the wrk loads only when wrk ran before them', () => {
  assert.equal(settledPhase(true), 'warm, settled (after the wrk loads)');
  assert.equal(settledPhase(false), 'warm, settled (warm runs 4-6; no wrk, so no load before them)');
});
