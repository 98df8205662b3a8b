import { AuditUnavailableError, type AuditPort, type AuthorizationPort } from '@covenant/server';

/**
 * Until the RBAC and ledger packages exist, this service serves only procedures that need neither
 * (a sanctioned public one and an any-principal one). These ports make that explicit and fail closed:
 * a capability check is denied, an audited call is refused with 503. They are not defaults anyone gets
 * by accident: the runtime cannot be assembled without naming a port.
 */
export const denyAllAuthorization: AuthorizationPort = {
  check: ({ capability, resource }) => ({ allowed: false, code: 'authz.no_policy_store', capability, resource }),
};

export const noLedgerAudit: AuditPort = {
  audited: async () => {
    throw new AuditUnavailableError();
  },
  recordDenial: async () => {},
};
