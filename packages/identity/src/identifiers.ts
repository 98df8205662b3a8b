/** A tenant is exactly one identifier: no arrays, no empty strings, no separators beyond `._:-`. */
const TENANT_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;
const MAX_ID_LENGTH = 255;
/** C0 controls and DEL: an id carrying them would forge lines in the logs it is written to. */
const CONTROL_CHARS = /[\u0000-\u001f\u007f]/;
/** A high surrogate not followed by a low one, or a low one not preceded by a high one. */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/**
 * Whether `value` can be an org or workspace claim: one identifier of 1 to 128 characters, letters,
 * digits and `._:-`, starting with a letter or digit.
 *
 * @example
 * ```ts
 * isTenantId('acme'); // true
 * isTenantId('acme/../other'); // false
 * ```
 */
export function isTenantId(value: unknown): value is string {
  return typeof value === 'string' && TENANT_ID.test(value);
}

/**
 * Whether `value` can be a `sub`, `sid` or `jti`: a non-empty string of at most 255 UTF-16 code units,
 * without control characters or lone surrogates (it is written to logs and to the audit ledger, which
 * take well-formed text only).
 *
 * @example
 * ```ts
 * isTokenId('session_1'); // true
 * isTokenId('user\nINFO forged'); // false
 * ```
 */
export function isTokenId(value: unknown): value is string {
  return (
    typeof value === 'string' &&
    value !== '' &&
    value.length <= MAX_ID_LENGTH &&
    !CONTROL_CHARS.test(value) &&
    !LONE_SURROGATE.test(value)
  );
}
