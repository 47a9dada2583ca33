/**
 * `npm run check-config -- <file.json> [...]`: validates config documents exactly as the functions do.
 * `npm run check-config -- --schema` prints the JSON Schema of config/payment (also in schema/).
 * A file's name or its `_id` tells which document it is (`payment`, `payment_<appid>`, `contract`, `face`, `template`).
 */
import { readFileSync } from 'fs';
import { basename } from 'path';
import { validatePaymentDoc } from '../shared/config/payment-load';
import { PaymentConfigSchema } from '../shared/config/payment';
import { contractConfig } from '../shared/config/contract';
import { templateConfig } from '../shared/config/template';
import { faceConfig } from '../shared/config/face';

export function checkConfigFile(file: string): { ok: boolean; lines: string[] } {
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    return { ok: false, lines: [`${file}: not readable JSON: ${(err as Error).message}`] };
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) return { ok: false, lines: [`${file}: a config document is a JSON object`] };
  const id = typeof (doc as { _id?: unknown })._id === 'string' ? String((doc as { _id: string })._id) : basename(file).replace(/\.json$/, '');
  if (id === 'contract') {
    const c = contractConfig.validate(doc as Record<string, unknown>);
    return c.ok ? { ok: true, lines: [`${file}: config/contract is valid (active ${c.config.active})`] } : { ok: false, lines: c.problems.map((p) => `${file}: ${p}`) };
  }
  if (id === 'face') {
    const c = faceConfig.validate(doc as Record<string, unknown>);
    return c.ok ? { ok: true, lines: [`${file}: config/face is valid (version ${c.config.version})`] } : { ok: false, lines: c.problems.map((p) => `${file}: ${p}`) };
  }
  if (id === 'template') {
    const t = templateConfig.validate(doc as Record<string, unknown>);
    return t.ok
      ? { ok: true, lines: [`${file}: config/template is valid (${Object.keys(t.config.templates).length} templates)`] }
      : { ok: false, lines: t.problems.map((p) => `${file}: ${p}`) };
  }
  if (!/^payment(_.+)?$/.test(id)) {
    return { ok: false, lines: [`${file}: cannot tell which document this is; name the file payment.json, payment_<appid>.json, contract.json, template.json or face.json, or set _id`] };
  }
  const r = validatePaymentDoc(doc as Record<string, unknown>, `config/${id}.`);
  return r.ok ? { ok: true, lines: [`${file}: config/${id} is valid (pay_sp ${r.config.pay_sp})`] } : { ok: false, lines: r.problems.map((p) => `${file}: ${p}`) };
}

/** A field with a default may be left out of the document: it is not `required` for an editor. */
function optionalDefaults(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(optionalDefaults);
  if (!schema || typeof schema !== 'object') return schema;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(schema)) out[k] = optionalDefaults(v);
  const props = out.properties as Record<string, { default?: unknown }> | undefined;
  if (Array.isArray(out.required) && props) {
    out.required = (out.required as string[]).filter((name) => props[name]?.default === undefined);
    if ((out.required as string[]).length === 0) delete out.required;
  }
  return out;
}

/** The JSON Schema of config/payment for operators' editors (committed as schema/payment.schema.json). */
export const paymentJsonSchema = () => `${JSON.stringify(optionalDefaults(PaymentConfigSchema), null, 2)}\n`;

// Run as a script (scripts/run.js sets argv[1]); imported by tests otherwise.
if (process.argv[1] === __filename) {
  const args = process.argv.slice(2);
  if (args[0] === '--schema') {
    process.stdout.write(paymentJsonSchema());
  } else if (args.length === 0) {
    console.error('usage: npm run check-config -- <config.json> [...] | --schema');
    process.exit(2);
  } else {
    let bad = 0;
    for (const f of args) {
      const r = checkConfigFile(f);
      r.lines.forEach((l) => (r.ok ? console.log(l) : console.error(l)));
      if (!r.ok) bad++;
    }
    process.exit(bad ? 1 : 0);
  }
}
