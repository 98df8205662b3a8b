import * as z from 'zod';
import { isPiiCategory, type ClassifiedField } from './classification.ts';
import { isTenancyKey } from './tenancy.ts';

/** A finding while walking an input or output schema; `at` is a dotted path (`*` = any item or value). */
export interface SchemaFinding {
  readonly kind: 'tenancy_key' | 'non_strict_object' | 'invalid_classification';
  readonly at: string;
  readonly detail: string;
}

export interface SchemaReport {
  readonly findings: ReadonlyArray<SchemaFinding>;
  readonly classified: ReadonlyArray<ClassifiedField>;
}

type AnySchema = z.core.$ZodType;
type Def = z.core.$ZodTypeDef & Record<string, unknown>;

/**
 * Walks a zod schema the way a value would be parsed: into object shapes, catch-alls, array and tuple
 * items, union and intersection members, record values, wrappers, pipes and lazy schemas (once each).
 *
 * For inputs (`mode: 'input'`) it reports tenancy keys in shapes and in record key sets, and objects that
 * would silently drop unknown keys instead of refusing them. For both modes it collects classified fields.
 */
export function walkSchema(schema: AnySchema, mode: 'input' | 'output'): SchemaReport {
  const findings: SchemaFinding[] = [];
  const classified = new Map<string, ClassifiedField>();
  // Only the schemas on the current branch: a shared schema used at two paths is visited at both, while a
  // recursive (lazy) schema stops at its second appearance.
  const ancestors = new Set<AnySchema>();

  // `null` in a path: any array item or record value (see ClassifiedField.segments).
  const visit = (node: AnySchema, path: ReadonlyArray<string | null>): void => {
    if (ancestors.has(node)) return;
    ancestors.add(node);
    try {
      visitChildren(node, path);
    } finally {
      ancestors.delete(node);
    }
  };

  const visitChildren = (node: AnySchema, path: ReadonlyArray<string | null>): void => {
    const at = dotted(path);
    classify(node, path, at, findings, classified);
    const def = node._zod.def as Def;
    switch (def.type) {
      case 'object': {
        const shape = def['shape'] as Record<string, AnySchema>;
        for (const [key, child] of Object.entries(shape)) {
          if (mode === 'input' && isTenancyKey(key)) {
            findings.push({ kind: 'tenancy_key', at: dotted([...path, key]), detail: key });
          }
          visit(child, [...path, key]);
        }
        const catchall = def['catchall'] as AnySchema | undefined;
        if (catchall === undefined) {
          if (mode === 'input') findings.push({ kind: 'non_strict_object', at, detail: '' });
        } else if (catchall._zod.def.type !== 'never') {
          visit(catchall, [...path, null]);
        }
        return;
      }
      case 'record': {
        const keyType = def['keyType'] as AnySchema;
        if (mode === 'input') {
          for (const key of literalKeys(keyType)) {
            if (isTenancyKey(key)) findings.push({ kind: 'tenancy_key', at: dotted([...path, key]), detail: key });
          }
        }
        visit(def['valueType'] as AnySchema, [...path, null]);
        return;
      }
      case 'array':
        visit(def['element'] as AnySchema, [...path, null]);
        return;
      case 'set':
        visit(def['valueType'] as AnySchema, [...path, null]);
        return;
      case 'map':
        visit(def['valueType'] as AnySchema, [...path, null]);
        return;
      case 'tuple': {
        (def['items'] as AnySchema[]).forEach((item, index) => visit(item, [...path, String(index)]));
        const rest = def['rest'] as AnySchema | null;
        if (rest) visit(rest, [...path, null]);
        return;
      }
      case 'union':
        for (const option of def['options'] as AnySchema[]) visit(option, path);
        return;
      case 'intersection':
        visit(def['left'] as AnySchema, path);
        visit(def['right'] as AnySchema, path);
        return;
      case 'pipe':
        visit(def['in'] as AnySchema, path);
        visit(def['out'] as AnySchema, path);
        return;
      case 'lazy':
        visit((def['getter'] as () => AnySchema)(), path);
        return;
      case 'optional':
      case 'nullable':
      case 'default':
      case 'prefault':
      case 'nonoptional':
      case 'readonly':
      case 'catch':
      case 'success':
      case 'promise':
        visit(def['innerType'] as AnySchema, path);
        return;
      default:
        return;
    }
  };

  visit(schema, []);
  return { findings, classified: [...classified.entries()].sort(([ka, a], [kb, b]) => compare(a.path, b.path) || compare(ka, kb)).map(([, field]) => field) };
}

/** The string keys a record's key schema admits when it enumerates them (enum, literal, union of those). */
function literalKeys(keyType: AnySchema): string[] {
  const def = keyType._zod.def as Def;
  switch (def.type) {
    case 'enum':
      return Object.values(def['entries'] as Record<string, unknown>).filter((v): v is string => typeof v === 'string');
    case 'literal':
      return (def['values'] as unknown[]).filter((v): v is string => typeof v === 'string');
    case 'union':
      return (def['options'] as AnySchema[]).flatMap(literalKeys);
    case 'pipe':
      return literalKeys(def['in'] as AnySchema);
    default:
      return [];
  }
}

/** Reads `.meta()` along the clone chain, as zod's own JSON Schema conversion does. */
export function readMeta(node: AnySchema): Record<string, unknown> {
  const chain: AnySchema[] = [];
  for (let current: AnySchema | undefined = node; current; current = current._zod.parent) chain.unshift(current);
  const merged: Record<string, unknown> = {};
  for (const link of chain) Object.assign(merged, z.globalRegistry.get(link) ?? {});
  return merged;
}

function classify(
  node: AnySchema,
  segments: ReadonlyArray<string | null>,
  at: string,
  findings: SchemaFinding[],
  classified: Map<string, ClassifiedField>,
): void {
  const meta = readMeta(node);
  const hasPii = meta['pii'] !== undefined;
  const hasSecret = meta['secret'] !== undefined;
  if (!hasPii && !hasSecret) return;
  if (hasPii && !isPiiCategory(meta['pii'])) {
    findings.push({ kind: 'invalid_classification', at, detail: `pii: ${JSON.stringify(meta['pii'])}` });
    return;
  }
  if (hasSecret && meta['secret'] !== true) {
    findings.push({ kind: 'invalid_classification', at, detail: `secret: ${JSON.stringify(meta['secret'])}` });
    return;
  }
  // Keyed on the segments: `a.b` (one key with a dot) and `a` → `b` are two fields with one display path.
  const key = JSON.stringify(segments);
  const previous = classified.get(key);
  classified.set(key, {
    path: at,
    segments: [...segments],
    ...(previous ?? {}),
    ...(hasPii ? { pii: meta['pii'] as ClassifiedField['pii'] & string } : {}),
    ...(hasSecret ? { secret: true as const } : {}),
  });
}

/**
 * Resolves a dotted path through object shapes to the schema declared there, or `undefined` when the path
 * does not name a field or passes through an optional or nullable object (then the field may be absent).
 * The field itself is returned as declared, so the caller can tell a required field from an optional one.
 */
export function schemaAtPath(schema: AnySchema, path: ReadonlyArray<string>): AnySchema | undefined {
  let current: AnySchema = schema;
  for (const segment of path) {
    const def = unwrap(current)._zod.def as Def;
    if (def.type !== 'object') return undefined;
    const shape = def['shape'] as Record<string, AnySchema>;
    if (!Object.hasOwn(shape, segment)) return undefined;
    current = shape[segment]!;
  }
  return current;
}

function unwrap(schema: AnySchema): AnySchema {
  let current = schema;
  for (;;) {
    const def = current._zod.def as Def;
    if (def.type === 'readonly') {
      current = def['innerType'] as AnySchema;
    } else if (def.type === 'pipe') {
      current = def['in'] as AnySchema;
    } else {
      return current;
    }
  }
}

/** A path as people read it: keys joined by `.`, `*` for any item or value. */
function dotted(path: ReadonlyArray<string | null>): string {
  return path.map((segment) => segment ?? '*').join('.');
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
