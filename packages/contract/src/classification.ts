/**
 * Data classification carried by schema fields through zod's metadata, e.g.
 * `z.email().meta({ pii: 'contact' })` or `z.string().meta({ secret: true })`.
 * It drives redaction at the log and ledger boundaries, retention and subject-access requests.
 */
export const PII_CATEGORIES = Object.freeze([
  'name',
  'contact',
  'identifier',
  'financial',
  'health',
  'location',
  'free-text',
] as const);

export type PiiCategory = (typeof PII_CATEGORIES)[number];

/** The metadata keys Covenant reads from a field's `.meta()`. */
export interface ClassificationMeta {
  readonly pii?: PiiCategory;
  /** A credential or key material: never logged, never stored in the clear. */
  readonly secret?: true;
}

/**
 * One classified field of a schema. `segments` is where it is: object keys, tuple indices, and `null` for
 * any array item or record value; it is what redaction matches on, because keys may hold any character
 * (a key `'user.email'` and a key `user` holding `email` are two different places). `path` is the same
 * place for people to read: the segments joined by `.`, `*` standing for `null`.
 */
export interface ClassifiedField {
  readonly path: string;
  readonly segments: ReadonlyArray<string | null>;
  readonly pii?: PiiCategory;
  readonly secret?: true;
}

export function isPiiCategory(value: unknown): value is PiiCategory {
  return typeof value === 'string' && (PII_CATEGORIES as ReadonlyArray<string>).includes(value);
}
