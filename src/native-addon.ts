// Loads one of our native addons (native/*.c, built by `npm run build:native` into native/build/Release):
// finds the package root above this module (src/ or dist/src/), requires the addon once, and checks that it
// has the function its caller needs. Owns: the path and the error that names the fix. Must never: call the
// addon (original-destination.ts and malloc-arenas.ts do).
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, parse as parsePath } from 'node:path';
import { fileURLToPath } from 'node:url';

const loaded = new Map<string, unknown>();

/** Walks up from this module's directory to the package root; the addon's path there, or null. */
function findAddonPath(relative: string): string | null {
  let dir = dirname(fileURLToPath(import.meta.url));
  const { root } = parsePath(dir);
  for (;;) {
    const candidate = join(dir, relative);
    if (existsSync(candidate) && existsSync(join(dir, 'package.json'))) return candidate;
    if (dir === root) return null;
    dir = dirname(dir);
  }
}

/** The addon native/build/Release/`name`.node, which must export the function `fn`; throws naming the fix. */
export function loadNativeAddon<T>(name: string, fn: keyof T & string): T {
  const cached = loaded.get(name);
  if (cached !== undefined) return cached as T;
  const relative = join('native', 'build', 'Release', `${name}.node`);
  const path = findAddonPath(relative);
  if (path === null) {
    throw new Error(`native addon ${relative} not found above ${fileURLToPath(import.meta.url)}: run "npm run build:native"`);
  }
  const addon = createRequire(import.meta.url)(path) as Record<string, unknown>;
  if (typeof addon[fn] !== 'function') throw new Error(`native addon ${path} has no ${fn} function`);
  loaded.set(name, addon);
  return addon as T;
}
