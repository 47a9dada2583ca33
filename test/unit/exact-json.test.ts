/** parseJsonExact: plain decimal numbers come back as their exact text; everything else as JSON.parse gives it. */
import { parseJsonExact } from '../../shared/core/exact-json';
import { fromMajor } from '../../shared/core/money';

describe('parseJsonExact', () => {
  it('keeps a number beyond a float’s precision exactly, where JSON.parse rounds it', () => {
    const body = '{"amount":90071992547409.91,"n":[-0.5,0,12]}';
    expect(parseJsonExact(body)).toEqual({ amount: '90071992547409.91', n: ['-0.5', '0', '12'] });
    expect(fromMajor(String(JSON.parse(body).amount), 'EUR')).toBe(9007199254740990); // the float lost the last cent
    expect(fromMajor((parseJsonExact(body) as { amount: string }).amount, 'EUR')).toBe(9007199254740991);
  });

  it('leaves strings (digits, quotes and escapes inside them), booleans, null and exponent numbers as they are', () => {
    expect(parseJsonExact('{"a":"12.5","b":"x\\"1\\\\","c":true,"d":null,"e":1e2,"f":-2.5E-1}')).toEqual({ a: '12.5', b: 'x"1\\', c: true, d: null, e: 100, f: -0.25 });
  });

  it.each(['{"a":01}', '{1:2}', '{"a":1,}', '', 'garbage'])('refuses what is not JSON as JSON.parse does: %j', (text) => {
    expect(() => parseJsonExact(text)).toThrow(SyntaxError);
  });
});
