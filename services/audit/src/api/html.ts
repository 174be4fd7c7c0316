/** Text for HTML: every character that could end an element or an attribute is an entity. */
export const escapeHtml = (value: unknown) =>
  String(value).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/**
 * Headers of every HTML page the service renders: nothing but inline styles runs or loads (no
 * scripts, no external assets, no framing), the page is not cached and leaks no referrer to other sites.
 */
export const HTML_PAGE_HEADERS: Record<string, string> = {
  'Content-Security-Policy': "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Cache-Control': 'no-store',
  // same-origin, not no-referrer: with no-referrer a browser sends `Origin: null` on a form post, and
  // the login form's same-origin check needs the real one.
  'Referrer-Policy': 'same-origin',
};
