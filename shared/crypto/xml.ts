/**
 * The flat XML that WeChat Pay v2 speaks: `<xml><name>value</name>...</xml>` (values often in CDATA).
 * A strict parser of exactly that shape: any DOCTYPE, entity declaration, processing instruction (other
 * than the leading XML declaration), nested element or stray text is refused, so entity expansion and
 * external entities (XXE) cannot happen.
 */

export class XmlError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'XmlError';
  }
}

const ENTITIES: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

function decodeText(raw: string): string {
  return raw.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[a-z]+);|&/g, (m, ref: string | undefined) => {
    if (ref === undefined) throw new XmlError('bare "&" in text');
    if (ref[0] === '#') {
      const cp = ref[1] === 'x' ? parseInt(ref.slice(2), 16) : parseInt(ref.slice(1), 10);
      if (!(cp > 0 && cp <= 0x10ffff)) throw new XmlError(`bad character reference ${m}`);
      return String.fromCodePoint(cp);
    }
    const v = ENTITIES[ref];
    if (v === undefined) throw new XmlError(`undeclared entity ${m}`);
    return v;
  });
}

/** Parses `<root><k>v</k>...</root>` into `{k: v}`; the root's name must be one of `roots`. */
export function parseFlatXml(input: string, roots: readonly string[] = ['xml']): Record<string, string> {
  let s = input.replace(/^\uFEFF/, '').trim();
  if (/<!DOCTYPE|<!ENTITY/i.test(s)) throw new XmlError('DOCTYPE and ENTITY declarations are not accepted');
  s = s.replace(/^<\?xml[^?]*\?>\s*/, '');
  const root = /^<([A-Za-z_][\w.-]*)>([\s\S]*)<\/\1>$/.exec(s);
  if (!root) throw new XmlError('expected one root element');
  if (!roots.includes(root[1])) throw new XmlError(`unexpected root element <${root[1]}>`);
  const out: Record<string, string> = {};
  const child = /\s*<([A-Za-z_][\w.-]*)\s*(?:\/>|>((?:<!\[CDATA\[[\s\S]*?\]\]>|[^<])*)<\/\1>)\s*/y;
  const body = root[2];
  let pos = 0;
  while (pos < body.length) {
    child.lastIndex = pos;
    const m = child.exec(body);
    if (!m) throw new XmlError(`malformed content near character ${pos}`);
    if (Object.prototype.hasOwnProperty.call(out, m[1])) throw new XmlError(`element <${m[1]}> appears twice`);
    out[m[1]] = m[2] === undefined ? '' : parseValue(m[2]);
    pos = child.lastIndex;
  }
  return out;
}

/** A value: CDATA sections and escaped text, in any order. */
function parseValue(raw: string): string {
  let out = '';
  const part = /<!\[CDATA\[([\s\S]*?)\]\]>|([^<]+)/y;
  let pos = 0;
  while (pos < raw.length) {
    part.lastIndex = pos;
    const m = part.exec(raw);
    if (!m) throw new XmlError('malformed value');
    out += m[1] !== undefined ? m[1] : decodeText(m[2]);
    pos = part.lastIndex;
  }
  return out;
}

/** Builds `<xml>` with every value in CDATA (values containing `]]>` are split across sections). */
export function buildFlatXml(fields: Record<string, string | number | undefined>, root = 'xml'): string {
  const parts = Object.entries(fields)
    .filter(([, v]) => v !== undefined && v !== '')
    .map(([k, v]) => {
      if (!/^[A-Za-z_][\w.-]*$/.test(k)) throw new XmlError(`invalid element name ${JSON.stringify(k)}`);
      return `<${k}><![CDATA[${String(v).split(']]>').join(']]]]><![CDATA[>')}]]></${k}>`;
    });
  return `<${root}>${parts.join('')}</${root}>`;
}
