/**
 * Tenancy comes from the verified session, never from what the caller sends. These are the names a
 * caller could use to smuggle a tenant in; they are refused in input schemas (at definition) and in raw
 * inputs (at request time).
 *
 * Matching ignores case and the separators `_` and `-`, so `orgId`, `ORG_ID`, `org-id` and `OrgID` are
 * all the same key.
 */
const TENANCY_KEYS: ReadonlySet<string> = new Set(['orgid', 'workspaceid', 'tenantid']);

/** The canonical spellings, for messages and documentation. */
export const TENANCY_KEY_NAMES = Object.freeze(['orgId', 'workspaceId', 'tenantId'] as const);

export function isTenancyKey(key: string): boolean {
  return TENANCY_KEYS.has(key.replace(/[_-]/g, '').toLowerCase());
}

/**
 * Finds the first tenancy key in a raw (unparsed) value: objects and arrays at any depth.
 * Returns its path, or `undefined`. Iterative, so a deeply nested body cannot overflow the stack.
 *
 * @example
 * ```ts
 * findTenancyKey({ ticket: { orgId: 'org_2' } }); // ['ticket', 'orgId']
 * ```
 */
export function findTenancyKey(value: unknown): ReadonlyArray<string | number> | undefined {
  const stack: Array<{ value: unknown; path: ReadonlyArray<string | number> }> = [{ value, path: [] }];
  while (stack.length > 0) {
    const { value: current, path } = stack.pop()!;
    if (Array.isArray(current)) {
      for (let i = current.length - 1; i >= 0; i -= 1) stack.push({ value: current[i], path: [...path, i] });
    } else if (current !== null && typeof current === 'object') {
      for (const key of Object.keys(current)) {
        if (isTenancyKey(key)) return [...path, key];
        stack.push({ value: (current as Record<string, unknown>)[key], path: [...path, key] });
      }
    }
  }
  return undefined;
}
