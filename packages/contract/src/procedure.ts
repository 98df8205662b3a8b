import type * as z from 'zod';

/**
 * Where a resource-scoped procedure finds the resource in its input: `{ type: 'ticket', id: 'ticketId' }`
 * means the authorization check is made on `ticket:<input.ticketId>`. `id` is a dotted path into the input.
 */
export interface ResourceRef {
  readonly type: string;
  readonly id: string;
}

/** An error a handler may raise on purpose. Only declared errors reach the client with their message. */
export interface ErrorDeclaration {
  /** 400 bad request, 404 not found, 409 conflict, 412 precondition failed, 422 unprocessable, 429 too many. */
  readonly status: DeclarableStatus;
  /** Fixed, safe text: it goes on the wire as it is. */
  readonly message: string;
}

export const DECLARABLE_STATUSES = Object.freeze([400, 404, 409, 412, 422, 429] as const);
export type DeclarableStatus = (typeof DECLARABLE_STATUSES)[number];

export type ErrorDeclarations = { readonly [code: string]: ErrorDeclaration };

interface CommonOptions<I extends z.ZodType, O extends z.ZodType, E extends ErrorDeclarations> {
  readonly input: I;
  readonly output: O;
  /** One line for the generated docs. */
  readonly summary?: string;
  readonly errors?: E;
  /** Write intent and outcome entries to the audit ledger. Mutations default to `true`, queries to `false`. */
  readonly audit?: boolean;
}

/** An authenticated procedure names exactly one of `capability` or `anyPrincipal`. */
export type AuthenticatedSecurity =
  | {
      readonly requireAuth?: true;
      readonly capability: string;
      readonly anyPrincipal?: never;
      readonly resource?: ResourceRef;
    }
  | {
      readonly requireAuth?: true;
      /** Any verified principal may call it: an explicit choice, never a default. */
      readonly anyPrincipal: true;
      readonly capability?: never;
      readonly resource?: never;
    };

/** Public: legal only with a reviewed sanction whose hash matches this definition (`covenant lint`). */
export interface PublicSecurity {
  readonly requireAuth: false;
  readonly capability?: never;
  readonly anyPrincipal?: never;
  readonly resource?: never;
}

/**
 * The security half of a definition. The union makes the common mistakes type errors: an authenticated
 * procedure names exactly one of `capability` or `anyPrincipal`; a public one names neither. Because a
 * spread or a helper can still produce any shape at run time, `defineContract` checks the resolved values
 * again and the lint reads them too.
 */
export type SecurityOptions = AuthenticatedSecurity | PublicSecurity;

export type ProcedureOptions<
  I extends z.ZodType,
  O extends z.ZodType,
  E extends ErrorDeclarations,
> = CommonOptions<I, O, E> & SecurityOptions;

export type ProcedureKind = 'query' | 'mutation';

/** The security metadata after defaults are applied: what enforcement, manifest and lint all read. */
export interface ResolvedSecurity {
  readonly requireAuth: boolean;
  readonly capability: string | null;
  readonly anyPrincipal: boolean;
  readonly resource: ResourceRef | null;
  readonly audit: boolean;
}

/** Everything Covenant knows about one procedure. Lives under `'~covenant'` so it cannot collide with user keys. */
export interface ProcedureDef<
  K extends ProcedureKind = ProcedureKind,
  I extends z.ZodType = z.ZodType,
  O extends z.ZodType = z.ZodType,
  E extends ErrorDeclarations = ErrorDeclarations,
  A extends boolean = boolean,
> {
  /** Type-only: whether the types promise a principal to the handler. Enforcement reads `security`. */
  readonly '~authenticated'?: A;
  readonly type: 'procedure';
  readonly kind: K;
  readonly input: I;
  readonly output: O;
  readonly summary: string | null;
  readonly errors: E;
  readonly security: ResolvedSecurity;
  /** The options exactly as written, for checks that must see keys the types do not allow. */
  readonly options: Readonly<Record<string, unknown>>;
}

export interface Procedure<
  K extends ProcedureKind = ProcedureKind,
  I extends z.ZodType = z.ZodType,
  O extends z.ZodType = z.ZodType,
  E extends ErrorDeclarations = ErrorDeclarations,
  A extends boolean = boolean,
> {
  readonly '~covenant': ProcedureDef<K, I, O, E, A>;
}

/** The keys a procedure definition may have; anything else is refused rather than silently ignored. */
export const PROCEDURE_OPTION_KEYS: ReadonlySet<string> = new Set([
  'input',
  'output',
  'summary',
  'errors',
  'audit',
  'requireAuth',
  'capability',
  'anyPrincipal',
  'resource',
]);

/**
 * Declares a read-only procedure.
 *
 * @example
 * ```ts
 * const get = query({
 *   input: z.strictObject({ ticketId: z.string() }),
 *   output: Ticket,
 *   capability: 'tickets.read',
 *   resource: { type: 'ticket', id: 'ticketId' },
 * });
 * ```
 */
export function query<I extends z.ZodType, O extends z.ZodType, const E extends ErrorDeclarations = {}>(
  options: CommonOptions<I, O, E> & PublicSecurity,
): Procedure<'query', I, O, E, false>;
export function query<I extends z.ZodType, O extends z.ZodType, const E extends ErrorDeclarations = {}>(
  options: CommonOptions<I, O, E> & AuthenticatedSecurity,
): Procedure<'query', I, O, E, true>;
export function query(options: ProcedureOptions<z.ZodType, z.ZodType, ErrorDeclarations>): Procedure {
  return createProcedure('query', options);
}

/**
 * Declares a procedure that changes state. Mutations are audited unless `audit: false` says otherwise.
 *
 * @example
 * ```ts
 * const create = mutation({
 *   input: z.strictObject({ title: z.string().min(1).max(200) }),
 *   output: z.object({ id: z.string() }),
 *   capability: 'tickets.write',
 * });
 * ```
 */
export function mutation<I extends z.ZodType, O extends z.ZodType, const E extends ErrorDeclarations = {}>(
  options: CommonOptions<I, O, E> & PublicSecurity,
): Procedure<'mutation', I, O, E, false>;
export function mutation<I extends z.ZodType, O extends z.ZodType, const E extends ErrorDeclarations = {}>(
  options: CommonOptions<I, O, E> & AuthenticatedSecurity,
): Procedure<'mutation', I, O, E, true>;
export function mutation(options: ProcedureOptions<z.ZodType, z.ZodType, ErrorDeclarations>): Procedure {
  return createProcedure('mutation', options);
}

function createProcedure(
  kind: ProcedureKind,
  options: ProcedureOptions<z.ZodType, z.ZodType, ErrorDeclarations>,
): Procedure {
  // Caller misuse (not a definition that breaks a policy rule) is a TypeError, as in jose.
  if (options === null || typeof options !== 'object') {
    throw new TypeError(`${kind}() expects an options object`);
  }
  // One snapshot of the options, nested declarations copied too: what `defineContract` validates is
  // exactly what enforcement uses, whatever the caller does with its objects afterwards.
  const raw: Record<string, unknown> = { ...options };
  if (isPlainObject(raw['resource'])) raw['resource'] = Object.freeze({ ...raw['resource'] });
  if (isPlainObject(raw['errors'])) {
    raw['errors'] = Object.freeze(
      Object.fromEntries(
        Object.entries(raw['errors']).map(([code, declaration]) => [
          code,
          isPlainObject(declaration) ? Object.freeze({ ...declaration }) : declaration,
        ]),
      ),
    );
  }
  if (!isZodSchema(raw['input'])) throw new TypeError(`${kind}(): "input" must be a zod schema`);
  if (!isZodSchema(raw['output'])) throw new TypeError(`${kind}(): "output" must be a zod schema`);

  const security: ResolvedSecurity = Object.freeze({
    // Anything but a literal `false` means authenticated: fail closed on `undefined`, `0`, `'false'` …
    requireAuth: raw['requireAuth'] !== false,
    capability: typeof raw['capability'] === 'string' ? raw['capability'] : null,
    anyPrincipal: raw['anyPrincipal'] === true,
    resource: isResourceRef(raw['resource']) ? raw['resource'] : null,
    audit: typeof raw['audit'] === 'boolean' ? raw['audit'] : kind === 'mutation',
  });
  const def: ProcedureDef = Object.freeze({
    type: 'procedure',
    kind,
    input: options.input,
    output: options.output,
    summary: typeof raw['summary'] === 'string' ? raw['summary'] : null,
    errors: isPlainObject(raw['errors']) ? (raw['errors'] as ErrorDeclarations) : Object.freeze({}),
    security,
    options: Object.freeze(raw),
  });
  return Object.freeze({ '~covenant': def });
}

export function isProcedure(value: unknown): value is Procedure {
  return (
    value !== null &&
    typeof value === 'object' &&
    (value as { '~covenant'?: { type?: unknown } })['~covenant']?.type === 'procedure'
  );
}

export function isZodSchema(value: unknown): value is z.ZodType {
  return value !== null && typeof value === 'object' && '_zod' in value && typeof (value as z.ZodType).safeParse === 'function';
}

function isResourceRef(value: unknown): value is ResourceRef {
  return (
    value !== null &&
    typeof value === 'object' &&
    typeof (value as ResourceRef).type === 'string' &&
    typeof (value as ResourceRef).id === 'string'
  );
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const prototype = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}
