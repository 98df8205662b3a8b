import { RbacChangeError } from '@covenant/rbac';
import type { createClient } from './generated/client.ts';
import type { Service } from './service.ts';

/** A typed API client acting as one demo user (over HTTP, or in-process through the same pipeline). */
export type ApiAs = (user: DemoUser) => Promise<ReturnType<typeof createClient>>;

export interface DemoUser {
  readonly subject: string;
  readonly org: string;
  /** `null`: an org-wide token (the org's admins). */
  readonly workspace: string | null;
  readonly role: 'admin' | 'supervisor' | 'agent';
}

/**
 * The demo tenants: two orgs, so that tenancy is visible. Each org's admin is bootstrapped explicitly
 * (recorded as `operator:npm-start`); everything else is created by that admin through the API, so every
 * role, binding, customer and ticket below is on the audit ledger like any other call.
 */
export const DEMO_USERS: ReadonlyArray<DemoUser> = Object.freeze([
  { subject: 'ada', org: 'acme', workspace: null, role: 'admin' },
  { subject: 'sam', org: 'acme', workspace: 'support', role: 'supervisor' },
  { subject: 'ann', org: 'acme', workspace: 'support', role: 'agent' },
  { subject: 'bob', org: 'acme', workspace: 'billing', role: 'agent' },
  { subject: 'gia', org: 'globex', workspace: null, role: 'admin' },
  { subject: 'gus', org: 'globex', workspace: 'support', role: 'agent' },
]);

export const demoUser = (subject: string): DemoUser => {
  const user = DEMO_USERS.find((u) => u.subject === subject);
  if (user === undefined) throw new TypeError(`no demo user "${subject}" (one of ${DEMO_USERS.map((u) => u.subject).join(', ')})`);
  return user;
};

const AGENT = ['tickets.read', 'tickets.write', 'comments.write', 'customers.read', 'customers.write'];
const SUPERVISOR = [...AGENT, 'tickets.close'];

/**
 * Seeds the demo orgs on first run; an org that already has roles is left alone (a second start reuses
 * the data). Returns the orgs it seeded.
 */
export async function seedDemo(service: Pick<Service, 'rbac' | 'ledger'>, as: ApiAs): Promise<string[]> {
  const seeded: string[] = [];
  for (const org of [...new Set(DEMO_USERS.map((u) => u.org))]) {
    if ((await service.rbac.listRoles(org)).length > 0) continue;
    const admin = DEMO_USERS.find((u) => u.org === org && u.role === 'admin')!;
    try {
      await service.ledger.transact((tx) =>
        service.rbac.bind(tx.db).bootstrapTenant('npm-start', org, admin.subject, `development mode: first admin of the demo org ${org}`),
      );
    } catch (error) {
      // Another process on the same database got there first: it seeds this org.
      if (error instanceof RbacChangeError && error.code === 'TENANT_ALREADY_BOOTSTRAPPED') continue;
      throw error;
    }
    const api = await as(admin);
    const agent = await api.rbac.roles.create.mutate({ name: 'agent', capabilities: AGENT, reason: 'demo seed: helpdesk agents' });
    const supervisor = await api.rbac.roles.create.mutate({ name: 'supervisor', capabilities: SUPERVISOR, reason: 'demo seed: helpdesk supervisors' });
    for (const user of DEMO_USERS.filter((u) => u.org === org && u.role !== 'admin')) {
      await api.rbac.bindings.grant.mutate({
        subject: user.subject,
        roleId: user.role === 'supervisor' ? supervisor.id : agent.id,
        inWorkspace: user.workspace!,
        reason: `demo seed: ${user.role} in ${user.workspace}`,
      });
    }
    const firstAgent = DEMO_USERS.find((u) => u.org === org && u.role !== 'admin')!;
    const desk = await as(firstAgent);
    const customer =
      org === 'acme'
        ? { name: 'Grace Hopper', email: 'grace@example.com', phone: '+1 555 0100' }
        : { name: 'Alan Turing', email: 'alan@example.org' };
    await desk.tickets.create.mutate({
      customer: { new: customer },
      subject: org === 'acme' ? 'Printer on fire' : 'Cannot sign in',
      body: 'Reported by phone; please call back.',
      priority: 'high',
    });
    seeded.push(org);
  }
  return seeded;
}
