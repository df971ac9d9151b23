// HTML escaping for every page gomodgate renders (the onboarding page, the console): one implementation, so
// text from clients and upstreams (module paths, versions, reasons, header values) is never markup anywhere.
// Pure.

/** Text as HTML: & < > " ' as numeric references, safe in element content and in quoted attributes. */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
