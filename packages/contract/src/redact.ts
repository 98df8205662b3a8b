import type { ClassifiedField } from './classification.ts';
import { canonicalJson } from './manifest/canonical-json.ts';
import type { Procedure } from './procedure.ts';
import { walkSchema } from './schema-walk.ts';

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

/** What keys a digest: the ledger's signer and store (`digest`) are such keyed digesters (`Digester` of @covenant/core). */
export interface Digester {
  digest(text: string): string;
}

/**
 * The canonical JSON of an input as the audit intent carries it (classified fields redacted): what the audit
 * port digests.
 *
 * @example
 * ```ts
 * canonicalRedactedInput(redactClassified(parsed, classified)); // '{"email":"[redacted:contact]","title":"x"}'
 * ```
 */
export function canonicalRedactedInput(redacted: unknown): string {
  return canonicalJson(redacted ?? null);
}

/**
 * The `inputDigest` the ledger records for a call: the keyed digest (`digester`, the ledger's signer) of the
 * canonical JSON of the parsed input with the procedure's classified fields redacted. For a holder of the
 * key (a verifier of one call, the tour) to find a call's intent from its input without re-implementing the
 * rule (docs/ledger.md); without the key a guessed input cannot be confirmed.
 *
 * @example
 * ```ts
 * inputDigestOf(tickets.create, tickets.create['~covenant'].input.parse(input), signer); // 'hmac-sha256:…'
 * ```
 */
export function inputDigestOf(procedure: Procedure, parsedInput: unknown, digester: Digester): string {
  return digester.digest(canonicalRedactedInput(redactClassified(parsedInput, walkSchema(procedure['~covenant'].input, 'input').classified)));
}

function matches(pattern: ReadonlyArray<string | null>, path: ReadonlyArray<string>): boolean {
  return pattern.length === path.length && pattern.every((segment, i) => segment === null || segment === path[i]);
}
