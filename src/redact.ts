// The one place that makes URLs safe to print or store: userinfo (user:password@) and query values
// (signed URLs: X-Amz-Signature=...) are masked, everything else is kept so the line still says where a
// request went. Used by the logger, the audit, the cache index, `config show`, config errors and doctor. And
// an upstream's answer that echoes the credentials the gateway sent it (maskCredentialsOf) is masked before a
// client or the cache sees it.
// Pure string work: never throws, never parses with `new URL` (which would reformat what it prints).
// A request target keeps only its path (pathOnly), with the values of its path parameters masked
// (";jsessionid=redacted": servlet containers put session ids there), and a CONNECT target its host and port
// (redactAuthority).
// In URLs and free text, only userinfo (an "@" between "://" and the next "/", "?" or "#") and a query (which
// needs a "?") are ever masked, so a string with neither is returned as it is without running the URL pattern:
// the common case of every log line (a Go path's "/@v/" comes after the host's "/").

export const MASK = 'redacted';

const URL_SHAPE = /^([a-z][a-z0-9+.-]*:\/\/)([^/?#]*@)?([^?#]*)(\?[^#]*)?(#.*)?$/i;
// a URL runs to whitespace, a quote or a backslash (so it stops inside JSON-escaped text); "," and "|" end
// it only where the next URL of a GOPROXY list starts
const URL_IN_TEXT = /[a-z][a-z0-9+.-]*:\/\/(?:[^\s"'<>`\\,|]|[,|](?![a-z][a-z0-9+.-]*:\/\/))+/gi;

/**
 * False when nothing in `s` could be masked: no "?" (a query) and no "@" after any "://" before the next
 * "/", "?" or "#" (userinfo). A URL found in `s` is a part of it, so its userinfo would be seen here.
 */
function mayHoldSecret(s: string): boolean {
  if (s.includes('?')) return true;
  for (let at = s.indexOf('://'); at >= 0; at = s.indexOf('://', at + 3)) {
    for (let i = at + 3; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c === 0x40) return true; // @
      if (c === 0x2f || c === 0x23) break; // / #
    }
  }
  return false;
}

/** One `name=value` item of a query or of a path segment's parameters with its value masked; one without "=" is all value. */
function maskItem(item: string): string {
  if (item === '') return item;
  const eq = item.indexOf('=');
  return eq < 0 ? MASK : `${item.slice(0, eq)}=${MASK}`;
}

function maskQuery(query: string): string {
  return `?${query.slice(1).split('&').map(maskItem).join('&')}`;
}

/** A path parameter: from a ";" to the next ";" or "/" (RFC 3986 3.3). */
const PATH_PARAMETER = /;([^;/]*)/g;

/** `http://u:p@host/x?sig=1` → `http://redacted@host/x?sig=redacted`; a string that is not a URL is returned as is. */
export function redactUrl(url: string): string {
  if (!mayHoldSecret(url)) return url;
  const m = URL_SHAPE.exec(url);
  if (!m) return url;
  const [, scheme, userinfo, rest, query, fragment] = m;
  return `${scheme}${userinfo ? `${MASK}@` : ''}${rest}${query ? maskQuery(query) : ''}${fragment ?? ''}`;
}

/** Every URL inside free text (messages, GOPROXY lists "a,b|c", "NAME+KEY URL", JSON lines) passed through redactUrl. */
export function redactUrlsInText(text: string): string {
  if (!text.includes('://') || !mayHoldSecret(text)) return text;
  return text.replace(URL_IN_TEXT, (url) => {
    // closing punctuation right after a URL belongs to the text, not the URL
    const tail = /[,|;)\].]+$/.exec(url)?.[0] ?? '';
    return redactUrl(url.slice(0, url.length - tail.length)) + tail;
  });
}

/** A copy of a JSON-like value with redactUrlsInText applied to every string in it (depth-bounded). */
export function redactUrlsDeep<T>(value: T, depth = 6): T {
  if (typeof value === 'string') return redactUrlsInText(value) as T;
  if (depth <= 0 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => redactUrlsDeep(v, depth - 1)) as T;
  if (Object.getPrototypeOf(value) !== Object.prototype) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = redactUrlsDeep(v, depth - 1);
  return out as T;
}

/**
 * `text` with every echo of `url`'s own credentials masked: the password as given and percent-decoded, and the
 * Basic authorization token made of them (what the gateway sends an upstream configured with user:password@).
 * An upstream that echoes request headers into an error page must not hand them to every client.
 */
export function maskCredentialsOf(url: URL, text: string): string {
  if (!url.username && !url.password) return text;
  const user = decodeURIComponent(url.username);
  const password = decodeURIComponent(url.password);
  const secrets = [Buffer.from(`${user}:${password}`).toString('base64'), password, url.password].filter((s) => s.length >= 4);
  let out = text;
  for (const secret of secrets) out = out.split(secret).join(MASK);
  return out;
}

/**
 * A request target's path as asked, without its query or fragment (either may carry a token). It still holds
 * any path parameters: parse it, never print it (pathOnly).
 */
export function pathAsAsked(target: string): string {
  const end = target.search(/[?#]/);
  return end < 0 ? target : target.slice(0, end);
}

/**
 * A request target's path without its query or fragment, and each path parameter's value masked
 * (`/m;jsessionid=S/@v/list` → `/m;jsessionid=redacted/@v/list`, `/m;S` → `/m;redacted`): what logs, the audit
 * and the reasons sent to clients show.
 */
export function pathOnly(target: string): string {
  const path = pathAsAsked(target);
  return path.includes(';') ? path.replace(PATH_PARAMETER, (_, item: string) => `;${maskItem(item)}`) : path;
}

/** A CONNECT target (`host:port`, authority form) with any userinfo (`user:password@`) masked; a URL as redactUrl. */
export function redactAuthority(target: string): string {
  if (target.includes('://')) return redactUrl(target);
  const at = target.lastIndexOf('@');
  return at < 0 ? target : `${MASK}@${target.slice(at + 1)}`;
}
