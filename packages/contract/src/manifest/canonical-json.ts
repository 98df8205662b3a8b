/**
 * Canonical JSON in the manner of RFC 8785 (JCS): object keys sorted by UTF-16 code units, no
 * whitespace, numbers and strings as ECMAScript serialises them. Values here are plain JSON data (JSON
 * Schemas and security metadata), so the lone-surrogate and exotic-number corners of JCS do not arise;
 * non-finite numbers and non-JSON values are refused rather than guessed at.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new TypeError('canonicalJson: non-finite number');
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) {
    const items: string[] = [];
    for (let i = 0; i < value.length; i += 1) {
      if (!(i in value)) throw new TypeError('canonicalJson: sparse array');
      items.push(canonicalJson(value[i]));
    }
    return `[${items.join(',')}]`;
  }
  if (typeof value === 'object') {
    const prototype = Object.getPrototypeOf(value);
    if (prototype !== Object.prototype && prototype !== null) {
      throw new TypeError(`canonicalJson: ${prototype?.constructor?.name ?? 'object'} is not plain JSON data`);
    }
    const keys = Object.keys(value).filter((key) => (value as Record<string, unknown>)[key] !== undefined);
    keys.sort();
    return `{${keys.map((key) => `${JSON.stringify(key)}:${canonicalJson((value as Record<string, unknown>)[key])}`).join(',')}}`;
  }
  throw new TypeError(`canonicalJson: ${typeof value} is not JSON`);
}
