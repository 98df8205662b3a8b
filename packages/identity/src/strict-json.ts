/**
 * Why a JSON text was refused by {@link parseStrictJsonObject}. Data, not text: the verifier turns it
 * into the matching identity error.
 */
export type StrictJsonIssue =
  | { readonly code: 'invalid_json' }
  | { readonly code: 'not_an_object' }
  /** `member` is the unescaped name and comes from the input: do not log it unfiltered. */
  | { readonly code: 'duplicate_member'; readonly member: string }
  | { readonly code: 'too_deep'; readonly maxDepth: number };

export type StrictJsonResult =
  | { readonly ok: true; readonly value: Record<string, unknown> }
  | { readonly ok: false; readonly issue: StrictJsonIssue };

export interface StrictJsonOptions {
  /** The deepest nesting of objects and arrays allowed; the top-level object is depth 1. */
  readonly maxDepth: number;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const COMMA = 0x2c;

/** One open object or array. `names` is null for arrays, whose strings are never member names. */
interface Frame {
  readonly names: Set<string> | null;
  expectName: boolean;
}

/**
 * Parses a JSON text that must be an object, refusing what `JSON.parse` lets through silently:
 *
 * - a member name that appears twice in one object, at any depth. Names are compared after
 *   unescaping, so `"s\u0075b"` duplicates `"sub"`. `JSON.parse` keeps the last one while other
 *   parsers keep the first; a JWT with duplicate claims means different things to different readers
 *   (RFC 7519 §4, RFC 8725 §2.8).
 * - nesting of objects and arrays deeper than `maxDepth`.
 * - a top-level value that is not an object.
 *
 * `JSON.parse` runs first, so the scan only ever walks valid JSON. The scan is a single loop with an
 * explicit stack, so hostile nesting cannot overflow the call stack.
 *
 * @example
 * ```ts
 * parseStrictJsonObject('{"sub":"a","s\\u0075b":"b"}', { maxDepth: 8 });
 * // { ok: false, issue: { code: 'duplicate_member', member: 'sub' } }
 * parseStrictJsonObject('{"sub":"a"}', { maxDepth: 8 });
 * // { ok: true, value: { sub: 'a' } }
 * ```
 */
export function parseStrictJsonObject(text: string, options: StrictJsonOptions): StrictJsonResult {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, issue: { code: 'invalid_json' } };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, issue: { code: 'not_an_object' } };
  }
  const issue = scanMembers(text, options.maxDepth);
  return issue === undefined ? { ok: true, value: value as Record<string, unknown> } : { ok: false, issue };
}

/** Walks a text already known to be valid JSON; returns the first issue found. */
function scanMembers(text: string, maxDepth: number): StrictJsonIssue | undefined {
  const frames: Frame[] = [];
  for (let i = 0; i < text.length; i += 1) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      const end = endOfString(text, i);
      const top = frames[frames.length - 1];
      if (top !== undefined && top.names !== null && top.expectName) {
        // The quoted slice is a valid JSON string literal, so JSON.parse decodes every escape exactly.
        const name = JSON.parse(text.slice(i, end + 1)) as string;
        if (top.names.has(name)) return { code: 'duplicate_member', member: name };
        top.names.add(name);
        top.expectName = false;
      }
      i = end;
    } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      frames.push({ names: c === OPEN_BRACE ? new Set() : null, expectName: c === OPEN_BRACE });
      if (frames.length > maxDepth) return { code: 'too_deep', maxDepth };
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
      frames.pop();
    } else if (c === COMMA) {
      const top = frames[frames.length - 1];
      if (top !== undefined && top.names !== null) top.expectName = true;
    }
  }
  return undefined;
}

/** The index of the quote that closes the string opening at `start`. */
function endOfString(text: string, start: number): number {
  let j = start + 1;
  for (;;) {
    const c = text.charCodeAt(j);
    if (c === BACKSLASH) j += 2;
    else if (c === QUOTE || Number.isNaN(c)) return j;
    else j += 1;
  }
}
