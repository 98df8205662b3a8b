import type { KyselyPlugin, OperationNode, PluginTransformQueryArgs, PluginTransformResultArgs, QueryResult, RootOperationNode, UnknownRow } from 'kysely';

/** A statement on a tenant table that is not confined to the caller's tenant, refused before it runs. */
export class TenantFilterMissingError extends Error {
  override readonly name = 'TenantFilterMissingError';
  readonly code = 'ERR_DB_TENANT_FILTER_MISSING' as const;
}

/** The tenant a guarded handle is confined to (`workspace: null`: every workspace of the org). */
export interface GuardedTenant {
  readonly org: string;
  readonly workspace: string | null;
}

/**
 * A kysely plugin that confines a handle to one tenant on tables whose rows carry `org` and `workspace`
 * columns. Before a statement reaches the database it walks the whole operation tree (subqueries, CTEs,
 * joins included) and refuses, with `TenantFilterMissingError` (`ERR_DB_TENANT_FILTER_MISSING`):
 *
 * - a SELECT, UPDATE or DELETE that reads one of `tables` (in FROM, a join, UPDATE's target, DELETE's
 *   USING) unless its own WHERE has, as one of its top-level AND terms, `org = <tenant's org>` (a
 *   parameter, on the column unqualified or qualified by that table's name or alias) — and, when the
 *   tenant has a workspace, `workspace = <tenant's workspace>` the same way;
 * - an INSERT into one of `tables` unless every row sets `org` (and, with a workspace, `workspace`) to the
 *   tenant's as a value (an INSERT … SELECT cannot be shown to, and is refused);
 * - raw `sql` that names one of `tables` (it cannot be analysed).
 *
 * A `null` tenant refuses every statement on `tables`. Other tables pass untouched. The guard is
 * syntactic: it proves the filter is written, not what a condition next to it (an OR above it) does. It is
 * the SQLite counterpart of PostgreSQL row-level security (ADR 0011): a handler that forgets `ofTenant`
 * fails loudly instead of reading another tenant's rows.
 *
 * @example
 * ```ts
 * const scoped = db.withPlugin(tenantGuard({ org: 'acme', workspace: 'support' }, ['helpdesk_tickets']));
 * await scoped.selectFrom('helpdesk_tickets').selectAll().execute(); // TenantFilterMissingError
 * ```
 */
export function tenantGuard(tenant: GuardedTenant | null, tables: ReadonlyArray<string>): KyselyPlugin {
  const guarded = new Set(tables);
  return {
    transformQuery({ node }: PluginTransformQueryArgs): RootOperationNode {
      walk(node as unknown as AnyNode, tenant, guarded);
      return node;
    },
    async transformResult({ result }: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
      return result;
    },
  };
}

type AnyNode = OperationNode & Record<string, unknown>;

const isNode = (value: unknown): value is AnyNode => value !== null && typeof value === 'object' && typeof (value as { kind?: unknown }).kind === 'string';

function walk(node: AnyNode, tenant: GuardedTenant | null, tables: ReadonlySet<string>): void {
  switch (node.kind) {
    case 'SelectQueryNode':
    case 'UpdateQueryNode':
    case 'DeleteQueryNode':
      checkFiltered(node, tenant, tables);
      break;
    case 'InsertQueryNode':
      checkInsert(node, tenant, tables);
      break;
    case 'RawNode':
      for (const fragment of (node['sqlFragments'] as ReadonlyArray<string> | undefined) ?? []) {
        for (const table of tables) {
          if (new RegExp(`\\b${table}\\b`, 'i').test(fragment)) refuse(`raw SQL on ${table} cannot be shown to be confined to the tenant`);
        }
      }
      break;
  }
  for (const value of Object.values(node)) {
    if (Array.isArray(value)) for (const item of value) if (isNode(item)) walk(item, tenant, tables);
    if (isNode(value)) walk(value, tenant, tables);
  }
}

/** A table reference: its name, and the name the query uses for it (alias, or the name). */
function tableOf(node: unknown): { readonly name: string; readonly as: string } | null {
  if (!isNode(node)) return null;
  if (node.kind === 'AliasNode') {
    const inner = tableOf(node['node']);
    const alias = node['alias'] as AnyNode;
    return inner === null ? null : { name: inner.name, as: String((alias['name'] as string | undefined) ?? inner.name) };
  }
  if (node.kind === 'TableNode') {
    const name = ((node['table'] as AnyNode)['identifier'] as AnyNode)['name'] as string;
    return { name, as: name };
  }
  return null;
}

function referencedTables(node: AnyNode): Array<{ readonly name: string; readonly as: string }> {
  const refs: unknown[] = [];
  const from = node['from'] as AnyNode | undefined;
  if (from !== undefined) refs.push(...((from['froms'] as unknown[] | undefined) ?? []));
  if (node.kind === 'UpdateQueryNode') refs.push(node['table']);
  const using = node['using'] as AnyNode | undefined;
  if (using !== undefined) refs.push(...((using['tables'] as unknown[] | undefined) ?? []));
  for (const join of (node['joins'] as AnyNode[] | undefined) ?? []) refs.push(join['table']);
  return refs.map(tableOf).filter((t) => t !== null);
}

function checkFiltered(node: AnyNode, tenant: GuardedTenant | null, tables: ReadonlySet<string>): void {
  const touched = referencedTables(node).filter((t) => tables.has(t.name));
  if (touched.length === 0) return;
  const statement = node.kind.replace('QueryNode', '').toUpperCase();
  if (tenant === null) refuse(`${statement} on ${touched[0]!.name} without a tenant`);
  const where = node['where'] as AnyNode | undefined;
  const terms = where === undefined ? [] : conjuncts(where['where'] as AnyNode);
  for (const table of touched) {
    if (!terms.some((term) => equals(term, table.as, 'org', tenant.org))) {
      refuse(`${statement} on ${table.name} has no WHERE org = <the tenant's org>`);
    }
    if (tenant.workspace !== null && !terms.some((term) => equals(term, table.as, 'workspace', tenant.workspace))) {
      refuse(`${statement} on ${table.name} has no WHERE workspace = <the tenant's workspace>`);
    }
  }
}

/** The top-level AND terms of a condition. */
function conjuncts(node: AnyNode): AnyNode[] {
  if (node.kind === 'AndNode') return [...conjuncts(node['left'] as AnyNode), ...conjuncts(node['right'] as AnyNode)];
  if (node.kind === 'ParensNode') return conjuncts(node['node'] as AnyNode);
  return [node];
}

/** Whether `term` is `<table.>column = value` (either way round), the column unqualified or qualified by `table`. */
function equals(term: AnyNode, table: string, column: string, value: string | null): boolean {
  if (term.kind !== 'BinaryOperationNode' || (term['operator'] as AnyNode)['operator'] !== '=') return false;
  const left = term['leftOperand'] as AnyNode;
  const right = term['rightOperand'] as AnyNode;
  return (isColumn(left, table, column) && isValue(right, value)) || (isColumn(right, table, column) && isValue(left, value));
}

function isColumn(node: AnyNode, table: string, column: string): boolean {
  let col: AnyNode = node;
  let qualifier: string | undefined;
  if (node.kind === 'ReferenceNode') {
    col = node['column'] as AnyNode;
    const t = tableOf(node['table']);
    qualifier = t?.name;
  }
  if (col.kind !== 'ColumnNode') return false;
  const name = (col['column'] as AnyNode)['name'];
  return name === column && (qualifier === undefined || qualifier === table);
}

function isValue(node: AnyNode, value: string | null): boolean {
  return node.kind === 'ValueNode' && node['value'] === value;
}

function checkInsert(node: AnyNode, tenant: GuardedTenant | null, tables: ReadonlySet<string>): void {
  const into = tableOf(node['into']);
  if (into === null || !tables.has(into.name)) return;
  if (tenant === null) refuse(`INSERT into ${into.name} without a tenant`);
  const columns = ((node['columns'] as AnyNode[] | undefined) ?? []).map((c) => (c['column'] as AnyNode)['name'] as string);
  const values = node['values'] as AnyNode | undefined;
  if (values === undefined || values.kind !== 'ValuesNode') refuse(`INSERT into ${into.name} whose rows cannot be shown to be the tenant's`);
  const required: Array<[string, string]> = [['org', tenant.org]];
  if (tenant.workspace !== null) required.push(['workspace', tenant.workspace]);
  for (const row of values['values'] as AnyNode[]) {
    const cells: unknown[] =
      row.kind === 'PrimitiveValueListNode'
        ? [...(row['values'] as unknown[])]
        : (row['values'] as AnyNode[]).map((cell) => (cell.kind === 'ValueNode' ? cell['value'] : cell));
    for (const [column, expected] of required) {
      const index = columns.indexOf(column);
      if (index === -1 || cells[index] !== expected) refuse(`INSERT into ${into.name} with ${column} other than the tenant's`);
    }
  }
}

function refuse(message: string): never {
  throw new TenantFilterMissingError(`tenant guard: ${message}`);
}
