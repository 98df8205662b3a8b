import { createHash } from 'node:crypto';
import { walkSchema, type ClassifiedField, type Procedure } from '@covenant/contract';
import { canonicalJson } from '@covenant/contract/manifest';

/**
 * A copy of `value` with every classified field replaced by `[redacted:<class>]`. Places come from the
 * contract's schema walk as segments (`null` matches any array item or record value), never from splitting
 * a dotted path: a key may itself contain a dot.
 */
export function redactClassified(value: unknown, fields: ReadonlyArray<ClassifiedField>): unknown {
  if (fields.length === 0) return value;
  const patterns = fields.map((field) => ({
    segments: field.segments,
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

/**
 * The `inputDigest` the audit step records for a call: `sha256:` of the canonical JSON of the parsed input
 * with the procedure's classified fields redacted. Exported so that a verifier (or a test, or the tour)
 * can find a call's intent from its input without re-implementing the rule (docs/ledger.md).
 *
 * @example
 * ```ts
 * inputDigestOf(tickets.create, tickets.create['~covenant'].input.parse(input)); // 'sha256:…'
 * ```
 */
export function inputDigestOf(procedure: Procedure, parsedInput: unknown): string {
  return digestOfRedacted(redactClassified(parsedInput, walkSchema(procedure['~covenant'].input, 'input').classified));
}

/** `sha256:` of the canonical JSON of an already-redacted input (the audit step's hot path: fields walked once). */
export function digestOfRedacted(redacted: unknown): string {
  return `sha256:${createHash('sha256').update(canonicalJson(redacted ?? null)).digest('hex')}`;
}

function matches(pattern: ReadonlyArray<string | null>, path: ReadonlyArray<string>): boolean {
  return pattern.length === path.length && pattern.every((segment, i) => segment === null || segment === path[i]);
}
