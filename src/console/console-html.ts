// The console's HTML building blocks: the page frame (navigation, the one style sheet and the one script, both
// files served by the console itself), tables, links to module@version and client pages, the pager and the
// traffic chart as server-rendered SVG. Every text that reaches a page goes through escapeHtml here (module
// paths, versions, client addresses and reasons are chosen by clients and upstreams); no inline script, no
// style attribute (the CSP forbids both). Pure: strings in, strings out.
import { escapeHtml } from '../html-escape.js';
import { formatTime, humanBytes } from '../tools/audit-format.js';
import type { TrafficBucket } from './console-queries.js';

export { escapeHtml };

/** HTML that is already safe (built here from escaped parts). */
export interface Html {
  readonly html: string;
}

export function raw(html: string): Html {
  return { html };
}

/** A cell or fragment: text is escaped, Html is kept. */
export type Fragment = string | number | null | undefined | Html;

export function h(f: Fragment): string {
  if (f === null || f === undefined) return '';
  if (typeof f === 'object') return f.html;
  return escapeHtml(String(f));
}

/** `href` from a path and query parameters (values percent-encoded, then HTML-escaped). */
export function url(path: string, params: Record<string, string | number | null | undefined> = {}): string {
  const q = Object.entries(params)
    .filter(([, v]) => v !== null && v !== undefined && v !== '')
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`)
    .join('&');
  return q ? `${path}?${q}` : path;
}

export function link(href: string, text: Fragment, cls?: string): Html {
  return raw(`<a href="${escapeHtml(href)}"${cls ? ` class="${cls}"` : ''}>${h(text)}</a>`);
}

export function moduleLink(module: string | null, version: string | null): Html | string {
  if (!module) return '-';
  if (!version) return link(url('/search', { module }), module, 'path');
  return link(url('/module', { path: module, version }), `${module}@${version}`, 'path');
}

export function clientLink(client: string | null): Html | string {
  return client ? link(url('/client', { address: client }), client) : '-';
}

export function time(ts: number | null | undefined): Html {
  if (ts === null || ts === undefined) return raw('-');
  return raw(`<time datetime="${new Date(ts).toISOString()}">${escapeHtml(formatTime(ts))}</time>`);
}

export function bytes(n: number | null | undefined): string {
  return humanBytes(n);
}

/** One table row of cells. */
export function tableRow(cells: readonly Fragment[]): string {
  return `<tr>${cells.map((c) => `<td>${h(c)}</td>`).join('')}</tr>`;
}

/** A table in a horizontally scrolling wrapper (narrow screens scroll the table, never the page). */
export function table(headers: readonly string[], rows: readonly (readonly Fragment[])[], opts: { id?: string; empty?: string } = {}): string {
  if (rows.length === 0 && opts.empty) return `<p class="empty">${h(opts.empty)}</p>`;
  const head = headers.map((t) => `<th scope="col">${h(t)}</th>`).join('');
  const body = rows.map((r) => tableRow(r)).join('\n');
  return `<div class="table-wrap"><table${opts.id ? ` id="${opts.id}"` : ''}><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table></div>`;
}

export function outcomeBadge(outcome: string): Html {
  return raw(`<span class="outcome outcome-${escapeHtml(outcome.replace(/[^a-z-]/g, ''))}">${escapeHtml(outcome)}</span>`);
}

/** Links to export what the page lists, as CSV and JSON (the same bytes as the CLI's --csv and --json). */
export function exportLinks(path: string, params: Record<string, string | number | null | undefined>): string {
  return `<p class="export">Export: ${link(url(`${path}.csv`, params), 'CSV').html} · ${link(url(`${path}.json`, params), 'JSON').html}</p>`;
}

export interface Frame {
  title: string;
  user: string | null;
  /** Sign-out needs the session's CSRF token; null hides the button (SSO sessions end at the proxy). */
  signOutCsrf: string | null;
  active?: string;
}

const NAV = [
  ['/', 'Overview'],
  ['/search', 'Search'],
  ['/events', 'Events'],
  ['/advisories', 'Advisories'],
] as const;

export function page(frame: Frame, body: string): string {
  const nav = frame.user
    ? `<nav>${NAV.map(([href, label]) => `<a href="${href}"${frame.active === href ? ' aria-current="page"' : ''}>${label}</a>`).join('')}</nav>
       <div class="who"><span class="user">${h(frame.user)}</span>${
         frame.signOutCsrf
           ? `<form method="post" action="/sign-out"><input type="hidden" name="csrf" value="${escapeHtml(frame.signOutCsrf)}"><button type="submit">Sign out</button></form>`
           : ''
       }</div>`
    : '';
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${h(frame.title)} · gomodgate console</title>
<link rel="stylesheet" href="/assets/console.css"><link rel="icon" href="data:,">
<script src="/assets/console.js" defer></script></head>
<body><header><a class="brand" href="/">gomodgate</a>${nav}</header>
<main><h1>${h(frame.title)}</h1>
${body}
</main></body></html>
`;
}

/** "Older →" link of a keyset-paginated list, when the page was full. */
export function olderLink(path: string, params: Record<string, string | number | null | undefined>, last: { ts: number; id: number } | undefined, full: boolean): string {
  if (!full || !last) return '';
  return `<p class="pager">${link(url(path, { ...params, before: `${last.ts}.${last.id}` }), 'Older →').html}</p>`;
}

/** Previous/next links of an offset-paginated list. */
export function pager(path: string, params: Record<string, string | number | null | undefined>, pageNo: number, full: boolean): string {
  const parts: string[] = [];
  if (pageNo > 1) parts.push(link(url(path, { ...params, page: pageNo - 1 }), '← Previous').html);
  if (full) parts.push(link(url(path, { ...params, page: pageNo + 1 }), 'Next →').html);
  return parts.length ? `<p class="pager">${parts.join(' · ')}</p>` : '';
}

/**
 * The traffic chart: per bucket a bar of requests (served from cache, fetched upstream, other), and the bytes
 * served from the cache as a line on its own scale. SVG drawn here; no script needed.
 */
export function trafficChart(buckets: readonly TrafficBucket[], labelEvery: number, label: (start: number) => string): string {
  const W = 720;
  const H = 240;
  const left = 44;
  const right = 56;
  const top = 12;
  const bottom = 28;
  const plotW = W - left - right;
  const plotH = H - top - bottom;
  const maxReq = Math.max(1, ...buckets.map((b) => b.requests));
  const maxSaved = Math.max(1, ...buckets.map((b) => b.savedBytes));
  const bw = plotW / Math.max(1, buckets.length);
  const y = (v: number, max: number) => top + plotH - (v / max) * plotH;
  const parts: string[] = [];
  buckets.forEach((b, i) => {
    const x = left + i * bw + bw * 0.12;
    const w = bw * 0.76;
    const other = b.requests - b.hits - b.misses;
    let base = top + plotH;
    for (const [v, cls] of [[b.hits, 'hit'], [b.misses, 'miss'], [other, 'other']] as const) {
      if (v <= 0) continue;
      const hgt = (v / maxReq) * plotH;
      base -= hgt;
      parts.push(`<rect class="bar-${cls}" x="${x.toFixed(1)}" y="${base.toFixed(1)}" width="${w.toFixed(1)}" height="${hgt.toFixed(1)}"><title>${escapeHtml(`${label(b.start)}: ${b.requests} requests, ${b.hits} from cache, ${b.misses} upstream, ${humanBytes(b.savedBytes)} saved`)}</title></rect>`);
    }
    if (i % labelEvery === 0) parts.push(`<text class="axis" x="${(x + w / 2).toFixed(1)}" y="${H - 8}" text-anchor="middle">${escapeHtml(label(b.start))}</text>`);
  });
  const line = buckets.map((b, i) => `${(left + i * bw + bw / 2).toFixed(1)},${y(b.savedBytes, maxSaved).toFixed(1)}`).join(' ');
  return `<figure class="chart"><svg viewBox="0 0 ${W} ${H}" role="img" aria-labelledby="chart-title">
<title id="chart-title">Requests per interval (from cache, upstream, other) and bytes saved</title>
<line class="grid" x1="${left}" x2="${W - right}" y1="${top}" y2="${top}"/><line class="grid" x1="${left}" x2="${W - right}" y1="${top + plotH}" y2="${top + plotH}"/>
<text class="axis" x="${left - 6}" y="${top + 4}" text-anchor="end">${maxReq}</text><text class="axis" x="${left - 6}" y="${top + plotH}" text-anchor="end">0</text>
<text class="axis saved" x="${W - right + 6}" y="${top + 4}">${escapeHtml(humanBytes(maxSaved))}</text>
${parts.join('\n')}
<polyline class="saved-line" points="${line}"/>
</svg><figcaption><span class="key key-hit"></span>from cache <span class="key key-miss"></span>fetched upstream <span class="key key-other"></span>other <span class="key key-saved"></span>bytes saved (right scale)</figcaption></figure>`;
}
