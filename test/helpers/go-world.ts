// The end-to-end test world: three network namespaces (client → gateway → upstream) joined by veth pairs, with
// IPv4 and IPv6, iptables/ip6tables REDIRECT of the client's ports 443/80 to the gateway's listeners, and a real
// upstream: the Go team's test module proxy behind nginx, which serves proxy.golang.org, sum.golang.org, the
// vulnerability database fixtures as vuln.go.dev (test/fixtures/vulndb, static files) and a non-Go site
// (www.passthrough.test) with certificates from a throwaway test CA. The gateway (gomodgate serve) is
// started on demand as a child of the test inside the gateway namespace.
// Everything it creates carries the prefix (namespaces, /etc/netns/<prefix>-*, links) or lives in its state
// directory; set-up first removes what an earlier run left, close() removes what this run made (logs stay).
import { X509Certificate } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createTestPki, type TestPki } from './test-pki.js';
import {
  addAddress,
  addDefaultRoute,
  createNamespace,
  createVethPair,
  deleteNamespace,
  deleteNamespacesWithPrefix,
  killStaleProcesses,
  netfilter,
  runChecked,
  runCheckedInNamespace,
  setSysctl,
  spawnInNamespace,
  waitForTcpPort,
  writeNamespaceHosts,
  type NamespaceProcess,
} from './netns.js';
import { ensureGoTestProxyBinary, startGoTestProxy, TEST_SUMDB_KEY, type GoTestProxy } from './go-test-proxy.js';
import { buildAndRunHello, type HelloRun } from './go-client.js';

/** The repository root, from this file's place (dist/test/helpers/ or test/helpers/). */
export const REPO_ROOT = findRepoRoot();

function findRepoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string };
      if (pkg.name === 'gomodgate') return dir;
    } catch {
      // not here
    }
    dir = dirname(dir);
  }
  throw new Error('cannot find the gomodgate repository root above ' + fileURLToPath(import.meta.url));
}

export const GO_HOSTS = ['proxy.golang.org', 'sum.golang.org'] as const;
export const PASSTHROUGH_HOST = 'www.passthrough.test';
/** The Go vulnerability database's host, served by nginx from test/fixtures/vulndb. */
export const VULNDB_HOST = 'vuln.go.dev';
export const PASSTHROUGH_BODY = 'passthrough-origin-ok';

export interface FamilyAddresses {
  v4: string;
  v6: string;
}

export interface WorldAddresses {
  client: FamilyAddresses;
  gatewayClientSide: FamilyAddresses;
  gatewayUpstreamSide: FamilyAddresses;
  upstream: FamilyAddresses;
}

export interface GatewayOptions {
  /** Extra `serve` arguments, e.g. ['--log-level', 'debug']. */
  args?: string[];
  /** Start with an empty data directory (default: keep the cache of the previous gateway in this world). */
  freshData?: boolean;
  readyTimeoutMs?: number;
}

export interface Gateway {
  readonly process: NamespaceProcess;
  readonly dataDir: string;
  readonly caDir: string;
  /** The gateway CA's certificate (from `ca export`): the only CA the client trusts. */
  readonly caFile: string;
  readonly dbFile: string;
  readonly tlsPort: number;
  readonly httpPort: number;
  readonly proxyPort: number;
  /** The last lines of its log (pino JSON), for assertion messages. */
  logs(lines?: number): string;
  stop(): Promise<void>;
}

export interface GoWorld {
  readonly prefix: string;
  readonly stateDir: string;
  /** Temporary files of this world (PKI, nginx, gateway data, go runs); removed by close(). */
  readonly dir: string;
  readonly namespaces: { client: string; gateway: string; upstream: string };
  readonly interfaces: { clientSide: string; gatewayClientSide: string; gatewayUpstreamSide: string; upstreamSide: string };
  readonly addresses: WorldAddresses;
  readonly pki: TestPki;
  /** PEM of the certificate nginx presents for www.passthrough.test, and its SHA-256 fingerprint (AA:BB:...). */
  readonly passthroughCert: { pem: string; fingerprint256: string };
  readonly nginx: NamespaceProcess;
  readonly goProxyAddress: string;
  goProxy(): GoTestProxy | null;
  startGoProxy(): Promise<GoTestProxy>;
  stopGoProxy(): Promise<void>;
  gateway(): Gateway | null;
  startGateway(opts?: GatewayOptions): Promise<Gateway>;
  stopGateway(): Promise<void>;
  /**
   * Runs fn while the client namespace cannot open TCP connections to these ports (REJECT in its OUTPUT chain,
   * IPv4 and IPv6), so that only an explicitly configured path (the proxy port) can work.
   */
  withClientPortsBlocked<T>(ports: number[], fn: () => Promise<T>): Promise<T>;
  /** The hello program built and run by the real go command in `ns` with a fresh GOPATH (see go-client.ts). */
  runHello(opts: { ns: string; certFile: string; env?: Record<string, string | undefined>; timeoutMs?: number }): Promise<HelloRun>;
  /** Diagnostics: last lines of the gateway, nginx and test-proxy logs. */
  diagnostics(lines?: number): string;
  close(): Promise<void>;
}

export interface GoWorldOptions {
  prefix?: string; // default gmgcore
  /** The second octet of 10.X.0.0/16 and the group of fd00:X::/32 (default 213). */
  subnet?: number;
  stateDir?: string; // default os.tmpdir()/gomodgate-e2e-<prefix>
  goProxyPort?: number; // default 9911
}

/** Removes what an earlier run with this prefix may have left: its processes, namespaces, /etc/netns dirs, files. */
export async function cleanupWorld(prefix: string, stateDir: string): Promise<void> {
  await killStaleProcesses(stateDir);
  await deleteNamespacesWithPrefix(`${prefix}-`);
  rmSync(join(stateDir, 'world'), { recursive: true, force: true });
}

export async function createGoWorld(options: GoWorldOptions = {}): Promise<GoWorld> {
  const prefix = options.prefix ?? 'gmgcore';
  const subnet = options.subnet ?? 213;
  const stateDir = options.stateDir ?? join(tmpdir(), `gomodgate-e2e-${prefix}`);
  const goProxyPort = options.goProxyPort ?? 9911;
  await cleanupWorld(prefix, stateDir);

  const dir = join(stateDir, 'world');
  mkdirSync(dir, { recursive: true });
  rmSync(join(stateDir, 'logs'), { recursive: true, force: true });

  const namespaces = { client: `${prefix}-client`, gateway: `${prefix}-gw`, upstream: `${prefix}-up` };
  // Interface names are at most 15 characters.
  const short = prefix.slice(0, 10);
  const interfaces = {
    clientSide: `${short}-c`,
    gatewayClientSide: `${short}-gc`,
    gatewayUpstreamSide: `${short}-gu`,
    upstreamSide: `${short}-u`,
  };
  const addresses: WorldAddresses = {
    client: { v4: `10.${subnet}.1.2`, v6: `fd00:${subnet}:1::2` },
    gatewayClientSide: { v4: `10.${subnet}.1.1`, v6: `fd00:${subnet}:1::1` },
    gatewayUpstreamSide: { v4: `10.${subnet}.2.1`, v6: `fd00:${subnet}:2::1` },
    upstream: { v4: `10.${subnet}.2.2`, v6: `fd00:${subnet}:2::2` },
  };

  // Start building the test proxy binary (a minute the first time) while the network is set up.
  const binaryPromise = ensureGoTestProxyBinary();
  binaryPromise.catch(() => {}); // awaited below

  let goProxy: GoTestProxy | null = null;
  let nginx: NamespaceProcess | null = null;
  let gateway: Gateway | null = null;
  const closeAll = async () => {
    await gateway?.stop().catch(() => {});
    gateway = null;
    await nginx?.stop(5000).catch(() => {});
    await goProxy?.stop().catch(() => {});
    goProxy = null;
    for (const ns of Object.values(namespaces)) await deleteNamespace(ns).catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    await buildNetwork(namespaces, interfaces, addresses);

    const pki = createTestPki(join(dir, 'pki'));
    const certs = {
      proxy: pki.issue('proxy.golang.org', ['proxy.golang.org']),
      sum: pki.issue('sum.golang.org', ['sum.golang.org']),
      passthrough: pki.issue('www.passthrough.test', [PASSTHROUGH_HOST]),
      vulndb: pki.issue(VULNDB_HOST, [VULNDB_HOST]),
    };
    const passthroughCert = {
      pem: certs.passthrough.certPem,
      fingerprint256: new X509Certificate(certs.passthrough.certPem).fingerprint256,
    };

    const upstreamNames = [...GO_HOSTS, PASSTHROUGH_HOST, VULNDB_HOST];
    for (const ns of [namespaces.client, namespaces.gateway]) {
      writeNamespaceHosts(ns, [{ address: addresses.upstream.v4, names: upstreamNames }]);
    }

    const goProxyAddress = `127.0.0.1:${goProxyPort}`;
    const nginxDir = join(dir, 'nginx');
    mkdirSync(nginxDir, { recursive: true });
    const nginxConf = join(nginxDir, 'nginx.conf');
    writeFileSync(nginxConf, nginxConfig(nginxDir, addresses.upstream, goProxyAddress, certs));
    await runCheckedInNamespace(namespaces.upstream, ['nginx', '-t', '-p', nginxDir, '-c', nginxConf], { timeoutMs: 20_000 }).catch((err: Error) => {
      throw new Error(`nginx rejects its generated configuration ${nginxConf}: ${err.message}`);
    });
    nginx = spawnInNamespace(namespaces.upstream, ['nginx', '-p', nginxDir, '-c', nginxConf, '-g', 'daemon off;'], {
      name: 'nginx',
      stateDir,
    });
    await waitForTcpPort(namespaces.upstream, addresses.upstream.v4, 443, 20_000);
    await waitForTcpPort(namespaces.upstream, addresses.upstream.v6, 443, 20_000);

    const binary = await binaryPromise;
    let firstTreeHead: string | null = null;
    const startGoProxy = async (): Promise<GoTestProxy> => {
      if (goProxy && !goProxy.process.hasExited()) return goProxy;
      goProxy = await startGoTestProxy({ ns: namespaces.upstream, stateDir, binary, port: goProxyPort });
      // A gateway may hold tiles of the first tree: a restart must rebuild exactly the same one.
      firstTreeHead ??= goProxy.treeHead;
      if (goProxy.treeHead !== firstTreeHead) {
        throw new Error(`the restarted test proxy built another checksum tree (${goProxy.treeHead}, first ${firstTreeHead})`);
      }
      return goProxy;
    };
    await startGoProxy();

    const runsDir = join(dir, 'runs');
    const nginxProc = nginx;
    const world: GoWorld = {
      prefix,
      stateDir,
      dir,
      namespaces,
      interfaces,
      addresses,
      pki,
      passthroughCert,
      nginx: nginxProc,
      goProxyAddress,
      goProxy: () => goProxy,
      startGoProxy,
      async stopGoProxy() {
        await goProxy?.stop();
        goProxy = null;
      },
      gateway: () => gateway,
      async startGateway(opts = {}) {
        if (gateway && !gateway.process.hasExited()) throw new Error('the gateway is already running; stopGateway() first');
        gateway = await startGateway(world, opts);
        return gateway;
      },
      async stopGateway() {
        await gateway?.stop();
        gateway = null;
      },
      runHello: (o) => buildAndRunHello({ ...o, baseDir: runsDir }),
      async withClientPortsBlocked(ports, fn) {
        const rule = (port: number) => ['OUTPUT', '-p', 'tcp', '--dport', String(port), '-j', 'REJECT', '--reject-with', 'tcp-reset'];
        const added: [4 | 6, number][] = [];
        try {
          for (const port of ports) {
            for (const family of [4, 6] as const) {
              await netfilter(namespaces.client, family, ['-I', ...rule(port)]);
              added.push([family, port]);
            }
          }
          return await fn();
        } finally {
          for (const [family, port] of added) await netfilter(namespaces.client, family, ['-D', ...rule(port)]);
        }
      },
      diagnostics(lines = 30) {
        return [
          `--- gateway (last ${lines} lines) ---\n${gateway?.logs(lines) ?? '(not running)'}`,
          `--- nginx ---\n${nginxProc.output(lines)}`,
          `--- go test proxy ---\n${goProxy?.process.output(lines) ?? '(not running)'}`,
        ].join('\n');
      },
      close: closeAll,
    };
    return world;
  } catch (err) {
    await closeAll();
    throw err;
  }
}

async function buildNetwork(
  ns: GoWorld['namespaces'],
  ifs: GoWorld['interfaces'],
  a: WorldAddresses,
): Promise<void> {
  for (const name of Object.values(ns)) await createNamespace(name);
  await createVethPair({ ns: ns.client, ifname: ifs.clientSide }, { ns: ns.gateway, ifname: ifs.gatewayClientSide });
  await createVethPair({ ns: ns.gateway, ifname: ifs.gatewayUpstreamSide }, { ns: ns.upstream, ifname: ifs.upstreamSide });

  await addAddress(ns.client, ifs.clientSide, `${a.client.v4}/24`);
  await addAddress(ns.client, ifs.clientSide, `${a.client.v6}/64`);
  await addAddress(ns.gateway, ifs.gatewayClientSide, `${a.gatewayClientSide.v4}/24`);
  await addAddress(ns.gateway, ifs.gatewayClientSide, `${a.gatewayClientSide.v6}/64`);
  await addAddress(ns.gateway, ifs.gatewayUpstreamSide, `${a.gatewayUpstreamSide.v4}/24`);
  await addAddress(ns.gateway, ifs.gatewayUpstreamSide, `${a.gatewayUpstreamSide.v6}/64`);
  await addAddress(ns.upstream, ifs.upstreamSide, `${a.upstream.v4}/24`);
  await addAddress(ns.upstream, ifs.upstreamSide, `${a.upstream.v6}/64`);

  await addDefaultRoute(ns.client, a.gatewayClientSide.v4);
  await addDefaultRoute(ns.client, a.gatewayClientSide.v6);
  await addDefaultRoute(ns.upstream, a.gatewayUpstreamSide.v4);
  await addDefaultRoute(ns.upstream, a.gatewayUpstreamSide.v6);

  await setSysctl(ns.gateway, 'net.ipv4.ip_forward', '1');
  await setSysctl(ns.gateway, 'net.ipv6.conf.all.forwarding', '1');

  for (const family of [4, 6] as const) {
    for (const [dport, to] of [
      ['443', '8443'],
      ['80', '8080'],
    ] as const) {
      await netfilter(ns.gateway, family, [
        '-t', 'nat', '-A', 'PREROUTING', '-i', ifs.gatewayClientSide, '-p', 'tcp', '--dport', dport,
        '-j', 'REDIRECT', '--to-ports', to,
      ]);
    }
  }
}

interface CertFiles {
  certFile: string;
  keyFile: string;
}

/**
 * nginx in front of the test proxy. `proxy_pass` with a URI replaces the matched location prefix ("/") with that
 * URI, so https://proxy.golang.org/X goes to http://GOPROXY/mod/X and https://sum.golang.org/X to
 * /mod/sumdb-direct/X; case-encoded paths (`!`) pass through unchanged.
 */
function nginxConfig(dir: string, up: FamilyAddresses, goProxy: string, certs: Record<'proxy' | 'sum' | 'passthrough' | 'vulndb', CertFiles>): string {
  const listen = `    listen ${up.v4}:443 ssl;\n    listen [${up.v6}]:443 ssl;\n`;
  const tls = (c: CertFiles) => `    ssl_certificate ${c.certFile};\n    ssl_certificate_key ${c.keyFile};\n`;
  const proxied = `      proxy_http_version 1.1;\n      proxy_set_header Connection "";\n      proxy_buffering off;\n      proxy_read_timeout 120s;\n`;
  return `# generated by test/helpers/go-world.ts
user root;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log info;
events { worker_connections 512; }
http {
  access_log ${dir}/access.log;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy_temp;
  fastcgi_temp_path ${dir}/fastcgi_temp;
  uwsgi_temp_path ${dir}/uwsgi_temp;
  scgi_temp_path ${dir}/scgi_temp;
  default_type application/octet-stream;
  merge_slashes off;
  server {
${listen}    server_name proxy.golang.org;
${tls(certs.proxy)}    location / {
      proxy_pass http://${goProxy}/mod/;
${proxied}    }
  }
  server {
${listen}    server_name sum.golang.org;
${tls(certs.sum)}    location / {
      proxy_pass http://${goProxy}/mod/sumdb-direct/;
${proxied}    }
  }
  server {
${listen}    server_name ${VULNDB_HOST};
${tls(certs.vulndb)}    location / {
      root ${join(REPO_ROOT, 'test', 'fixtures', 'vulndb')};
      default_type application/json;
    }
  }
  server {
${listen}    server_name ${PASSTHROUGH_HOST};
${tls(certs.passthrough)}    location / {
      default_type text/plain;
      return 200 "${PASSTHROUGH_BODY}\\n";
    }
  }
}
`;
}

async function startGateway(world: GoWorld, opts: GatewayOptions): Promise<Gateway> {
  const base = join(world.dir, 'gateway');
  const dataDir = join(base, 'data');
  const caDir = join(base, 'ca');
  const caFile = join(base, 'gateway-ca.pem');
  if (opts.freshData) rmSync(dataDir, { recursive: true, force: true });
  mkdirSync(dataDir, { recursive: true });
  const cli = resolve(REPO_ROOT, 'bin', 'gomodgate.js');
  const node = process.execPath;

  if (!safeRead(join(caDir, 'certs', 'ca.pem'))) {
    await runChecked([node, cli, 'ca', 'init', '--ca-dir', caDir], { cwd: base, timeoutMs: 60_000 });
  }
  const exported = await runChecked([node, cli, 'ca', 'export', '--ca-dir', caDir, '--format', 'pem'], { cwd: base, timeoutMs: 60_000 });
  if (!exported.stdout.includes('BEGIN CERTIFICATE')) throw new Error(`ca export printed no PEM certificate:\n${exported.stdout}\n${exported.stderr}`);
  writeFileSync(caFile, exported.stdout);

  const ports = { tls: 8443, http: 8080, proxy: 3128 };
  const argv = [
    node, cli, 'serve',
    '--data-dir', dataDir,
    '--ca-dir', caDir,
    '--listen', '::',
    '--tls-port', String(ports.tls),
    '--http-port', String(ports.http),
    '--proxy-port', String(ports.proxy),
    '--upstream-ca', world.pki.caFile,
    '--sumdb', TEST_SUMDB_KEY, // verify every .zip/.mod against the test checksum database (via proxy.golang.org/sumdb/)
    '--allow-clients', '10.0.0.0/8',
    '--allow-clients', 'fd00::/8',
    ...(opts.args ?? []),
  ];
  const proc = spawnInNamespace(world.namespaces.gateway, argv, {
    name: 'gateway',
    stateDir: world.stateDir,
    cwd: base,
    env: { ...process.env, NODE_ENV: 'test' },
  });
  try {
    await proc.waitForLine((line) => logMessage(line) === 'gomodgate ready', opts.readyTimeoutMs ?? 30_000);
  } catch (err) {
    await proc.stop(3000);
    throw err;
  }
  return {
    process: proc,
    dataDir,
    caDir,
    caFile,
    dbFile: join(dataDir, 'gomodgate.db'),
    tlsPort: ports.tls,
    httpPort: ports.http,
    proxyPort: ports.proxy,
    logs: (n = 40) => proc.output(n),
    stop: () => proc.stop(15_000),
  };
}

function logMessage(line: string): string | null {
  if (!line.startsWith('{')) return null;
  try {
    const obj = JSON.parse(line) as { msg?: unknown };
    return typeof obj.msg === 'string' ? obj.msg : null;
  } catch {
    return null;
  }
}

function safeRead(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}
