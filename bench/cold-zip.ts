// Measurement script (not part of `npm run bench`'s table): one client, one large module zip that no cache has,
// through a fresh gomodgate child process, next to the same client fetching it straight from the origin. Two
// generated zips of about 96 MB: `stored` (go.mod + random bytes, stored, as the bench fixtures) and `deflated`
// (many text files, deflated with data descriptors, as Go and proxy.golang.org write them). Figures: MB/s to
// the last byte (both clients hash what they get), median of the rounds. Loopback only; every process is stopped by PID, its directory removed.
// It judges nothing. `--gomodgate FILE` measures another build (e.g. main's bin/gomodgate.js) for a before/after.
//
//   node dist/bench/cold-zip.js [--rounds 5] [--gomodgate /path/to/bin/gomodgate.js] [--only stored,deflated]
import http from 'node:http';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, mkdtempSync, rmSync, statSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import yazl from 'yazl';
import { REPO_ROOT } from '../test/helpers/gateway.js';
import { writeLargeModuleZip } from '../test/helpers/module-zip.js';
import { getOnce, median, MiB } from './load-client.js';
import { spawnLogged, waitUntil } from './processes.js';

const MODULE = 'example.com/bench/coldzip';

interface Fixture {
  name: string;
  module: string;
  file: string;
  size: number;
  sha256: string;
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

/** ~96 MB deflated: 1200 files of 160 KiB hex text each (compresses about 2:1), as Go writes them. */
async function writeDeflatedZip(file: string, module: string): Promise<void> {
  const prefix = `${module}@v1.0.0/`;
  const zip = new yazl.ZipFile();
  zip.addBuffer(Buffer.from(`module ${module}\n`), `${prefix}go.mod`, { compress: true });
  for (let i = 0; i < 1200; i++) {
    zip.addBuffer(Buffer.from(randomBytes(80 * 1024).toString('hex')), `${prefix}data/f${i}.txt`, { compress: true });
  }
  zip.end();
  await pipeline(zip.outputStream, createWriteStream(file));
}

async function fixture(dir: string, name: string): Promise<Fixture> {
  const module = `${MODULE}/${name}`;
  const file = join(dir, `${name}.zip`);
  if (name === 'stored') await writeLargeModuleZip(file, module, 'v1.0.0', Buffer.from(`module ${module}\n`), 96 * 1000 * 1000);
  else await writeDeflatedZip(file, module);
  const sha = createHash('sha256');
  await pipeline(createReadStream(file), new Transform({ transform: (c, _e, done) => (sha.update(c), done()) }));
  return { name, module, file, size: statSync(file).size, sha256: sha.digest('hex') };
}

async function main(): Promise<void> {
  const rounds = Number(arg('--rounds') ?? 5);
  const bin = arg('--gomodgate') ?? join(REPO_ROOT, 'bin', 'gomodgate.js');
  const only = (arg('--only') ?? 'stored,deflated').split(',');
  const dir = mkdtempSync(join(tmpdir(), 'gmg-coldzip-'));
  const stops: Array<() => Promise<void>> = [];
  const cleanup = async () => {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  };
  process.once('SIGINT', () => void cleanup().then(() => process.exit(130)));
  try {
    const fixtures: Fixture[] = [];
    for (const name of only) fixtures.push(await fixture(dir, name));
    const origin = http.createServer((req, res) => {
      const f = fixtures.find((x) => req.url === `/${x.module}/@v/v1.0.0.zip`);
      if (!f) return void res.writeHead(404).end('not found\n');
      res.writeHead(200, { 'content-type': 'application/zip', 'content-length': String(f.size) });
      createReadStream(f.file, { highWaterMark: 256 * 1024 }).pipe(res);
    });
    await new Promise<void>((r) => origin.listen(0, '127.0.0.1', r));
    stops.push(() => new Promise<void>((r) => origin.close(() => r())));
    const originPort = (origin.address() as { port: number }).port;
    const target = (port: number, path: string) => ({ transport: http, options: { host: '127.0.0.1', port, path, agent: false } });

    for (const f of fixtures) {
      const path = `/${f.module}/@v/v1.0.0.zip`;
      const direct: number[] = [];
      const gateway: number[] = [];
      for (let round = 0; round < rounds; round++) {
        let t0 = performance.now();
        const d = await getOnce(target(originPort, path), { timeoutMs: 120_000, hash: true });
        if (d.status !== 200 || d.bytes !== f.size || d.sha256 !== f.sha256) throw new Error(`direct: status ${d.status}, ${d.bytes} bytes`);
        direct.push(f.size / 1e6 / ((performance.now() - t0) / 1000));

        const gdir = join(dir, `gw-${f.name}-${round}`);
        mkdirSync(gdir);
        const proc = spawnLogged('gomodgate', [
          process.execPath, bin, 'serve', '--data-dir', join(gdir, 'data'), '--ca-dir', join(gdir, 'certs'),
          '--listen', '127.0.0.1', '--tls-port', '0', '--http-port', '0', '--proxy-port', '0', '--admin-listen', '127.0.0.1', '--admin-port', '0',
          '--upstream', `http://127.0.0.1:${originPort}`, '--sumdb', 'off', '--log-level', 'info',
        ], { logFile: join(gdir, 'log'), cwd: gdir });
        try {
          const port = await waitUntil('gomodgate ready', () => {
            if (proc.exited()) throw new Error(`gomodgate exited:\n${proc.log()}`);
            for (const line of proc.log(64 * 1024).split('\n')) if (line.includes('"gomodgate ready"')) return JSON.parse(line).ports.proxy as number;
            return null;
          }, 30_000);
          t0 = performance.now();
          const g = await getOnce(target(port, path), { timeoutMs: 120_000, hash: true });
          const ms = performance.now() - t0;
          if (g.status !== 200 || g.bytes !== f.size || g.sha256 !== f.sha256) throw new Error(`gomodgate: status ${g.status}, ${g.bytes} bytes, sha256 ${g.sha256}`);
          gateway.push(f.size / 1e6 / (ms / 1000));
        } finally {
          await proc.stop();
          rmSync(gdir, { recursive: true, force: true });
        }
      }
      const fmt = (xs: number[]) => xs.map((x) => x.toFixed(0)).join(' ');
      const dm = median(direct);
      const gm = median(gateway);
      console.log(`${f.name} ${(f.size / MiB).toFixed(1)} MiB: direct median ${dm.toFixed(0)} MB/s [${fmt(direct)}], gomodgate cold median ${gm.toFixed(0)} MB/s [${fmt(gateway)}], ratio ${(gm / dm).toFixed(2)}`);
    }
  } finally {
    await cleanup();
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
