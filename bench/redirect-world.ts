// The `redirect` scenario's world: test/helpers/go-world.ts's three network namespaces (prefix gmgrb: client →
// gateway → upstream, iptables REDIRECT of the client's 443/80 to ports 8443/8080 in the gateway namespace, the
// Go test proxy behind nginx as proxy.golang.org and sum.golang.org in the upstream namespace) plus the bench's
// delaying relay in the upstream namespace: a REDIRECT there sends every connection arriving for nginx's 443
// through the relay first, so the gateway, Squid and a direct client alike pay the emulated round trip, TLS
// handshakes included. The gateway namespace's REDIRECT can be switched off for the direct runs. Leftovers of an
// earlier run with the prefix are removed first; close() stops everything by PID and deletes the namespaces.
import type { BenchContext } from './context.js';
import { createGoWorld, type GoWorld } from '../test/helpers/go-world.js';
import { netfilter, spawnInNamespace, type NamespaceProcess } from '../test/helpers/netns.js';
import { delayRelayArgv, EMULATED_RTT_MS } from './delay-relay-process.js';

export const REDIRECT_PREFIX = 'gmgrb';
const SUBNET = 231; // 10.231.0.0/16 and fd00:231::/32; other worlds use 213, 214, 219, 221, 226

/** The ports go-world.ts's REDIRECT sends the client's 443 and 80 to: the interceptor listens on them. */
export const INTERCEPT_PORTS = { tls: 8443, http: 8080 } as const;

export interface RedirectWorld {
  world: GoWorld;
  relay: NamespaceProcess;
  /** The REDIRECT in the gateway namespace on (an interceptor answers) or off (the client goes direct). */
  intercept(on: boolean): Promise<void>;
}

function redirectRules(world: GoWorld): string[][] {
  return ([['443', String(INTERCEPT_PORTS.tls)], ['80', String(INTERCEPT_PORTS.http)]] as const).map(([dport, to]) => [
    'PREROUTING', '-i', world.interfaces.gatewayClientSide, '-p', 'tcp', '--dport', dport, '-j', 'REDIRECT', '--to-ports', to,
  ]);
}

export async function startRedirectWorld(ctx: BenchContext): Promise<RedirectWorld> {
  ctx.progress(`redirect: network namespaces ${REDIRECT_PREFIX}-*, nginx and the Go test proxy`);
  const world = await createGoWorld({ prefix: REDIRECT_PREFIX, subnet: SUBNET });
  ctx.cleanup.add('redirect world (namespaces, nginx, test proxy)', () => world.close());
  const up = world.addresses.upstream.v4;
  const relay = spawnInNamespace(world.namespaces.upstream, delayRelayArgv(up, 443, EMULATED_RTT_MS, up), { name: 'delay-relay', stateDir: world.stateDir });
  ctx.cleanup.add('redirect delay relay', () => relay.stop(5000));
  const line = await relay.waitForLine((l) => l.startsWith('{"port":'), 15_000);
  const relayPort = (JSON.parse(line) as { port: number }).port;
  // Connections from outside the upstream namespace to nginx's 443 go to the relay; the relay's own connection
  // to nginx starts inside the namespace (OUTPUT, not PREROUTING), so it is not redirected again.
  await netfilter(world.namespaces.upstream, 4, [
    '-t', 'nat', '-A', 'PREROUTING', '-i', world.interfaces.upstreamSide, '-p', 'tcp', '--dport', '443', '-j', 'REDIRECT', '--to-ports', String(relayPort),
  ]);
  let on = true; // go-world.ts starts with the REDIRECT in place
  return {
    world,
    relay,
    async intercept(want) {
      if (want === on) return;
      for (const family of [4, 6] as const) {
        for (const rule of redirectRules(world)) await netfilter(world.namespaces.gateway, family, ['-t', 'nat', want ? '-A' : '-D', ...rule]);
      }
      on = want;
    },
  };
}
