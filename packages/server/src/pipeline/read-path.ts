/** The value at a dotted path of parsed input (own properties only), or `undefined`. */
export function readPath(value: unknown, segments: ReadonlyArray<string>): unknown {
  let current = value;
  for (const segment of segments) {
    if (current === null || typeof current !== 'object' || !Object.hasOwn(current, segment)) return undefined;
    current = (current as Record<string, unknown>)[segment];
  }
  return current;
}
