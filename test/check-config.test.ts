/** scripts/check-config.ts: validates config documents from files, as the functions would; and its CLI. */
import { execFileSync } from 'child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join, resolve } from 'path';
import { checkConfigFile } from '../scripts/check-config';

const root = resolve(__dirname, '..');
const VALID = {
  pay_sp: 'v2',
  notify_url: 'https://x.example/notify',
  order_collection: 'orders',
  v2: { appid: 'wx0123456789abcdef', mchid: '1900000109', key: 'Abcdefghijklmnopqrstuvwxyz012345' },
};
const INVALID = { ...VALID, pay_spp: 'v2', v2: { ...VALID.v2, mchid: 'merchant' } };

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'check-config-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, content: unknown): string {
  const path = join(dir, name);
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content, null, 2));
  return path;
}

describe('checkConfigFile', () => {
  it('a valid payment.json is ok', () => {
    const f = file('payment.json', VALID);
    expect(checkConfigFile(f)).toEqual({ ok: true, lines: [`${f}: config/payment is valid (pay_sp v2)`] });
  });

  it('an invalid one: one line per problem, each naming the file and the field', () => {
    const f = file('payment.json', INVALID);
    const r = checkConfigFile(f);
    expect(r.ok).toBe(false);
    expect(r.lines.every((l) => l.startsWith(`${f}: `))).toBe(true);
    const text = r.lines.join('\n');
    expect(text).toContain('config/payment.pay_spp is not a known field');
    expect(text).toContain('config/payment.v2.mchid');
  });

  it('not JSON: says so', () => {
    const r = checkConfigFile(file('payment.json', '{ pay_sp: v2 '));
    expect(r.ok).toBe(false);
    expect(r.lines.join('\n')).toContain('not readable JSON');
  });

  it('JSON that is not an object: says a config document is an object', () => {
    for (const content of ['[]', '"payment"', 'null']) {
      const r = checkConfigFile(file('payment.json', content));
      expect(r.ok).toBe(false);
      expect(r.lines.join('\n')).toContain('a config document is a JSON object');
    }
  });

  it('an unknown file name without _id: says how to name it', () => {
    const r = checkConfigFile(file('settings.json', VALID));
    expect(r.ok).toBe(false);
    expect(r.lines.join('\n')).toContain('name the file payment.json, payment_<appid>.json, contract.json, template.json or face.json, or set _id');
  });

  it('an unknown file name with _id: the _id tells the document', () => {
    const r = checkConfigFile(file('settings.json', { ...VALID, _id: 'payment' }));
    expect(r.ok).toBe(true);
    expect(r.lines[0]).toContain('config/payment is valid');
  });

  it('payment_<appid>.json is recognised and its problems carry that id', () => {
    const good = checkConfigFile(file('payment_wx0123456789abcdef.json', VALID));
    expect(good.ok).toBe(true);
    expect(good.lines[0]).toContain('config/payment_wx0123456789abcdef is valid');
    const bad = checkConfigFile(file('payment_wx0123456789abcdef.json', INVALID));
    expect(bad.ok).toBe(false);
    expect(bad.lines.join('\n')).toContain('config/payment_wx0123456789abcdef.pay_spp');
  });
});

describe('npm run check-config (the CLI)', () => {
  const run = (...args: string[]) =>
    execFileSync(process.execPath, ['scripts/run.js', 'scripts/check-config.ts', ...args], {
      cwd: root,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 60_000,
    });

  it('exits 1 and names the field on stderr for a bad file', () => {
    const f = file('payment.json', INVALID);
    let err: { status?: number; stderr?: string } | undefined;
    try {
      run(f);
    } catch (e) {
      err = e as { status?: number; stderr?: string };
    }
    expect(err?.status).toBe(1);
    expect(err?.stderr).toContain('config/payment.pay_spp is not a known field');
    expect(err?.stderr).toContain('v2.mchid');
  });

  it('exits 0 for a good file', () => {
    const f = file('payment_wx0123456789abcdef.json', VALID);
    expect(run(f)).toContain('config/payment_wx0123456789abcdef is valid');
  });
});

describe('checkConfigFile: config/contract', () => {
  const { generateKeyPairSync } = require('crypto') as typeof import('crypto');
  const pair = generateKeyPairSync('rsa', { modulusLength: 1024 });
  const set = (appId: string) => ({
    app_id: appId,
    secret: 'sandbox-secret-1',
    plan_id: 'plan0001',
    symmetric_key: 'ab'.repeat(24),
    private_key: pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    unionpay_public_key: pair.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    redirect_uri: 'https://x.example/signed',
    notify_url: 'https://x.example/notify',
    limits: { per_payment: 5000, per_day: 20000 },
  });
  const CONTRACT = { active: 'production', test: set('uptestapp0001'), production: set('upprodapp0001') };

  it('a valid contract.json is ok', () => {
    const f = file('contract.json', CONTRACT);
    expect(checkConfigFile(f)).toEqual({ ok: true, lines: [`${f}: config/contract is valid (active production)`] });
  });

  it('names each bad field: a short 3DES key, a missing active set, a limit that is not whole fen', () => {
    const bad = { active: 'production', test: { ...set('uptestapp0001'), symmetric_key: 'abc', limits: { per_payment: 1.5, per_day: 100 } } };
    const f = file('contract.json', bad);
    const r = checkConfigFile(f);
    expect(r.ok).toBe(false);
    const text = r.lines.join('\n');
    expect(text).toContain('config/contract.test.symmetric_key must be the 3DES symmetric key (symmetricKey): 48 hex characters');
    expect(text).toContain('config/contract.test.limits.per_payment');
    const missing = checkConfigFile(file('contract.json', { active: 'production', test: set('uptestapp0001') }));
    expect(missing.lines.join('\n')).toContain('config/contract.production is missing: active is "production"');
  });

  it.each(['fields', 'query_fields'])('deduction.%s: a key that is not a field name is refused, naming it', (record) => {
    const bad = { ...CONTRACT, test: { ...set('uptestapp0001'), deduction: { [record]: { 'txn-Type': '01' } } } };
    const r = checkConfigFile(file('contract.json', bad));
    expect(r.ok).toBe(false);
    expect(r.lines.join('\n')).toContain(`config/contract.test.deduction.${record}.txn-Type is not a known field`);
    const good = { ...CONTRACT, test: { ...set('uptestapp0001'), deduction: { [record]: { txnType: '01' } } } };
    expect(checkConfigFile(file('contract.json', good)).ok).toBe(true);
  });
});
