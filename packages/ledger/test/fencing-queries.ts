import type {
  KyselyPlugin,
  OperationNode,
  PluginTransformQueryArgs,
  PluginTransformResultArgs,
  QueryResult,
  RootOperationNode,
  UnknownRow,
} from 'kysely';

/** Counts the fencing queries (raw SQL on pg_locks) sent through a handle. */
export class FencingQueries implements KyselyPlugin {
  count = 0;

  transformQuery({ node }: PluginTransformQueryArgs): RootOperationNode {
    const fragments = (node as OperationNode & { sqlFragments?: ReadonlyArray<string> }).sqlFragments;
    if (node.kind === 'RawNode' && fragments?.some((fragment) => fragment.includes('pg_locks'))) this.count += 1;
    return node;
  }

  async transformResult({ result }: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
    return result;
  }
}
