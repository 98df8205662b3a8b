import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRouter } from '../src/generated/router.ts';
import { createHandlers } from '../src/handlers.ts';
import { startHelpdesk, type Helpdesk } from './helpdesk-harness.ts';

// The service hands unaudited procedures (queries) a read-only ctx.db: a query handler that writes would
// bypass audit-before-action, so the write is refused before it reaches the database.
let helpdesk: Helpdesk;
beforeAll(async () => {
  helpdesk = await startHelpdesk();
});
afterAll(() => helpdesk.close());

describe("a query handler's ctx.db in the service", () => {
  it('reads, but a write through it is refused (500 to the caller), and nothing is written', async () => {
    const { service } = helpdesk;
    const handlers = createHandlers({ rbac: service.rbac, ledger: service.ledger, revocations: service.revocations, clock: { now: () => new Date() } });
    const router = createRouter(service.runtime, {
      ...handlers,
      tickets: {
        ...handlers.tickets,
        // A buggy query: reads, then "touches" every ticket of the org.
        list: async (args) => {
          const page = await handlers.tickets.list(args);
          await args.ctx.db.updateTable('helpdesk_tickets').set({ updated_at: 'touched' }).where('org', '=', args.ctx.tenant.org).execute();
          return page;
        },
      },
    });
    const caller = service.runtime.createCaller(router, { token: await helpdesk.token('ann') });
    const before = await service.db.selectFrom('helpdesk_tickets').select(['id', 'updated_at']).orderBy('id').execute();
    await expect(caller.tickets.list({})).rejects.toMatchObject({ code: 'INTERNAL_SERVER_ERROR' });
    expect(await service.db.selectFrom('helpdesk_tickets').select(['id', 'updated_at']).orderBy('id').execute()).toEqual(before);
    expect(helpdesk.logs.some((line) => line.includes('ERR_DB_READ_ONLY') || line.includes('read-only'))).toBe(true);
    // The same query, unmodified, still reads.
    await expect(service.runtime.createCaller(createRouter(service.runtime, handlers), { token: await helpdesk.token('ann') }).tickets.list({})).resolves.toMatchObject({
      tickets: [expect.objectContaining({ subject: 'Printer on fire' })],
    });
  });
});
