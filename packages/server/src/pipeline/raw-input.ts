/** How deep a raw input may nest. Contracts never need more; a deeper body is an attack on the walkers. */
export const MAX_INPUT_DEPTH = 64;

export type RawInputProblem = { readonly kind: 'too-deep' } | { readonly kind: 'malformed-text' };

/**
 * Checks a raw (unparsed) input before anything else walks it: nesting of at most MAX_INPUT_DEPTH
 * levels, and every string — keys and values — well-formed Unicode (JSON can carry a lone surrogate as
 * `"\\ud800"`; it is never legitimate text and other layers, the ledger's canonical encoding among them,
 * refuse it later with a 500 if it gets through). Iterative and linear in the size of the input.
 */
export function rawInputProblem(value: unknown): RawInputProblem | undefined {
  const stack: Array<{ readonly value: unknown; readonly depth: number }> = [{ value, depth: 0 }];
  while (stack.length > 0) {
    const { value: current, depth } = stack.pop()!;
    if (typeof current === 'string') {
      if (!isWellFormed(current)) return { kind: 'malformed-text' };
      continue;
    }
    if (current === null || typeof current !== 'object') continue;
    if (depth >= MAX_INPUT_DEPTH) return { kind: 'too-deep' };
    if (Array.isArray(current)) {
      for (const item of current) stack.push({ value: item, depth: depth + 1 });
    } else {
      for (const key of Object.keys(current)) {
        if (!isWellFormed(key)) return { kind: 'malformed-text' };
        stack.push({ value: (current as Record<string, unknown>)[key], depth: depth + 1 });
      }
    }
  }
  return undefined;
}

/** No lone surrogate: ES2024 String.prototype.isWellFormed (Node 20), written out for the lib typings. */
function isWellFormed(text: string): boolean {
  return (text as string & { isWellFormed(): boolean }).isWellFormed();
}
