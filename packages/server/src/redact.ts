import type { ClassifiedField } from '@covenant/contract';

/**
 * A copy of `value` with every classified field replaced by `[redacted:<class>]`. Paths come from the
 * contract's schema walk; `*` matches any array item or record value.
 */
export function redactClassified(value: unknown, fields: ReadonlyArray<ClassifiedField>): unknown {
  if (fields.length === 0) return value;
  const patterns = fields.map((field) => ({
    segments: field.path === '' ? [] : field.path.split('.'),
    label: `[redacted:${field.secret ? 'secret' : field.pii}]`,
  }));
  const visit = (node: unknown, path: ReadonlyArray<string>): unknown => {
    const hit = patterns.find((p) => matches(p.segments, path));
    if (hit !== undefined) return hit.label;
    if (Array.isArray(node)) return node.map((item, index) => visit(item, [...path, String(index)]));
    if (node !== null && typeof node === 'object') {
      const out: Record<string, unknown> = {};
      for (const [key, child] of Object.entries(node)) out[key] = visit(child, [...path, key]);
      return out;
    }
    return node;
  };
  return visit(value, []);
}

function matches(pattern: ReadonlyArray<string>, path: ReadonlyArray<string>): boolean {
  return pattern.length === path.length && pattern.every((segment, i) => segment === '*' || segment === path[i]);
}
