import { decodeEntry } from '@covenant/ledger';
import type { ConformanceHarness, ConformanceLedgerEntry, ConformanceProcedure, TenantSide } from '@covenant/testkit/conformance';
import { SERVED_CAPABILITIES } from '../src/service.ts';
import { startHelpdesk, type Helpdesk } from './helpdesk-harness.ts';

/**
 * The helpdesk's conformance harness (`covenant.conformance.harness` in the root package.json): the app as
 * `npm start` runs it (startHelpdesk: the demo orgs acme and globex seeded through the API), over HTTP.
 *
 * - Home tenant acme/support, other tenant globex/support.
 * - Principals are made per capability through the rbac API by each org's admin (ada, gia): `allowed`
 *   holds exactly the capability, `lacking` every served capability but it, both bound in the support
 *   workspace, so each test shows what one capability does. Roles belong to the org, so a holder of
 *   `rbac.roles.manage` is bound (and its token issued) org-wide: the store refuses a role change by a
 *   principal that manages roles in one workspace only. Bindings granted and revoked for the tests are
 *   in the support workspace, where the holder of `rbac.bindings.manage` manages them.
 * - Inputs name resources created for the call (a fresh open ticket for each `tickets.close`, a fresh role
 *   for each `rbac.roles.delete`), by the org's agent (ann, gus) or admin; names and emails are unique.
 * - The home tenant's markers are read from the database: every id of acme's rows and roles and bindings,
 *   its customers' emails, its long subjects and the request ids of its ledger entries.
 */
export async function createConformanceHarness(): Promise<ConformanceHarness> {
  const helpdesk = await startHelpdesk();
  try {
    return await assemble(helpdesk);
  } catch (error) {
    await helpdesk.close();
    throw error;
  }
}

const HOME = { org: 'acme', workspace: 'support' } as const;
const OTHER = { org: 'globex', workspace: 'support' } as const;
const REASON = 'conformance test setup';
/** The capabilities held only org-wide: roles belong to the org. */
const ORG_WIDE = new Set(['rbac.roles.manage']);

async function assemble(helpdesk: Helpdesk): Promise<ConformanceHarness> {
  const tenantOf = (side: TenantSide) => (side === 'home' ? HOME : OTHER);
  const admins = { home: await helpdesk.as('ada'), other: await helpdesk.as('gia') };
  const agents = { home: await helpdesk.as('ann'), other: await helpdesk.as('gus') };
  let counter = 0;
  const next = (): number => (counter += 1);

  /** One token per principal; created once, with its role and binding, on first use. */
  const principals = new Map<string, Promise<string>>();
  const principal = (side: TenantSide, subject: string, capabilities: ReadonlyArray<string> | null, orgWide = false): Promise<string> => {
    const key = `${side}/${subject}`;
    let token = principals.get(key);
    if (token === undefined) {
      token = (async () => {
        const tenant = orgWide ? { ...tenantOf(side), workspace: null } : tenantOf(side);
        if (capabilities !== null) {
          const role = await admins[side].rbac.roles.create.mutate({ name: subject, capabilities: [...capabilities], reason: REASON });
          await admins[side].rbac.bindings.grant.mutate({ subject, roleId: role.id, ...(orgWide ? {} : { inWorkspace: tenant.workspace! }), reason: REASON });
        }
        return helpdesk.token({ subject, ...tenant });
      })();
      principals.set(key, token);
    }
    return token;
  };
  const slug = (capability: string): string => capability.replace(/[^a-z0-9]+/g, '-');
  const capabilityOf = (procedure: ConformanceProcedure): string => {
    if (procedure.capability === null) throw new TypeError(`${procedure.path} requires no capability`);
    return procedure.capability;
  };

  const freshRole = async (side: TenantSide) =>
    admins[side].rbac.roles.create.mutate({ name: `${tenantOf(side).org}-scratch-${next()}`, capabilities: [], reason: REASON });
  const freshBinding = async (side: TenantSide) =>
    admins[side].rbac.bindings.grant.mutate({
      subject: `${tenantOf(side).org}-bound-${next()}`,
      roleId: (await freshRole(side)).id,
      inWorkspace: tenantOf(side).workspace,
      reason: REASON,
    });
  const freshCustomer = async (side: TenantSide) => {
    const n = next();
    return agents[side].customers.create.mutate({ name: `Customer ${n}`, email: `${tenantOf(side).org}-customer-${n}@example.com` });
  };
  const freshTicket = async (side: TenantSide) =>
    agents[side].tickets.create.mutate({
      customer: { id: (await freshCustomer(side)).id },
      subject: `Conformance ticket ${next()}`,
      body: 'Opened by the conformance tests.',
    });
  /** The latest intent of the side's tenant: an entry that tenant may prove. */
  const latestIntentSeq = async (side: TenantSide): Promise<number> => {
    const entries = await ledgerSince(0);
    // Of the side's workspace too: a holder whose session names a workspace proves that workspace's entries only.
    const ofSide = (tenant: unknown): boolean => {
      const { org, workspace } = (tenant ?? {}) as { readonly org?: string; readonly workspace?: string | null };
      return org === tenantOf(side).org && workspace === tenantOf(side).workspace;
    };
    const seq = entries.findLast((entry) => entry.kind === 'intent' && ofSide(entry.tenant))?.seq;
    if (seq === undefined) throw new Error(`no intent of ${tenantOf(side).org} on the ledger`);
    return seq;
  };

  /** A valid input per procedure of the repository's contracts. A procedure without one fails its tests, by name. */
  const inputs: Readonly<Record<string, (side: TenantSide) => Promise<unknown>>> = {
    'platform.health': async () => ({}),
    'platform.whoami': async () => ({}),
    'ledger.checkpoint': async () => ({}),
    'ledger.prove': async (side) => ({ seq: await latestIntentSeq(side) }),
    'ledger.consistency': async () => ({ fromSize: 1 }),
    'rbac.roles.list': async () => ({}),
    'rbac.roles.create': async () => ({ name: `conformance-role-${next()}`, capabilities: [], reason: REASON }),
    'rbac.roles.update': async (side) => ({ roleId: (await freshRole(side)).id, description: 'edited by the conformance tests', reason: REASON }),
    'rbac.roles.delete': async (side) => ({ roleId: (await freshRole(side)).id, reason: REASON }),
    'rbac.bindings.list': async () => ({}),
    'rbac.bindings.grant': async (side) => ({
      subject: `${tenantOf(side).org}-grantee-${next()}`,
      roleId: (await freshRole(side)).id,
      inWorkspace: tenantOf(side).workspace,
      reason: REASON,
    }),
    'rbac.bindings.revoke': async (side) => ({ bindingId: (await freshBinding(side)).id, reason: REASON }),
    'rbac.changes.list': async () => ({}),
    'customers.create': async () => ({ name: 'New Customer', email: `new-customer-${next()}@example.com` }),
    'customers.get': async (side) => ({ customerId: (await freshCustomer(side)).id }),
    'customers.list': async () => ({}),
    'tickets.create': async (side) => ({ customer: { id: (await freshCustomer(side)).id }, subject: 'Printer jammed', body: 'Paper everywhere.' }),
    'tickets.list': async () => ({}),
    'tickets.get': async (side) => ({ ticketId: (await freshTicket(side)).id }),
    'tickets.update': async (side) => ({ ticketId: (await freshTicket(side)).id, priority: 'urgent' }),
    'tickets.close': async (side) => ({ ticketId: (await freshTicket(side)).id, resolution: 'Fixed by the conformance tests.' }),
    'comments.add': async (side) => ({ ticketId: (await freshTicket(side)).id, body: 'A reply from the conformance tests.' }),
    'comments.list': async (side) => ({ ticketId: (await freshTicket(side)).id }),
    // A session nobody holds: revoking it refuses no one's token.
    'sessions.revoke': async (side) => ({ session: `${tenantOf(side).org}-conformance-session-${next()}`, reason: REASON }),
  };

  const ledgerSize = async (): Promise<number> => {
    await helpdesk.service.ledger.flush();
    return helpdesk.service.ledger.size();
  };
  const ledgerSince = async (size: number): Promise<ConformanceLedgerEntry[]> => {
    await helpdesk.service.ledger.flush();
    const rows = await helpdesk.service.db.selectFrom('ledger_entries').select(['body']).where('seq', '>=', size).orderBy('seq').execute();
    return rows.map((row) => decodeEntry(new Uint8Array(row.body)));
  };

  /** The request ids of the home org's ledger entries, read on from where the last reading stopped. */
  const homeRequestIds = new Set<string>();
  let ledgerRead = 0;

  return {
    url: helpdesk.url,
    home: HOME,
    other: OTHER,
    allowed: (procedure) =>
      procedure.capability === null
        ? principal('home', 'conformance-member', null)
        : principal('home', `conf-allowed-${slug(procedure.capability)}`, [procedure.capability], ORG_WIDE.has(procedure.capability)),
    lacking: (procedure) => {
      const capability = capabilityOf(procedure);
      return principal('home', `conf-lacking-${slug(capability)}`, SERVED_CAPABILITIES.filter((c) => c !== capability));
    },
    otherTenant: (procedure) => {
      const capability = capabilityOf(procedure);
      return principal('other', `conf-other-${slug(capability)}`, [capability], ORG_WIDE.has(capability));
    },
    async input(procedure, side) {
      const make = inputs[procedure.path];
      if (make === undefined) throw new Error(`apps/helpdesk/test/conformance-harness.ts has no input for ${procedure.path}: add one`);
      return make(side);
    },
    async homeMarkers() {
      const db = helpdesk.service.db;
      const org = HOME.org;
      const [customers, tickets, comments, roles, bindings] = await Promise.all([
        db.selectFrom('helpdesk_customers').select(['id', 'email']).where('org', '=', org).execute(),
        db.selectFrom('helpdesk_tickets').select(['id']).where('org', '=', org).execute(),
        db.selectFrom('helpdesk_comments').select(['id']).where('org', '=', org).execute(),
        db.selectFrom('rbac_roles').select(['id']).where('org', '=', org).execute(),
        db.selectFrom('rbac_bindings').select(['id', 'subject']).where('org', '=', org).execute(),
      ]);
      for (const entry of await ledgerSince(ledgerRead)) {
        if (entry.tenant?.org === org && entry.requestId !== null) homeRequestIds.add(entry.requestId);
        ledgerRead = entry.seq + 1;
      }
      return [
        ...customers.flatMap((c) => [c.id, c.email]),
        ...[...tickets, ...comments, ...roles].map((row) => row.id),
        ...bindings.map((b) => b.id),
        // Short subjects (the demo's `ann`) could occur in any text by chance; the harness's own are long.
        ...bindings.map((b) => b.subject).filter((subject) => subject.length >= 12),
        ...homeRequestIds,
      ];
    },
    ledgerSize,
    ledgerSince,
    close: () => helpdesk.close(),
  };
}
