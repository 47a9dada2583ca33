/**
 * `npm run build`: one bundle per function with wx-server-sdk left external, then the built `pay` and `notify`
 * loaded with the real wx-server-sdk in a child process. Neither call touches the database or the network.
 */
import { execFileSync } from 'child_process';
import { randomBytes } from 'crypto';
import { existsSync, readFileSync, rmSync } from 'fs';
import { join, resolve } from 'path';
import { buildAll } from '../scripts/build';
import { testEmulator } from './support/emu';

const root = resolve(__dirname, '..');
// Inside the repository, so that require('wx-server-sdk') in the bundles resolves from its node_modules.
const outDir = join(root, 'dist', `test-build-${randomBytes(6).toString('hex')}`);
const rootPkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
const sdkSource = readFileSync(require.resolve('wx-server-sdk'), 'utf8');

let names: string[];
beforeAll(async () => {
  names = await buildAll(outDir);
}, 120_000);
afterAll(() => rmSync(outDir, { recursive: true, force: true }));

const read = (fn: string, file: string) => readFileSync(join(outDir, fn, file), 'utf8');

it('builds every function, pay, notify, contract, face-verify and template-msg among them', () => {
  expect(names).toEqual(expect.arrayContaining(['pay', 'notify', 'contract', 'face-verify', 'template-msg']));
});

describe.each(['pay', 'notify', 'contract', 'face-verify', 'template-msg'])('dist/%s', (fn) => {
  it('has index.js, package.json, config.json and request-promise.js', () => {
    for (const f of ['index.js', 'package.json', 'config.json', 'request-promise.js']) {
      expect(existsSync(join(outDir, fn, f))).toBe(true);
    }
  });

  it('package.json depends on exactly wx-server-sdk at the root version', () => {
    const pkg = JSON.parse(read(fn, 'package.json')) as { main: string; dependencies: Record<string, string> };
    expect(pkg.dependencies).toEqual({ 'wx-server-sdk': rootPkg.dependencies['wx-server-sdk'] });
    expect(pkg.main).toBe('index.js');
  });

  it('config.json is functions/<name>/config.json', () => {
    expect(read(fn, 'config.json')).toBe(readFileSync(join(root, 'functions', fn, 'config.json'), 'utf8'));
  });

  it('index.js requires wx-server-sdk and does not bundle it', () => {
    const js = read(fn, 'index.js');
    expect(js).toContain('require("wx-server-sdk")');
    // Strings of the SDK's own source: present there, absent from the bundle.
    for (const marker of ['WX_CONTEXT_KEYS', 'SCF_NAMESPACE']) {
      expect(sdkSource).toContain(marker);
      expect(js).not.toContain(marker);
    }
  });

  it('index.js loads request-promise from the file beside it', () => {
    expect(read(fn, 'index.js')).toContain('require("./request-promise.js")');
  });
});

it('the built pay and notify run with the real wx-server-sdk', () => {
  const script = `
    const pay = require(${JSON.stringify(join(outDir, 'pay', 'index.js'))});
    const notify = require(${JSON.stringify(join(outDir, 'notify', 'index.js'))});
    const contract = require(${JSON.stringify(join(outDir, 'contract', 'index.js'))});
    const face = require(${JSON.stringify(join(outDir, 'face-verify', 'index.js'))});
    (async () => {
      const payResult = await pay.main({ action: 'nope' }, {});
      const notifyResult = await notify.main({}, {});
      const contractResult = await contract.main({ action: 'nope' }, {});
      const faceResult = await face.main({ action: 'nope' }, {});
      process.stdout.write(JSON.stringify({ payResult, notifyResult, contractResult, faceResult }));
    })().catch((err) => { console.error(err); process.exit(1); });
  `;
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.WX_CONTEXT_KEYS;
  const out = execFileSync(process.execPath, ['-e', script], { cwd: root, env, encoding: 'utf8', timeout: 60_000 });
  const { payResult, notifyResult, contractResult, faceResult } = JSON.parse(out) as {
    payResult: { ok: boolean; error: { code: string; message: string } };
    contractResult: { ok: boolean; error: { code: string; message: string } };
    faceResult: { ok: boolean; error: { code: string; message: string } };
    notifyResult: { statusCode: number; body: string };
  };
  expect(payResult).toEqual({ ok: false, error: { code: 'UNKNOWN_ACTION', message: expect.stringContaining('unifiedorder') } });
  expect(payResult.error.message).toContain('"nope"');
  expect(notifyResult.statusCode).toBe(400);
  expect(notifyResult.body).toContain('HTTP-trigger');
  expect(contractResult).toEqual({ ok: false, error: { code: 'UNKNOWN_ACTION', message: expect.stringContaining('sign_url') } });
  expect(faceResult).toEqual({ ok: false, error: { code: 'UNKNOWN_ACTION', message: expect.stringContaining('check, purge, start, status') } });
});

it('the built template-msg runs with the real wx-server-sdk and declares its openapi permission', () => {
  expect(JSON.parse(read('template-msg', 'config.json')).permissions.openapi).toEqual(['subscribeMessage.send']);
  const script = `
    const fn = require(${JSON.stringify(join(outDir, 'template-msg', 'index.js'))});
    fn.main({ action: 'nope' }, {}).then((r) => process.stdout.write(JSON.stringify(r)), (err) => { console.error(err); process.exit(1); });
  `;
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.WX_CONTEXT_KEYS;
  const out = JSON.parse(execFileSync(process.execPath, ['-e', script], { cwd: root, env, encoding: 'utf8', timeout: 60_000 }));
  expect(out).toEqual({ ok: false, error: { code: 'UNKNOWN_ACTION', message: expect.stringContaining('send, send_batch') } });
});

it('the built request-promise.js, with its deferred dependencies, makes a real request (TLS included)', async () => {
  const emu = await testEmulator({ tls: true, seed: false });
  try {
    const rp = require(join(outDir, 'pay', 'request-promise.js'));
    const plain = await rp({ method: 'POST', uri: `${emu.url}/sandbox/wechatpay-v2/pay/orderquery`, body: '<xml></xml>', resolveWithFullResponse: true, simple: false });
    expect(plain.statusCode).toBe(200);
    expect(plain.body).toContain('<return_code><![CDATA[FAIL]]></return_code>');
    const overTls = await rp({ method: 'POST', uri: `${emu.tlsUrl}/sandbox/wechatpay-v2/pay/orderquery`, body: '<xml></xml>', ca: emu.tls!.caPem, resolveWithFullResponse: true, simple: false });
    expect(overTls.statusCode).toBe(200);
  } finally {
    await emu.stop();
  }
});
