// End to end: go commands other than `go mod download`, as developers type them, through the transparent
// REDIRECT with stock Go settings (the world of core-gateway: the Go team's test module proxy as
// proxy.golang.org, the real go 1.19 client, a fresh GOPATH per command). Version queries (@latest, a commit
// hash, a branch the upstream does not know), pseudo-versions, +incompatible, upper-case paths (the `!`
// encoding), retractions, a module that does not exist, `go list -m -u all`, `go mod tidy` and `go mod verify`.
// Every case asserts the go command's exit status and what it printed. Found working by the go-client sweep;
// kept so they stay so.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createGoWorld, type Gateway, type GoWorld } from '../helpers/go-world.js';
import { goClientEnv } from '../helpers/go-client.js';
import { runInNamespace, tail, type CommandResult } from '../helpers/netns.js';

const PROBE_MOD = 'module example.com/probe\n\ngo 1.19\n';
const HELLO_MAIN = 'package main\n\nimport "rsc.io/quote"\n\nfunc main() { println(quote.Hello()) }\n';

describe('go commands through the gateway', { timeout: 10 * 60_000 }, () => {
  let world: GoWorld;
  let gateway: Gateway;

  before(async () => {
    world = await createGoWorld({ prefix: 'gmgcmd', subnet: 235 });
    gateway = await world.startGateway({ freshData: true });
  });
  after(async () => {
    await world?.close();
  });

  /** Runs a go command in the client namespace in a fresh module directory (its go.mod and files given). */
  async function go(argv: string[], goMod = PROBE_MOD, files: Record<string, string> = {}, runDir?: string, env: Record<string, string> = {}): Promise<{ res: CommandResult; runDir: string; text: string }> {
    if (runDir === undefined) {
      const base = join(world.dir, 'go-commands');
      mkdirSync(base, { recursive: true });
      runDir = mkdtempSync(join(base, 'r-'));
      mkdirSync(join(runDir, 'm'));
      writeFileSync(join(runDir, 'm', 'go.mod'), goMod);
      for (const [f, c] of Object.entries(files)) writeFileSync(join(runDir, 'm', f), c);
    }
    const res = await runInNamespace(world.namespaces.client, argv, { cwd: join(runDir, 'm'), env: goClientEnv(runDir, gateway.caFile, env), timeoutMs: 120_000 });
    const text = `$ ${argv.join(' ')} → exit ${res.code}\n--- stdout ---\n${tail(res.stdout, 30)}\n--- stderr ---\n${tail(res.stderr, 30)}`;
    return { res, runDir, text };
  }
  const ok = (c: { res: CommandResult; text: string }) => assert.equal(c.res.code, 0, `${c.text}\n${world.diagnostics(30)}`);

  test('go list -m -versions, and @latest', async () => {
    const versions = await go(['go', 'list', '-m', '-versions', 'rsc.io/quote']);
    ok(versions);
    assert.match(versions.res.stdout, /^rsc\.io\/quote( v\S+)* v1\.5\.2\b/m, versions.text);
    const latest = await go(['go', 'list', '-m', '-json', 'rsc.io/quote@latest']);
    ok(latest);
    assert.match(latest.res.stdout, /"Version": "v1\.5\.2"/, latest.text);
  });

  test('go get by commit hash resolves the pseudo-version, twice (the second from the cache)', async () => {
    for (let i = 0; i < 2; i++) {
      const c = await go(['go', 'get', 'rsc.io/quote@e7a685a342c0']);
      ok(c);
      assert.match(c.res.stderr, /v0\.0\.0-20180214005133-e7a685a342c0/, c.text);
    }
  });

  test('go get of a branch the upstream does not know fails with the query named', async () => {
    const c = await go(['go', 'get', 'rsc.io/quote@nosuchbranch']);
    assert.notEqual(c.res.code, 0, c.text);
    assert.match(c.res.stderr, /rsc\.io\/quote@nosuchbranch/, c.text);
  });

  test('go mod download of a pseudo-version, a +incompatible version and upper-case paths', async () => {
    const c = await go(['go', 'mod', 'download', '-json', 'rsc.io/quote@v0.0.0-20180214005133-e7a685a342c0', 'rsc.io/breaker@v2.0.0+incompatible', 'rsc.io/QUOTE@v1.5.3-PRE', 'rsc.io/CGO@v1.0.0']);
    ok(c);
    const downloaded = [...c.res.stdout.matchAll(/"Path": "([^"]+)",\s*"Version": "([^"]+)"/g)].map((m) => `${m[1]}@${m[2]}`);
    assert.deepEqual(downloaded.sort(), ['rsc.io/CGO@v1.0.0', 'rsc.io/QUOTE@v1.5.3-PRE', 'rsc.io/breaker@v2.0.0+incompatible', 'rsc.io/quote@v0.0.0-20180214005133-e7a685a342c0'], c.text);
    assert.doesNotMatch(c.res.stdout, /"Error"/, c.text);
    const upper = await go(['go', 'list', '-m', '-versions', 'rsc.io/QUOTE']);
    ok(upper);
    assert.match(upper.res.stdout, /v1\.5\.3-PRE/, upper.text);
  });

  test('retractions: go get warns of a retracted version, -retracted lists it, @latest skips it', async () => {
    const bad = await go(['go', 'get', 'example.com/retract@v1.0.0-bad']);
    ok(bad);
    assert.match(bad.res.stderr, /retracted/, bad.text);
    const listed = await go(['go', 'list', '-m', '-retracted', '-json', 'example.com/retract@v1.0.0-bad']);
    ok(listed);
    assert.match(listed.res.stdout, /"Retracted"/, listed.text);
    const latest = await go(['go', 'list', '-m', '-json', 'example.com/retract@latest']);
    ok(latest);
    assert.doesNotMatch(latest.res.stdout, /"Version": "v1\.0\.0-bad"/, latest.text);
  });

  test('a module that does not exist: the go command shows the 404 and its reason', async () => {
    // without `,direct`: the default would go on to the module's own host, which this world has no name for
    const c = await go(['go', 'mod', 'download', 'example.com/doesnotexist@v1.0.0'], PROBE_MOD, {}, undefined, { GOPROXY: 'https://proxy.golang.org' });
    assert.notEqual(c.res.code, 0, c.text);
    assert.match(c.res.stderr, /example\.com\/doesnotexist@v1\.0\.0: .*404 Not Found/, c.text);
  });

  test('go list -m -u all sees the newer version; go mod tidy then go mod verify', async () => {
    const old = await go(['go', 'mod', 'download', 'all'], 'module example.com/hello\n\ngo 1.19\n\nrequire rsc.io/quote v1.5.1\n', { 'main.go': HELLO_MAIN });
    ok(old);
    const upgrades = await go(['go', 'list', '-m', '-u', 'all'], undefined, {}, old.runDir);
    ok(upgrades);
    assert.match(upgrades.res.stdout, /rsc\.io\/quote v1\.5\.1 \[v1\.5\.2\]/, upgrades.text);
    const tidy = await go(['go', 'mod', 'tidy'], 'module example.com/hello\n\ngo 1.19\n', { 'main.go': HELLO_MAIN });
    ok(tidy);
    const verify = await go(['go', 'mod', 'verify'], undefined, {}, tidy.runDir);
    ok(verify);
    assert.match(verify.res.stdout, /all modules verified/, verify.text);
  });
});
