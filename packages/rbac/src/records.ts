import * as z from 'zod';

// The records the RBAC store returns and keeps, as zod schemas carrying their data classification. Shared
// by two readers that must agree: the `rbac` platform contract (its outputs are these records) and the
// store's ledger entries (`changeEntry` redacts what these schemas classify before anything reaches the
// append-only log). This module imports zod only, so a contract can import it without pulling in the store
// (packages/rbac/test/records.test.ts holds it to that).

/** A principal's subject, as the identity provider puts it in the token's `sub`: it identifies a person. */
const Subject = z.string().meta({ pii: 'identifier' });
/** Who made a binding: `user:<subject>` or `operator:<name>`, an identifier of a person too. */
const Actor = z.string().meta({ pii: 'identifier' });
/** A role's description is free text: it may name people ("Dana's on-call cover"). */
const Description = z.string().meta({ pii: 'free-text' });

/** `ticket:123`, or `ticket:*` for every resource of the type. */
export const ResourceScopeRecord = z.object({ type: z.string(), id: z.string() });

/** A role as the store returns it (`Role`). */
export const RoleRecord = z.object({
  id: z.string(),
  name: z.string(),
  description: Description.nullable(),
  capabilities: z.array(z.string()),
  createdAt: z.string(),
});

/** A binding as the store returns it (`Binding`). */
export const BindingRecord = z.object({
  id: z.string(),
  subject: Subject,
  roleId: z.string(),
  effect: z.enum(['allow', 'deny']),
  workspace: z.string().nullable(),
  resource: ResourceScopeRecord.nullable(),
  expiresAt: z.string().nullable(),
  createdAt: z.string(),
  createdBy: Actor,
});

/** What a refused change records as its `after`: what was attempted and why it was refused. */
const RefusalRecord = z.object({
  attempted: z.object({ subject: Subject.optional(), description: Description.nullable().optional() }).catchall(z.unknown()),
  missing: z.array(z.string()).optional(),
  code: z.string().optional(),
});

/**
 * Every value a change record's `before` or `after` holds (besides `null`), one option per shape: a role
 * (roles.create, roles.update, tenant.extend_bootstrap_role), a binding (bindings.grant, bindings.revoke),
 * a deleted role with the bindings it took along (roles.delete), the bootstrap's and the recovery's role and
 * binding (tenant.bootstrap; tenant.recover, before: the role as it was and the denies it lifts), and a
 * refusal. The ledger redacts a change's values by the fields classified anywhere in this union.
 */
export const ChangeValueRecord = z.union([
  RoleRecord,
  BindingRecord,
  z.object({ role: RoleRecord, bindings: z.array(BindingRecord) }),
  z.object({ role: RoleRecord, binding: BindingRecord }),
  z.object({ role: RoleRecord.nullable(), denies: z.array(BindingRecord) }),
  RefusalRecord,
]);
