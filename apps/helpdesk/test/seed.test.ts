import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHelpdesk, type Helpdesk } from './helpdesk-harness.ts';
import { seedDemo } from '../src/seed.ts';

let helpdesk: Helpdesk;
beforeAll(async () => {
  helpdesk = await startHelpdesk();
});
afterAll(() => helpdesk.close());

describe('the demo seed', () => {
  it('makes two orgs whose agents each see only their own org’s ticket', async () => {
    const ann = await helpdesk.as('ann');
    const gus = await helpdesk.as('gus');
    expect((await ann.tickets.list.query({})).tickets.map((t) => t.subject)).toEqual(['Printer on fire']);
    expect((await gus.tickets.list.query({})).tickets.map((t) => t.subject)).toEqual(['Cannot sign in']);
  });

  it('is done once: a second run on the same database seeds nothing', async () => {
    expect(await seedDemo(helpdesk.service, helpdesk.as)).toEqual([]);
    expect((await (await helpdesk.as('ann')).tickets.list.query({})).tickets).toHaveLength(1);
  });

  it('gives agents, supervisors and admins the roles the guide describes', async () => {
    const roles = await helpdesk.service.rbac.listRoles('acme');
    expect(roles.map((r) => r.name).sort()).toEqual(['admin', 'agent', 'supervisor']);
    expect(roles.find((r) => r.name === 'supervisor')!.capabilities).toContain('tickets.close');
    expect(roles.find((r) => r.name === 'agent')!.capabilities).not.toContain('tickets.close');
    const bindings = await helpdesk.service.rbac.listBindings('acme');
    expect(bindings.map((b) => [b.subject, b.workspace]).sort()).toEqual([
      ['ada', null],
      ['ann', 'support'],
      ['bob', 'billing'],
      ['sam', 'support'],
    ]);
  });
});
