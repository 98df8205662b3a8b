import { defineContract, mutation, query } from '@covenant/contract';
import { BindingRecord, RoleRecord } from '@covenant/rbac/records';
import * as z from 'zod';

/**
 * RBAC administration: an org's roles, its bindings (subject → role, optionally in one workspace, on one
 * resource or every resource of a type, until an expiry) and the record of every change.
 *
 * There is no org in any input: every procedure acts on the org of the verified caller, so a caller can
 * neither read nor edit another tenant's policy, whatever ids it sends (another org's ids are simply not
 * found). The workspace a binding is limited to is `inWorkspace`, because `workspaceId` is a tenancy key
 * and refused in inputs.
 *
 * Every change names a `reason`, kept with who made it and a before/after diff. A caller cannot hand out
 * (through a grant, a deny or a role edit) capabilities it does not hold itself: that is refused with 403
 * ERR_RBAC_ESCALATION_REFUSED. It changes bindings only where it holds `rbac.bindings.manage` (a binding
 * limited to a workspace: in that workspace; any other: org-wide), roles only with `rbac.roles.manage`
 * org-wide, and nothing outside the workspace its session is bound to: else 403 ERR_RBAC_SCOPE_REFUSED.
 * No change may leave the org with nobody holding `rbac.bindings.manage` org-wide for good: 409
 * ORG_UNMANAGEABLE. Every refusal is recorded as a refused change.
 *
 * The records (roles, bindings) are the RBAC store's own schemas (`@covenant/rbac/records`), so the store,
 * its ledger entries and this contract classify the same fields: a binding's subject, a role's description.
 */

/** A sentence for the change record. Free text: classified, so the audit trail redacts it. */
const Reason = z.string().trim().min(3).max(500).meta({ pii: 'free-text' });
/** Role names are lower-case identifiers, unique in the org (the store uses the same rule). */
const RoleName = z.string().regex(/^[a-z][a-z0-9-]{0,63}$/, 'lower-case letters, digits and dashes, starting with a letter');
const Id = z.string().min(1).max(128);
/** A principal's subject, as the identity provider puts it in the token's `sub`. */
const Subject = z.string().min(1).max(255).meta({ pii: 'identifier' });
const Capability = z.string().min(3).max(128);
const Capabilities = z.array(Capability).max(200);
/** Free text that may name people: classified, so the audit trail redacts it. */
const Description = z.string().max(500).meta({ pii: 'free-text' });

const Change = z.object({
  seq: z.number().int(),
  actor: z.string(),
  action: z.string(),
  outcome: z.enum(['applied', 'refused']),
  reason: z.string().meta({ pii: 'free-text' }),
  before: z.unknown(),
  after: z.unknown(),
  requestId: z.string().nullable(),
  at: z.string(),
});

const ROLE_NOT_FOUND = { status: 404, message: 'No such role in your organisation' } as const;
const ROLE_EXISTS = { status: 409, message: 'A role with this name already exists in your organisation' } as const;
const BINDING_NOT_FOUND = { status: 404, message: 'No such binding in your organisation' } as const;
const UNKNOWN_CAPABILITY = { status: 422, message: 'A capability is not in the catalogue: no procedure declares it' } as const;
const ORG_UNMANAGEABLE = {
  status: 409,
  message: 'The change would leave your organisation with nobody able to manage its bindings',
} as const;
const INVALID_BINDING = {
  status: 422,
  message: 'The binding is invalid: subject and workspace are identifiers, a resource is { type, id } with id an identifier or "*", expiry before year 10000',
} as const;

export const rbac = defineContract('rbac', {
  roles: {
    list: query({
      summary: "The roles of the caller's organisation, with their capabilities.",
      input: z.strictObject({}),
      output: z.object({ roles: z.array(RoleRecord) }),
      capability: 'rbac.roles.read',
    }),
    create: mutation({
      summary: 'Creates a role from capabilities in the catalogue; the caller must hold each of them, org-wide.',
      input: z.strictObject({
        name: RoleName,
        description: Description.optional(),
        capabilities: Capabilities,
        reason: Reason,
      }),
      output: RoleRecord,
      capability: 'rbac.roles.manage',
      errors: { ROLE_EXISTS, UNKNOWN_CAPABILITY },
    }),
    update: mutation({
      summary: "Replaces a role's description and/or capabilities; added capabilities must be held by the caller.",
      input: z.strictObject({
        roleId: Id,
        description: Description.nullable().optional(),
        capabilities: Capabilities.optional(),
        reason: Reason,
      }),
      output: RoleRecord,
      capability: 'rbac.roles.manage',
      errors: { ROLE_NOT_FOUND, UNKNOWN_CAPABILITY, ORG_UNMANAGEABLE },
    }),
    delete: mutation({
      summary: 'Deletes a role and every binding to it.',
      input: z.strictObject({ roleId: Id, reason: Reason }),
      output: z.object({ id: z.string(), deleted: z.literal(true) }),
      capability: 'rbac.roles.manage',
      errors: { ROLE_NOT_FOUND, ORG_UNMANAGEABLE },
    }),
  },
  bindings: {
    list: query({
      summary: "The bindings of the caller's organisation, optionally only one subject's.",
      input: z.strictObject({ subject: Subject.optional() }),
      output: z.object({ bindings: z.array(BindingRecord) }),
      capability: 'rbac.bindings.read',
    }),
    grant: mutation({
      summary: "Binds a subject to a role of the caller's organisation; an allow or deny may not reach beyond what the caller holds.",
      input: z.strictObject({
        subject: Subject,
        roleId: Id,
        effect: z.enum(['allow', 'deny']).default('allow'),
        inWorkspace: z.string().min(1).max(255).optional(),
        resource: z.strictObject({ type: z.string().min(1).max(64), id: z.string().min(1).max(128) }).optional(),
        expiresAt: z.iso.datetime({ offset: true }).optional(),
        reason: Reason,
      }),
      output: BindingRecord,
      capability: 'rbac.bindings.manage',
      errors: { ROLE_NOT_FOUND, INVALID_BINDING, ORG_UNMANAGEABLE },
    }),
    revoke: mutation({
      summary: 'Removes a binding; it stops applying to every check that starts after this call returns.',
      input: z.strictObject({ bindingId: Id, reason: Reason }),
      output: z.object({ id: z.string(), revoked: z.literal(true) }),
      capability: 'rbac.bindings.manage',
      errors: { BINDING_NOT_FOUND, ORG_UNMANAGEABLE },
    }),
  },
  changes: {
    list: query({
      summary: "The latest recorded changes (applied and refused) to the caller's organisation's policy, newest first.",
      input: z.strictObject({ limit: z.number().int().min(1).max(200).default(50) }),
      output: z.object({ changes: z.array(Change) }),
      capability: 'rbac.changes.read',
    }),
  },
});
