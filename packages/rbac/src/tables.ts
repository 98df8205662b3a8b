/** The RBAC tables as kysely sees them (see `@covenant/db`'s 0001-rbac migration). */
export interface RbacTables {
  rbac_capabilities: { name: string; source: 'contract' | 'registered'; description: string | null };
  rbac_roles: { id: string; org: string; name: string; description: string | null; created_at: string };
  rbac_role_capabilities: { role_id: string; capability: string };
  rbac_bindings: {
    id: string;
    org: string;
    workspace: string | null;
    subject: string;
    role_id: string;
    effect: 'allow' | 'deny';
    resource_type: string | null;
    resource_id: string | null;
    expires_at: string | null;
    created_at: string;
    created_by: string;
  };
  rbac_epochs: { org: string; epoch: number };
  rbac_changes: {
    seq: import('kysely').Generated<number>;
    org: string;
    actor: string;
    action: string;
    outcome: 'applied' | 'refused';
    reason: string;
    before: string | null;
    after: string | null;
    request_id: string | null;
    at: string;
  };
}
