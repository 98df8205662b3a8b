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
  // Each frame points at its parent instead of copying the path, so the walk stays linear in the size
  // of the input however deep it is; the path is built only for the key that is found.
  interface Frame {
    readonly value: unknown;
    readonly parent: Frame | null;
    readonly key: string | number | null;
  }
  const pathOf = (frame: Frame, last: string): Array<string | number> => {
    const path: Array<string | number> = [last];
    for (let at: Frame | null = frame; at !== null && at.key !== null; at = at.parent) path.push(at.key);
    return path.reverse();
  };
  const stack: Frame[] = [{ value, parent: null, key: null }];
  while (stack.length > 0) {
    const frame = stack.pop()!;
    const current = frame.value;
    if (Array.isArray(current)) {
      for (let i = current.length - 1; i >= 0; i -= 1) stack.push({ value: current[i], parent: frame, key: i });
    } else if (current !== null && typeof current === 'object') {
      for (const key of Object.keys(current)) {
        if (isTenancyKey(key)) return pathOf(frame, key);
        stack.push({ value: (current as Record<string, unknown>)[key], parent: frame, key });
      }
    }
  }
  return undefined;
}
