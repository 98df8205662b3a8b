/** The benchmark cases: what each server serves and what the load generator sends it. */
/** `covenant-trpc`: the same Covenant service served through tRPC's own Node adapter instead of Covenant's wire listener. */
export type ServerKind = 'raw' | 'trpc' | 'orpc' | 'covenant' | 'covenant-trpc';

export interface CaseDef {
  readonly name: string;
  readonly server: ServerKind;
  /** Which baseline group this case belongs to (ratios compare like with like: query vs query, mutation vs mutation). */
  readonly shape: 'query' | 'mutation';
  readonly method: 'GET' | 'POST';
  /** Path (with query string for GET). For Covenant cases `{ticketId}` is replaced by the seeded ticket's id. */
  readonly path: string;
  readonly body?: string;
  /** Covenant only: `warm` sends the same token on every request; `cold` a different pre-minted token per request. */
  readonly token?: 'warm' | 'cold';
  readonly what: string;
}

const enc = (value: unknown): string => encodeURIComponent(JSON.stringify(value));

export const CASES: ReadonlyArray<CaseDef> = [
  { name: 'raw node:http', server: 'raw', shape: 'query', method: 'GET', path: '/hello', what: 'fixed JSON body, no framework (the floor)' },
  { name: 'bare tRPC query', server: 'trpc', shape: 'query', method: 'GET', path: `/hello?input=${enc({})}`, what: 'tRPC v11 standalone adapter, trivial query' },
  {
    name: 'bare tRPC mutation',
    server: 'trpc',
    shape: 'mutation',
    method: 'POST',
    path: '/create',
    body: JSON.stringify({ title: 'bench', priority: 'high' }),
    what: 'tRPC v11 standalone adapter, zod-validated mutation',
  },
  {
    name: 'bare oRPC query',
    server: 'orpc',
    shape: 'query',
    method: 'POST',
    path: '/rpc/hello',
    body: JSON.stringify({ json: {} }),
    what: 'oRPC RPCHandler (Node), trivial procedure, default POST',
  },
  {
    name: 'bare oRPC mutation',
    server: 'orpc',
    shape: 'mutation',
    method: 'POST',
    path: '/rpc/create',
    body: JSON.stringify({ json: { title: 'bench', priority: 'high' } }),
    what: 'oRPC RPCHandler (Node), zod-validated procedure',
  },
  {
    name: 'Covenant query (warm token)',
    server: 'covenant',
    shape: 'query',
    method: 'GET',
    path: '/tickets.get?input={ticketInput}',
    token: 'warm',
    what: 'helpdesk tickets.get: token verified (EdDSA), tenancy, capability tickets.read, SQLite read',
  },
  {
    name: 'Covenant query (cold token)',
    server: 'covenant',
    shape: 'query',
    method: 'GET',
    path: '/tickets.get?input={ticketInput}',
    token: 'cold',
    what: 'as above, a different pre-minted token per request',
  },
  {
    name: "Covenant query via tRPC's adapter (warm token)",
    server: 'covenant-trpc',
    shape: 'query',
    method: 'GET',
    path: '/tickets.get?input={ticketInput}',
    token: 'warm',
    what: "the same service and call, served by tRPC's standalone adapter (transport: 'trpc'): what Covenant's wire listener saves",
  },
  {
    name: 'Covenant audited mutation (warm token)',
    server: 'covenant',
    shape: 'mutation',
    method: 'POST',
    path: '/comments.add',
    body: '{commentBody}',
    token: 'warm',
    what: 'helpdesk comments.add: durable intent before the action, outcome committed with the effects',
  },
  {
    name: 'Covenant audited mutation (cold token)',
    server: 'covenant',
    shape: 'mutation',
    method: 'POST',
    path: '/comments.add',
    body: '{commentBody}',
    token: 'cold',
    what: 'as above, a different pre-minted token per request',
  },
];

/** Messages from a server child to the runner. */
export type ServerMessage =
  | { readonly type: 'ready'; readonly port: number; readonly tokens: ReadonlyArray<string>; readonly vars: Readonly<Record<string, string>> }
  | { readonly type: 'cpu'; readonly id: number; readonly cpuMicros: number; readonly requests: number }
  | { readonly type: 'profiled'; readonly file: string; readonly requests: number };

/** Messages from the runner (or the profiler) to a server child. */
export type RunnerMessage =
  | { readonly type: 'cpu'; readonly id: number }
  | { readonly type: 'stop' }
  | { readonly type: 'profile-start' }
  | { readonly type: 'profile-stop'; readonly file: string };
