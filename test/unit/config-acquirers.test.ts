/** The acquirers' config fields added for refund confirmation: defaults and errors that name the field. */
import { validatePaymentDoc } from '../../shared/config/payment-load';
import { checkConfigFile } from '../../scripts/check-config';
import { mkdtempSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';

const yabandDoc = (yaband: Record<string, unknown> = {}) => ({
  pay_sp: 'yaband',
  notify_url: 'https://x.example/notify',
  order_collection: 'orders',
  currency: 'EUR',
  yaband: { user: 'cashier@shop.example', secret: 'secret-0123456789', ...yaband },
});

describe('config/payment.yaband.refund_query_method', () => {
  it('defaults to v3.TimeRefundOrder', () => {
    const r = validatePaymentDoc(yabandDoc());
    if (!r.ok) throw new Error(r.problems.join('; '));
    expect(r.config.yaband).toMatchObject({ refund_query_method: 'v3.TimeRefundOrder' });
  });

  it('keeps another v3 method name', () => {
    const r = validatePaymentDoc(yabandDoc({ refund_query_method: 'v3.ListRefundOrder' }));
    if (!r.ok) throw new Error(r.problems.join('; '));
    expect(r.config.yaband).toMatchObject({ refund_query_method: 'v3.ListRefundOrder' });
  });

  it.each(['TimeRefundOrder', 'v3.Time Refund', '', 'v1.refund'])('refuses %j, naming the field (also through check-config)', (bad) => {
    const r = validatePaymentDoc(yabandDoc({ refund_query_method: bad }));
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.problems.join('\n')).toContain('yaband.refund_query_method');
    expect(r.problems.join('\n')).toContain('v3.TimeRefundOrder');

    const dir = mkdtempSync(join(tmpdir(), 'cfg-'));
    try {
      const file = join(dir, 'payment.json');
      writeFileSync(file, JSON.stringify(yabandDoc({ refund_query_method: bad })));
      const c = checkConfigFile(file);
      expect(c.ok).toBe(false);
      expect(c.lines.join('\n')).toContain('config/payment.yaband.refund_query_method');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('config/payment.vr.method_configurations', () => {
  const vrDoc = (method_configurations: Record<string, unknown>) => ({
    pay_sp: 'vr',
    notify_url: 'https://x.example/notify',
    order_collection: 'orders',
    currency: 'EUR',
    vr: { space_id: 1, user_id: 2, auth_key: Buffer.alloc(32, 7).toString('base64'), method_configurations },
  });

  it('keeps a pay_method → configuration id map', () => {
    const r = validatePaymentDoc(vrDoc({ alipay: 4711 }));
    if (!r.ok) throw new Error(r.problems.join('; '));
    expect(r.config.vr).toMatchObject({ method_configurations: { alipay: 4711 } });
  });

  it('refuses a key that is not a pay_method name, naming it', () => {
    const r = validatePaymentDoc(vrDoc({ 'Ali-Pay': 4711 }));
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.problems.join('\n')).toContain('vr.method_configurations.Ali-Pay is not a known field');
  });
});
