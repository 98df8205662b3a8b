import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createDatabase } from '@covenant/db';
import type { AuditIntent, AuditPort } from '@covenant/server';
import { sql, type Kysely } from 'kysely';
import { pino } from 'pino';
import { createInterimAudit } from '../src/interim-audit.ts';

let db: Kysely<any>;
let audit: AuditPort;
let logs: string[];

beforeEach(async () => {
  db = createDatabase({ url: ':memory:' });
  logs = [];
  audit = await createInterimAudit({ db, logger: pino({ level: 'info' }, { write: (line: string) => void logs.push(line) }) });
});
afterEach(() => db.destroy());

const intent = (requestId: string): AuditIntent => ({
  requestId,
  procedure: 'rbac.roles.create',
  kind: 'mutation',
  actor: { subject: 'alice', session: 's1' },
  tenant: { org: 'org_a', workspace: null },
  resource: null,
  inputDigest: 'sha256:' + '0'.repeat(64),
  at: new Date('2030-01-01T00:00:00Z'),
});

const rows = (table: string) => db.selectFrom(table).selectAll().execute();

describe('the interim audit port', () => {
  it('writes the intent before the action runs, then the outcome', async () => {
    let seenByAction: unknown[] = [];
    const result = await audit.audited(intent('r1'), async () => {
      seenByAction = await rows('interim_audit_intents');
      expect(await rows('interim_audit_outcomes')).toEqual([]);
      return { ok: true };
    });
    expect(result).toEqual({ ok: true });
    expect(seenByAction).toEqual([expect.objectContaining({ request_id: 'r1', subject: 'alice', org: 'org_a', procedure: 'rbac.roles.create' })]);
    expect(await rows('interim_audit_outcomes')).toEqual([expect.objectContaining({ request_id: 'r1', ok: 1 })]);
  });

  it('fails closed: when the intent cannot be written the action never runs (ERR_AUDIT_UNAVAILABLE)', async () => {
    await audit.audited(intent('r1'), async () => ({ ok: true }));
    let ran = false;
    // The same request id again: the intent is never overwritten, and nothing runs.
    await expect(audit.audited(intent('r1'), async () => ((ran = true), { ok: true }))).rejects.toMatchObject({ code: 'ERR_AUDIT_UNAVAILABLE' });
    // The database refuses the write (disk full, locked, read-only …).
    await sql`create trigger intents_down before insert on interim_audit_intents begin select raise(abort, 'disk full'); end`.execute(db);
    await expect(audit.audited(intent('r2'), async () => ((ran = true), { ok: true }))).rejects.toMatchObject({ code: 'ERR_AUDIT_UNAVAILABLE' });
    expect(ran).toBe(false);
  });

  it('records a failed action as ok = 0, also when the action throws', async () => {
    await expect(audit.audited(intent('r1'), async () => ({ ok: false }))).resolves.toEqual({ ok: false });
    await expect(
      audit.audited(intent('r2'), async () => {
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect((await rows('interim_audit_outcomes')).map((r) => [r.request_id, r.ok])).toEqual([
      ['r1', 0],
      ['r2', 0],
    ]);
  });

  it('returns the result of an action that ran even when its outcome cannot be written, and logs the failure', async () => {
    await sql`create trigger outcomes_down before insert on interim_audit_outcomes begin select raise(abort, 'disk full'); end`.execute(db);
    await expect(audit.audited(intent('r1'), async () => ({ ok: true }))).resolves.toEqual({ ok: true });
    expect(logs.join('\n')).toContain('could not record the outcome of an audited call');
  });

  it('records denials', async () => {
    await audit.recordDenial({
      requestId: 'r9',
      procedure: 'rbac.roles.create',
      actor: { subject: 'carol', session: null },
      tenant: { org: 'org_a', workspace: 'ws_1' },
      decision: { allowed: false, code: 'rbac.missing_capability', capability: 'rbac.roles.manage', resource: null },
      at: new Date('2030-01-01T00:00:00Z'),
    });
    expect(await rows('interim_audit_denials')).toEqual([
      expect.objectContaining({ request_id: 'r9', subject: 'carol', org: 'org_a', workspace: 'ws_1', at: '2030-01-01T00:00:00.000Z' }),
    ]);
  });

  it('creating the port again on the same database keeps what is there', async () => {
    await audit.audited(intent('r1'), async () => ({ ok: true }));
    await createInterimAudit({ db, logger: pino({ level: 'silent' }) });
    expect(await rows('interim_audit_intents')).toHaveLength(1);
  });
});
