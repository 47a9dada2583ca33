/**
 * `k=v&k=v` over the fields sorted by name in ASCII order, raw values (no URL encoding), skipping
 * empty values and the names in `exclude`: the string WeChat Pay v2 and several acquirers sign.
 */
export function sortedQuery(fields: Record<string, unknown>, exclude: readonly string[] = []): string {
  return Object.keys(fields)
    .filter((k) => !exclude.includes(k) && fields[k] !== undefined && fields[k] !== null && fields[k] !== '')
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
    .map((k) => `${k}=${String(fields[k])}`)
    .join('&');
}
