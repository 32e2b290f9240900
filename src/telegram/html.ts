/**
 * Telegram HTML: escaping every name that reaches a message, and splitting long text into messages of at most
 * 4096 characters (Telegram's limit) on line boundaries, so no tag or entity is ever cut in half.
 */

export const TELEGRAM_TEXT_LIMIT = 4096;
export const TELEGRAM_CAPTION_LIMIT = 1024;

/** Telegram's HTML mode needs exactly these three escaped (quotes are harmless outside attributes; escaped anyway). */
export function escapeHtml(text: string | number | undefined | null): string {
  return String(text ?? '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;');
}

/** Visible length is not what Telegram counts for the limit of a text with entities; it counts the text as sent. */
const fits = (text: string, limit: number): boolean => text.length <= limit;

/** A line longer than the limit is cut at a space (or anywhere) outside tags and entities, with tags closed and reopened. */
function cutLine(line: string, limit: number): string[] {
  const out: string[] = [];
  let rest = line;
  while (rest.length > limit) {
    let at = rest.lastIndexOf(' ', limit);
    if (at < limit / 2) at = limit;
    // Never inside a tag or an entity: back off to before an unclosed '<' or '&'.
    const head = rest.slice(0, at);
    const lt = head.lastIndexOf('<');
    if (lt > head.lastIndexOf('>')) at = lt;
    const amp = rest.slice(0, at).lastIndexOf('&');
    if (amp >= 0 && rest.slice(amp, at).indexOf(';') < 0) at = amp;
    if (at <= 0) at = Math.min(limit, rest.length);
    out.push(rest.slice(0, at));
    rest = rest.slice(at).replace(/^ /, '');
  }
  if (rest.length > 0) out.push(rest);
  return balanceTags(out);
}

/** Closes tags left open at the end of a part and reopens them at the start of the next one. */
function balanceTags(parts: string[]): string[] {
  let open: string[] = [];
  return parts.map((part) => {
    const text = open.map((t) => `<${t}>`).join('') + part;
    const stack: string[] = [];
    for (const m of text.matchAll(/<(\/?)([a-z-]+)(?:\s[^>]*)?>/gi)) {
      const name = (m[2] ?? '').toLowerCase();
      if (m[1] === '/') {
        const i = stack.lastIndexOf(name);
        if (i >= 0) stack.splice(i, 1);
      } else stack.push(name);
    }
    open = stack.filter((t) => t !== 'a'); // a link cut in two is closed and not reopened (its href is in the first part)
    return (
      text +
      [...stack]
        .reverse()
        .map((t) => `</${t}>`)
        .join('')
    );
  });
}

/**
 * Splits HTML text into parts of at most `limit` characters, on line boundaries; a part never ends inside a tag or
 * an entity. `more(n)` may add a closing line to every part but the last (e.g. "продолжение следует").
 */
export function splitMessage(html: string, limit = TELEGRAM_TEXT_LIMIT): string[] {
  if (fits(html, limit)) return [html];
  const lines = html.split('\n').flatMap((l) => (l.length > limit ? cutLine(l, limit) : [l]));
  const parts: string[] = [];
  let current = '';
  for (const line of lines) {
    const next = current === '' ? line : `${current}\n${line}`;
    if (fits(next, limit)) current = next;
    else {
      if (current !== '') parts.push(current);
      current = line;
    }
  }
  if (current !== '') parts.push(current);
  return parts;
}
