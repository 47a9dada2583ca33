import { createHash } from 'crypto';
import { backendTokenSignature } from '../../shared/providers/unionpay/backend-token';

test('the backendToken signature is SHA-256 over the sorted appId, nonceStr, secret, timestamp (protocol notes example string)', () => {
  const expected = createHash('sha256')
    .update('appId=APPID&nonceStr=Ab12Cd34Ef56Gh78&secret=SECRET&timestamp=1700000000', 'utf8')
    .digest('hex');
  // Field order in the object must not matter: the string is sorted.
  expect(backendTokenSignature({ timestamp: '1700000000', secret: 'SECRET', nonceStr: 'Ab12Cd34Ef56Gh78', appId: 'APPID' })).toBe(expected);
  expect(expected).toMatch(/^[0-9a-f]{64}$/);
});
