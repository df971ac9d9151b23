// The example config systemd/gomodgate.yaml (installed as /etc/gomodgate/gomodgate.yaml by scripts/install.sh)
// must never drift from the option schema: it names every option exactly once, each with a comment, loads with
// loadConfig, gives every option its schema default except the two paths that point into the service's state
// directory, and marks exactly the options a reload does not apply with "[restart]".
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { loadConfig, type GatewayConfig } from '../../src/config/load.js';
import { OPTIONS } from '../../src/config/schema.js';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const EXAMPLE = resolve(REPO_ROOT, 'systemd/gomodgate.yaml');
const UNIT = resolve(REPO_ROOT, 'systemd/gomodgate.service');

/** The options the example deliberately sets away from the schema default, and to what. */
const SERVICE_PATHS: Record<string, string> = {
  dataDir: '/var/lib/gomodgate/data',
  caDir: '/var/lib/gomodgate/certs',
};

function flatKeys(doc: Record<string, unknown>, prefix = ''): string[] {
  const keys: string[] = [];
  for (const [k, v] of Object.entries(doc)) {
    if (v && typeof v === 'object' && !Array.isArray(v)) keys.push(...flatKeys(v as Record<string, unknown>, `${prefix}${k}.`));
    else keys.push(prefix + k);
  }
  return keys;
}

describe('example config systemd/gomodgate.yaml', () => {
  const text = readFileSync(EXAMPLE, 'utf8');

  it('names every schema option exactly once and nothing else', () => {
    const keys = flatKeys(parseYaml(text) as Record<string, unknown>);
    const schemaKeys = OPTIONS.map((o) => o.key);
    const missing = schemaKeys.filter((k) => !keys.includes(k));
    const unknown = keys.filter((k) => !schemaKeys.includes(k));
    assert.deepEqual(missing, [], `options of src/config/schema.ts missing from ${EXAMPLE}: add them with their defaults and a comment`);
    assert.deepEqual(unknown, [], `keys in ${EXAMPLE} that the schema does not know`);
    assert.equal(keys.length, schemaKeys.length);
  });

  it('loads with loadConfig and gives every option its default, except the state-directory paths', () => {
    const example = loadConfig({ file: EXAMPLE, env: {} }) as unknown as Record<string, unknown>;
    const defaults = loadConfig({ env: {} }) as unknown as Record<string, unknown>;
    assert.equal((example as unknown as GatewayConfig).configFile, EXAMPLE);
    for (const spec of OPTIONS) {
      const expected = SERVICE_PATHS[spec.key] ?? defaults[spec.key];
      assert.deepEqual(example[spec.key], expected, `${spec.key} in ${EXAMPLE}`);
    }
    // the paths that differ from the defaults are inside the unit's StateDirectory, the only writable place
    const unit = readFileSync(UNIT, 'utf8');
    assert.match(unit, /^StateDirectory=gomodgate$/m);
    for (const path of Object.values(SERVICE_PATHS)) assert.ok(path.startsWith('/var/lib/gomodgate/'), path);
  });

  it('explains every option with a comment right above it', () => {
    const lines = text.split('\n');
    for (const spec of OPTIONS) {
      const parts = spec.key.split('.');
      let from = 0;
      let index = -1;
      // find the parent mappings, then the key, each at its own indentation
      for (let depth = 0; depth < parts.length; depth++) {
        const re = new RegExp(`^${' '.repeat(2 * depth)}${parts[depth]}:`);
        index = lines.findIndex((l, i) => i >= from && re.test(l));
        assert.ok(index >= 0, `${spec.key}: no line "${parts[depth]}:" in ${EXAMPLE}`);
        from = index + 1;
      }
      let above = index - 1;
      while (above >= 0 && lines[above]!.trim() === '') above--;
      assert.match(lines[above] ?? '', /^\s*#/, `${spec.key} in ${EXAMPLE} has no comment above it`);
      // what a reload does with it is said where the admin edits it
      assert.equal(lines[above]!.endsWith(' [restart]'), spec.reload === 'restart', `${spec.key}: its comment must end with " [restart]" exactly when a reload does not apply it (schema reload: ${spec.reload})`);
    }
  });

  it('is the full example the README shows, verbatim', () => {
    const readme = readFileSync(resolve(REPO_ROOT, 'README.md'), 'utf8');
    assert.ok(readme.includes('```yaml\n' + text + '```'), 'README.md must embed systemd/gomodgate.yaml unchanged (update one, update both)');
  });
});
