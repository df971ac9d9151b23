// The non-ASCII letters of Go 1.19's unicode.IsLetter (Unicode 13.0.0), which golang.org/x/mod/module's
// CheckFilePath allows in module file names. JavaScript's \p{L} follows a newer Unicode and would allow letters
// Go 1.19 refuses, so names are checked against this table instead. Generated from Go 1.19 (unicode.IsLetter
// over U+0080..U+10FFFF) as ranges: each "a.b" is (start − previous end, end − start) in base 36. Data only.

const ENCODED = [
  '17.0 b.0 5.0 6.m 2.u 2.cp 5.b f.4 8.0 2.0 3m.4 2.1 3.3 2.0 7.0 2.2 2.0 2.j 2.2a 2.3u 9.4l 2.11 3.0 7.14 20.q ',
  '5.3 1a.16 10.1 2.2q 2.0 g.1 8.1 b.2 3.0 h.0 2.t u.2g c.0 p.w a.1 5.0 6.l 5.0 a.0 4.0 o.o 8.a 1i.k 2.h 1p.1h ',
  '4.0 j.0 8.9 g.f 5.7 3.1 3.l 2.6 2.0 4.3 4.0 h.0 e.1 2.2 f.1 b.0 9.5 5.1 3.l 2.6 2.1 2.1 2.1 w.3 2.0 k.2 h.8 ',
  '2.2 2.l 2.6 2.1 2.4 4.0 j.0 g.1 o.0 c.7 3.1 3.l 2.6 2.1 2.4 4.0 v.1 2.2 g.0 i.0 2.5 4.2 2.3 4.1 2.0 2.1 4.1 ',
  '4.2 4.b n.0 1h.7 2.2 2.m 2.f 4.0 r.2 6.1 v.0 5.7 2.2 2.m 2.9 2.4 4.0 x.0 2.1 g.1 i.8 2.2 2.14 3.0 h.0 6.2 9.2 ',
  'p.5 6.h 4.n 2.8 2.0 3.6 1n.1b 2.1 d.6 1n.1 2.0 2.4 2.n 2.0 2.9 2.1 a.0 3.4 2.0 m.3 x.0 1s.7 2.z s.4 38.16 l.0 ',
  'h.5 5.3 4.0 4.1 8.2 5.c d.0 i.11 2.0 6.0 3.16 2.98 2.3 3.6 2.0 2.3 3.14 2.3 3.w 2.3 3.6 2.0 2.3 3.e 2.1k 2.3 ',
  '3.1u 12.f h.2d 3.5 4.h7 3.g 2.p 6.22 7.7 8.c 2.3 f.h f.h f.c 2.2 g.1f 10.0 5.0 1w.2g 8.4 3.x 2.0 6.1x b.u 1e.t ',
  '3.4 c.17 5.p 1j.m a.1g 2b.0 2m.1a i.6 1k.t e.1 b.17 r.z 16.2 b.z 3.8 8.16 3.2 16.3 2.5 2.1 4.0 6.5b 1t.7p 3.5 ',
  '3.11 3.5 3.7 2.0 2.0 2.0 2.u 3.1g 2.6 2.0 4.2 2.6 4.3 3.5 5.c 6.2 2.6 39.0 e.0 h.c 2u.0 5.0 3.9 2.0 4.4 7.0 ',
  '2.0 2.0 2.3 2.a 3.3 6.4 5.0 1h.1 22k.1a 2.1a 2.3o 7.3 4.1 d.11 2.0 6.0 3.1j 8.0 h.m a.6 2.6 2.6 2.6 2.6 2.6 ',
  '2.6 2.6 29.0 d2.1 17.4 6.1 5.2d 7.2 2.2h 2.3 6.16 2.2l i.v 1d.f e9.533 1t.g70 4.wc 1w.19 3.7g 4.f b.1 l.1a h.u ',
  '3.1x 1e.8 3.2u 3.1g 3.8 17.c 2.2 2.3 2.m u.1f f.1d 1r.5 4.0 2.1 c.r b.m q.s 8.1a t.0 h.4 2.9 b.4 2.14 o.2 2.7 ',
  'l.m 4.0 4.1d 2.0 4.1 3.4 3.0 2.0 p.2 3.a 8.2 d.5 3.5 3.5 a.6 2.6 2.16 2.d 7.36 u.8mb d.m 5.1c 6it.a5 3.2x 13.6 ',
  'd.4 6.0 2.9 2.c 2.4 2.0 2.1 2.1 2.2z y.a2 j.1r 3.1h 15.b 39.4 2.3q 11.p 7.p c.2g 4.5 3.5 3.5 3.2 10.b 2.p 2.i ',
  '2.1 2.e 3.d z.3e au.s 4.1c 1c.v e.j 2.7 7.11 b.t 3.z 5.7 1d.4d j.z 5.z 5.13 9.1f 4d.8m a.l b.7 49.5 3.0 2.17 ',
  '2.1 4.0 3.m b.m a.u 1u.i 2.1 b.l b.p 1z.1j 7.1 1t.0 g.3 2.2 2.s 17.s 4.s 10.7 2.r s.1h b.l b.i e.h 33.20 1k.1e ',
  'e.1e e.z 9p.15 7.1 27.s b.0 9.l 2z.k s.m d.1g 24.18 x.o r.z u.0 3.0 9.y 4.0 d.1b f.3 m.0 2.0 10.h 2.o 2d.6 2.0 ',
  '2.3 2.e 2.9 8.1a 13.7 3.1 3.l 2.6 2.1 2.4 4.0 j.0 d.4 4f.1g j.3 l.2 v.1b l.1 2.0 55.1a 16.3 11.1b l.0 1o.16 ',
  'e.0 20.q 6e.17 39.1r w.7 3.0 3.7 2.1 2.n g.0 2.0 2n.7 3.12 h.0 2.0 t.0 b.13 8.0 m.0 c.19 k.0 z.1k 7c.8 2.10 ',
  'i.0 1e.t 35.6 2.1 2.11 m.0 q.5 2.1 2.v f.0 94.i 5a.0 28.pl 6f.5f 24d.tq 34i.g6 6nu.fs 8.u 36.t j.1b h.3 w.k ',
  '6.i j5.1r 3l.22 6.0 1v.c 1t.1 2.0 t.4qf 9.yd 17.8 6wo.7y 1e.2 i.3 9.az 1s5.2y 6.c 4.8 8.9 4mf.2c 2.1y 2.1 3.0 ',
  '3.1 3.3 2.b 2.0 2.6 2.1s 2.3 3.7 2.6 2.r 2.3 2.4 2.0 4.6 2.9f 3.o 2.o 2.u 2.o 2.u 2.o 2.u 2.o 2.u 2.o 2.7 ',
  '1th.18 b.6 h.0 aa.17 105.5g 1o.1v 8.0 xh.3 2.q 2.1 2.0 3.0 2.9 2.3 2.0 2.0 7.0 5.0 2.0 2.0 2.2 2.1 2.0 3.0 2.0 ',
  '2.0 2.0 2.0 2.1 2.0 3.3 2.6 2.3 2.3 2.0 2.9 2.g 6.2 2.4 2.g 3et.wyl z.378 c.65 3.4g1 f.5rk 2e8.f1 15v.3t6 ',
].join('');

/** Sorted, disjoint [start, end] pairs, flattened. */
const RANGES: number[] = (() => {
  const out: number[] = [];
  let prev = 0x7f;
  for (const part of ENCODED.trim().split(' ')) {
    const [gap, len] = part.split('.').map((x) => parseInt(x, 36));
    out.push(prev + gap, prev + gap + len);
    prev += gap + len;
  }
  return out;
})();

/** Whether the code point (≥ 0x80) is a letter to Go 1.19. */
export function isGoLetter(codePoint: number): boolean {
  let lo = 0;
  let hi = RANGES.length / 2 - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (codePoint < RANGES[2 * mid]) hi = mid - 1;
    else if (codePoint > RANGES[2 * mid + 1]) lo = mid + 1;
    else return true;
  }
  return false;
}
