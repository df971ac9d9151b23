// Redaction of secrets before anything is printed, logged or stored: URLs lose their userinfo (user:pass@)
// and their query string (signed URLs carry tokens there). The one implementation, used by logs, the audit,
// `config show`, errors and doctor.

/** "https://user:pw@host/p?X-Amz-Signature=…" → "https://***@host/p?…"; text that is not a URL is returned as is. */
export function redactUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return raw;
  }
  const hadQuery = url.search !== '';
  const hadUser = url.username !== '' || url.password !== '';
  url.search = '';
  url.hash = '';
  url.username = '';
  url.password = '';
  let out = url.toString();
  if (hadUser) out = out.replace('://', '://***@');
  if (hadQuery) out += '?…';
  return out;
}
