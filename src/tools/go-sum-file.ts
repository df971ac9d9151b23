// Reads the module versions a build needs from a go.sum or a go.mod (for `gomodgate cache warm`):
//   go.sum: "MODULE VERSION h1:…" (the zip) and "MODULE VERSION/go.mod h1:…" (the go.mod);
//   go.mod: require directives, single-line and block form ("// indirect" and other comments ignored).
// Pure: text in, a list out. Never fetches anything and never trusts a line it cannot parse: such lines are
// returned as problems with their line number.
import { checkModulePath, isCanonicalVersion } from '../goproxy/module-path.js';

export interface WantedModule {
  module: string;
  version: string;
  /** fetch $module/@v/$version.mod */
  mod: boolean;
  /** fetch $module/@v/$version.zip */
  zip: boolean;
}

export interface ModuleList {
  format: 'go.sum' | 'go.mod';
  modules: WantedModule[];
  /** "line 7: …" for every line that was not understood or names an invalid module or version. */
  problems: string[];
}

class Collector {
  private readonly byKey = new Map<string, WantedModule>();
  readonly problems: string[] = [];

  add(line: number, module: string, version: string, what: { mod: boolean; zip: boolean }): void {
    const pathProblem = checkModulePath(module);
    if (pathProblem !== null) {
      this.problems.push(`line ${line}: invalid module path "${module}": ${pathProblem}`);
      return;
    }
    if (!isCanonicalVersion(version)) {
      this.problems.push(`line ${line}: ${module}: "${version}" is not a canonical version such as v1.2.3`);
      return;
    }
    const key = `${module}@${version}`;
    const found = this.byKey.get(key);
    if (found) {
      found.mod ||= what.mod;
      found.zip ||= what.zip;
    } else this.byKey.set(key, { module, version, ...what });
  }

  list(): WantedModule[] {
    return [...this.byKey.values()];
  }
}

export function parseGoSum(text: string): ModuleList {
  const c = new Collector();
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === '') return;
    const fields = line.split(/\s+/);
    if (fields.length !== 3 || !/^h\d+:/.test(fields[2]!)) {
      c.problems.push(`line ${i + 1}: expected "MODULE VERSION h1:HASH" or "MODULE VERSION/go.mod h1:HASH"`);
      return;
    }
    const [module, v] = fields as [string, string, string];
    if (v.endsWith('/go.mod')) c.add(i + 1, module, v.slice(0, -'/go.mod'.length), { mod: true, zip: false });
    else c.add(i + 1, module, v, { mod: true, zip: true });
  });
  return { format: 'go.sum', modules: c.list(), problems: c.problems };
}

/** Splits one go.mod line into tokens: words and quoted strings ("…" with escapes, `…` raw); stops at //. */
function tokens(line: string): string[] | null {
  const out: string[] = [];
  let i = 0;
  while (i < line.length) {
    const ch = line[i]!;
    if (ch === ' ' || ch === '\t') {
      i++;
    } else if (line.startsWith('//', i)) {
      break;
    } else if (ch === '"') {
      const m = /^"((?:[^"\\]|\\.)*)"/.exec(line.slice(i));
      if (!m) return null;
      try {
        out.push(JSON.parse(m[0]) as string);
      } catch {
        return null;
      }
      i += m[0].length;
    } else if (ch === '`') {
      const end = line.indexOf('`', i + 1);
      if (end < 0) return null;
      out.push(line.slice(i + 1, end));
      i = end + 1;
    } else if (ch === '(' || ch === ')') {
      out.push(ch);
      i++;
    } else {
      const m = /^[^\s()"`]+/.exec(line.slice(i))!;
      // "//" inside a word starts a comment only at a word boundary in go.mod; a word never contains it legally
      const word = m[0].split('//')[0]!;
      out.push(word);
      i += word.length;
      if (word.length < m[0].length) break;
    }
  }
  return out;
}

export function parseGoMod(text: string): ModuleList {
  const c = new Collector();
  let block: string | null = null; // the verb of the open ( … ) block
  text.split(/\r?\n/).forEach((raw, i) => {
    const n = i + 1;
    const t = tokens(raw);
    if (t === null) {
      c.problems.push(`line ${n}: unterminated quoted string`);
      return;
    }
    if (t.length === 0) return;
    if (block !== null) {
      if (t[0] === ')' && t.length === 1) {
        block = null;
        return;
      }
      if (block === 'require') requireLine(n, t);
      return;
    }
    const [verb, ...args] = t as [string, ...string[]];
    if (args.length === 1 && args[0] === '(') {
      block = verb;
      return;
    }
    if (verb === 'require') requireLine(n, args);
  });
  function requireLine(n: number, args: string[]): void {
    if (args.length !== 2) {
      c.problems.push(`line ${n}: expected "require MODULE VERSION"`);
      return;
    }
    c.add(n, args[0]!, args[1]!, { mod: true, zip: true });
  }
  if (block !== null) c.problems.push(`the ${block} ( … ) block is not closed`);
  return { format: 'go.mod', modules: c.list(), problems: c.problems };
}

/** go.mod when the file is named *.mod or its text has a module/go/require directive; go.sum otherwise. */
export function parseModuleList(text: string, fileName: string): ModuleList {
  const base = fileName.split(/[\\/]/).pop() ?? fileName;
  if (base.endsWith('.sum')) return parseGoSum(text);
  if (base.endsWith('.mod')) return parseGoMod(text);
  return /^\s*(module|go|require)\s/m.test(text) ? parseGoMod(text) : parseGoSum(text);
}
