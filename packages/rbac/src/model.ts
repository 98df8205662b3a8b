/** A role: a named set of capabilities, owned by one org. */
export interface Role {
  readonly id: string;
  readonly name: string;
  readonly description: string | null;
  readonly capabilities: ReadonlyArray<string>;
  readonly createdAt: string;
}

/** `ticket:123`, or `ticket:*` for every resource of the type. */
export interface ResourceScope {
  readonly type: string;
  readonly id: string;
}

/**
 * A subject bound to a role in an org, optionally only in one workspace, only on one resource (or every
 * resource of a type), and only until `expiresAt`. A `deny` binding takes the role's capabilities away
 * in its scope, whatever any allow says.
 */
export interface Binding {
  readonly id: string;
  readonly subject: string;
  readonly roleId: string;
  readonly effect: 'allow' | 'deny';
  readonly workspace: string | null;
  readonly resource: ResourceScope | null;
  readonly expiresAt: string | null;
  readonly createdAt: string;
  readonly createdBy: string;
}

/** Who changes the policy, and why: every change record carries both. */
export interface RbacActor {
  /** `user:<subject>` for a principal, `operator:<name>` for the bootstrap command. */
  readonly id: string;
  /** The principal, when a user acts: its capabilities bound what it may grant, and where. */
  readonly subject: string | null;
  /**
   * The workspace the principal's session is bound to (`ctx.tenant.workspace`), or `null` for an org-wide
   * session: a principal whose token names a workspace changes nothing outside it, whatever it holds.
   */
  readonly workspace: string | null;
  readonly requestId: string | null;
}

/** One recorded change (or refused change) to an org's policy. */
export interface ChangeRecord {
  readonly seq: number;
  readonly actor: string;
  readonly action: string;
  readonly outcome: 'applied' | 'refused';
  readonly reason: string;
  readonly before: unknown;
  readonly after: unknown;
  readonly requestId: string | null;
  readonly at: string;
}
