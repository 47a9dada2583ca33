/**
 * JSON whose plain decimal numbers are read as their exact text: `{"amount":12345678901234567.89}` gives
 * `{amount: "12345678901234567.89"}`, where JSON.parse would round it through a float. For answers whose
 * amounts are documented as decimal strings but may come as numbers: fromMajor (core/money.ts) then reads
 * them exactly. Numbers in exponent form are left to JSON.parse. Throws as JSON.parse does on anything
 * that is not JSON.
 */

/** One JSON number token (RFC 8259 grammar); group 1 is its exponent. */
const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?([eE][+-]?\d+)?/y;

export function parseJsonExact(text: string): unknown {
  // Checked as JSON first, so the rewrite below never makes something that is not JSON acceptable.
  JSON.parse(text);
  let out = '';
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === '"') {
      // A string, escapes included, copied through unchanged.
      let j = i + 1;
      while (text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      out += text.slice(i, j + 1);
      i = j + 1;
      continue;
    }
    NUMBER.lastIndex = i;
    const m = c === '-' || (c >= '0' && c <= '9') ? NUMBER.exec(text) : null;
    if (m) {
      out += m[1] ? m[0] : `"${m[0]}"`;
      i += m[0].length;
    } else {
      out += c;
      i++;
    }
  }
  return JSON.parse(out);
}
