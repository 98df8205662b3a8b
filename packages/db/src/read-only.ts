import type { KyselyPlugin, OperationNode, PluginTransformQueryArgs, PluginTransformResultArgs, QueryResult, RootOperationNode, UnknownRow } from 'kysely';

/** A write (or a statement that cannot be shown to be a read) through a read-only handle. */
export class ReadOnlyViolationError extends Error {
  override readonly name = 'ReadOnlyViolationError';
  readonly code = 'ERR_DB_READ_ONLY' as const;
}

/**
 * A kysely plugin that lets SELECT statements through and refuses everything else before it reaches the
 * database: INSERT, UPDATE, DELETE, MERGE, DDL, and raw `sql` (which cannot be shown to be a read), and a
 * SELECT whose WITH clause holds a data-modifying statement (PostgreSQL allows those).
 *
 * The service gives handlers of unaudited procedures `db.withPlugin(readOnly())` as `ctx.db`: their writes
 * would bypass audit-before-action, so they are refused rather than trusted to be absent.
 *
 * @example
 * ```ts
 * const runtime = createCovenantRuntime({ …, database: db.withPlugin(readOnly()) });
 * ```
 */
export function readOnly(): KyselyPlugin {
  return {
    transformQuery({ node }: PluginTransformQueryArgs): RootOperationNode {
      assertRead(node);
      return node;
    },
    async transformResult({ result }: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
      return result;
    },
  };
}

function assertRead(node: RootOperationNode): void {
  if (node.kind !== 'SelectQueryNode') {
    throw new ReadOnlyViolationError(`this database handle is read-only: ${describe(node)} refused`);
  }
  for (const cte of node.with?.expressions ?? []) {
    const inner = cte.expression as OperationNode;
    if (inner.kind !== 'SelectQueryNode') throw new ReadOnlyViolationError(`this database handle is read-only: ${describe(inner)} in a WITH clause refused`);
  }
}

function describe(node: OperationNode): string {
  return node.kind.replace(/QueryNode$|Node$/, '').replace(/([a-z])([A-Z])/g, '$1 $2').toUpperCase();
}
