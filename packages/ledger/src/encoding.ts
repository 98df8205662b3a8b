/**
 * Strict standard base64 (RFC 4648 §4, with padding), the encoding C2SP notes and our bundles use.
 * `Buffer.from(text, 'base64')` silently skips garbage and accepts non-zero padding bits, which would let
 * one value have many spellings; we accept only the one canonical spelling.
 */
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Decodes canonical standard base64, or returns undefined. */
export function decodeBase64(text: string): Uint8Array | undefined {
  if (!BASE64.test(text)) return undefined;
  const bytes = Buffer.from(text, 'base64');
  if (bytes.toString('base64') !== text) return undefined;
  return new Uint8Array(bytes);
}

/** Standard base64 with padding. */
export function encodeBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

const ENCODER = new TextEncoder();

/** UTF-8 bytes of a string. */
export function utf8(text: string): Uint8Array {
  return ENCODER.encode(text);
}

/** Whether a JS string is well-formed Unicode (no lone surrogate), i.e. encodes to valid UTF-8 and back. */
export function isWellFormed(text: string): boolean {
  // ES2024 String.prototype.isWellFormed (Node 20), written out for this project's lib typings.
  return (text as string & { isWellFormed(): boolean }).isWellFormed();
}
