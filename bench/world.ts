// The fixture most scenarios share, started once per run: the module tree on disk, the origin serving it (rate
// unlimited until a scenario throttles it), nginx serving the same files statically over HTTP and HTTPS (a test
// certificate for proxy.golang.org), and one gomodgate child whose upstream is the origin. Everything started
// here is registered with the undo list as it starts.
import http from 'node:http';
import { join } from 'node:path';
import { createTestPki, type TestPki } from '../test/helpers/test-pki.js';
import type { BenchContext } from './context.js';
import { writeModule, type BenchModule } from './fixtures.js';
import { startOriginProcess, type OriginProcess } from './origin-process.js';
import { startNginx, type Nginx } from './nginx.js';
import { missingReason, toolPath } from './tools.js';
import { startBenchGateway, type BenchGateway } from './gateway-process.js';
import { getOnce, MiB } from './load-client.js';

export interface World {
  modulesDir: string;
  typical: BenchModule; // 200 KiB of content: the size of most module zips
  small: BenchModule; // 1 MiB of content
  large: BenchModule; // 20 MiB
  cold: BenchModule; // 20 MiB, fetched only by the cold-miss scenario
  pki: TestPki;
  origin: OriginProcess;
  nginx: Nginx | null;
  gateway: BenchGateway;
}

export async function startWorld(ctx: BenchContext): Promise<World> {
  const modulesDir = ctx.dir('modules');
  ctx.progress('writing module zips (200 KiB, 1 MiB, 20 MiB, 20 MiB)');
  const typical = await writeModule(modulesDir, 'example.com/bench/typical', 'v1.0.0', 200 * 1024);
  const small = await writeModule(modulesDir, 'example.com/bench/small', 'v1.0.0', 1 * MiB);
  const large = await writeModule(modulesDir, 'example.com/bench/large', 'v1.0.0', 20 * MiB);
  const cold = await writeModule(modulesDir, 'example.com/bench/cold', 'v1.0.0', 20 * MiB);

  const pki = createTestPki(ctx.dir('pki'));
  const origin = await startOriginProcess(modulesDir, 0, join(ctx.dir('origin'), 'origin.log'));
  ctx.cleanup.add('origin', () => origin.stop());

  let nginx: Nginx | null = null;
  if (toolPath('nginx')) {
    const cert = pki.issue('nginx', ['proxy.golang.org', 'localhost'], 'ec'); // the kind of key gomodgate's leaves have
    nginx = await startNginx({ root: modulesDir, dir: ctx.dir('nginx'), tls: { certFile: cert.certFile, keyFile: cert.keyFile } });
    ctx.cleanup.add('nginx', () => nginx!.stop());
  } else {
    ctx.notice(`${missingReason('nginx')}: the nginx baseline rows (cached, tls) are left empty`);
  }

  const gateway = await startBenchGateway({ dir: ctx.dir('gateway'), upstream: origin.url });
  ctx.cleanup.add('gomodgate', () => gateway.stop());
  return { modulesDir, typical, small, large, cold, pki, origin, nginx, gateway };
}

/** Fetches a module's zip and go.mod through the gateway's plain endpoint and checks them against the files. */
export async function warmGateway(world: World, m: BenchModule): Promise<void> {
  const get = (path: string, hash: boolean) =>
    getOnce({ transport: http, options: { host: '127.0.0.1', port: world.gateway.ports.proxy, path, agent: false } }, { hash, timeoutMs: 60_000 });
  const zip = await get(m.zipPath, true);
  if (zip.status !== 200 || zip.sha256 !== m.zipSha256) throw new Error(`warming ${m.zipPath} through gomodgate: status ${zip.status}, sha256 ${zip.sha256} (want ${m.zipSha256})`);
  const mod = await get(m.modPath, false);
  if (mod.status !== 200 || mod.bytes !== m.modSize) throw new Error(`warming ${m.modPath} through gomodgate: status ${mod.status}, ${mod.bytes} bytes`);
}
