// "Did you mean …?" for a mistyped option, flag, command or config key: the known names nearest to what was
// typed (edit distance with transpositions, case and separators ignored), when near enough to be a typo.
// Pure: no I/O.

/** Edit distance (optimal string alignment): insertions, deletions, substitutions, adjacent swaps; each costs 1. */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 0; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]!;
}

/** "cache.maxBytes", "cache-max-bytes", "CacheMaxBytes" → "cachemaxbytes": spelling differences that are not typos. */
function fold(name: string): string {
  return name.toLowerCase().replace(/[-_.]/g, '');
}

/** "cache.maxBytes" → cache, max, bytes; "proxy-port" → proxy, port. */
function words(name: string): string[] {
  return name.replace(/([a-z0-9])([A-Z])/g, '$1 $2').toLowerCase().split(/[-_. ]+/).filter((w) => w !== '');
}

/**
 * The known names `typed` was probably meant to be, best first (empty when none is near): the whole name within
 * a third of its length in edits (at least 1, at most 3); else every name with a word within one edit of it
 * (`prot` → tls-port, http-port, proxy-port, admin-port); else the names it is the start of.
 */
export function suggestNames(typed: string, known: readonly string[], max = 4): string[] {
  const t = fold(typed);
  if (t === '') return [];
  const limit = Math.min(3, Math.max(1, Math.floor(t.length / 3)));
  const whole = known
    .map((name) => ({ name, d: editDistance(t, fold(name)) }))
    .filter((c) => c.d <= limit)
    .sort((x, y) => x.d - y.d);
  if (whole.length > 0) return whole.filter((c) => c.d === whole[0]!.d).slice(0, max).map((c) => c.name);
  if (t.length < 3) return [];
  const byWord = known.filter((name) => words(name).some((w) => w.length >= 3 && editDistance(t, w) <= 1));
  if (byWord.length > 0) return byWord.slice(0, max);
  return known.filter((name) => fold(name).startsWith(t)).slice(0, max);
}

/** The nearest known name, or null. */
export function suggestName(typed: string, known: readonly string[]): string | null {
  return suggestNames(typed, known, 1)[0] ?? null;
}

/** `did you mean "a"?` / `did you mean --a, --b or --c?`; '' when there is nothing to suggest. */
export function didYouMean(names: readonly string[], show: (name: string) => string): string {
  if (names.length === 0) return '';
  const shownNames = names.map(show);
  const list = shownNames.length === 1 ? shownNames[0] : `${shownNames.slice(0, -1).join(', ')} or ${shownNames.at(-1)}`;
  return `did you mean ${list}?`;
}
