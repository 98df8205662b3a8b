import { ACTION_THREW_CODE, AuditUnavailableError, type ActionResult, type AuditIntent, type AuditPort, type AuditScope, type DenialRecord } from '@covenant/core';
import { afterEach, describe, expect, it } from 'vitest';

/** What a port recorded for one request, in order, as the suite compares it (an implementation's own detail left out). */
export type RecordedAuditEvent =
  | { readonly type: 'intent'; readonly requestId: string }
  | { readonly type: 'outcome'; readonly requestId: string; readonly ok: boolean; readonly code: string | null }
  | { readonly type: 'denial'; readonly requestId: string; readonly code: string };

/** One audit port under test, fresh for one test. */
export interface AuditPortUnderTest {
  readonly audit: AuditPort;
  /** Everything the port has recorded (durably, for a port that says it is durable), oldest first. */
  recorded(): Promise<ReadonlyArray<RecordedAuditEvent>>;
  /** From now on the port cannot make an intent durable (a full disk, a refusing database). */
  breakIntents(): Promise<void>;
  /**
   * A port with transactions (it hands the action `scope.db`): writes one effect through the scope, and reads
   * which effects stand. `null` for a port without them (its effects are the caller's to undo).
   */
  readonly effects: { write(scope: AuditScope, id: number): Promise<void>; standing(): Promise<ReadonlyArray<number>> } | null;
  /** Whether `audited` resolves with a receipt (a port that keeps a signed log) or with `null`. */
  readonly receipts: boolean;
  close(): Promise<void>;
}

export interface AuditPortConformanceFactory {
  readonly name: string;
  open(): Promise<AuditPortUnderTest>;
}

const AT = new Date('2026-02-03T04:05:06.789Z');

function intent(n: number): AuditIntent {
  return {
    requestId: `req_conf_${n}`,
    procedure: 'notes.add',
    kind: 'mutation',
    actor: { subject: 'user_1', session: 'sess_1' },
    tenant: { org: 'org_a', workspace: null },
    resource: { type: 'note', id: `note_${n}` },
    canonicalInput: '{"text":"[redacted:contact]"}',
    at: AT,
  };
}

function denial(n: number): DenialRecord {
  return {
    requestId: `req_conf_${n}`,
    procedure: 'notes.add',
    actor: { subject: 'user_1', session: 'sess_1' },
    tenant: { org: 'org_a', workspace: null },
    decision: { allowed: false, code: 'authz.missing_capability', capability: 'notes.add', resource: null },
    at: AT,
  };
}

const OK = (): ActionResult => ({ ok: true, code: null });

/**
 * The contract of the audit port (`AuditPort` of @covenant/core), as every implementation must honour it:
 * the intent durable before the action, fail closed, the outcome from the result's flag and code, a throw
 * recorded as `ACTION_THREW_CODE` and rethrown, effects kept only with an ok outcome, the result handed
 * back as it is. `@covenant/testkit`'s memory double and `@covenant/ledger`'s adapter both run it.
 */
export function runAuditPortConformance(factory: AuditPortConformanceFactory): void {
  describe(`audit port conformance (${factory.name})`, () => {
    const opened: AuditPortUnderTest[] = [];
    afterEach(async () => {
      for (const port of opened.splice(0)) await port.close();
    });
    const open = async (): Promise<AuditPortUnderTest> => {
      const port = await factory.open();
      opened.push(port);
      return port;
    };
    const eventsOf = async (port: AuditPortUnderTest, n: number): Promise<RecordedAuditEvent[]> =>
      (await port.recorded()).filter((event) => event.requestId === `req_conf_${n}`);

    it('records the intent before it runs the action, then an ok outcome; effects stand; the result comes back as it is', async () => {
      const port = await open();
      let seenBefore: RecordedAuditEvent[] | undefined;
      const result = { ok: true as const, code: null, payload: { id: 1 } };
      const audited = await port.audit.audited(intent(1), async (scope) => {
        seenBefore = await eventsOf(port, 1);
        await port.effects?.write(scope, 1);
        return result;
      });
      expect(seenBefore).toEqual([{ type: 'intent', requestId: 'req_conf_1' }]);
      expect(audited.result).toBe(result);
      expect(await eventsOf(port, 1)).toEqual([
        { type: 'intent', requestId: 'req_conf_1' },
        { type: 'outcome', requestId: 'req_conf_1', ok: true, code: null },
      ]);
      if (port.effects !== null) expect(await port.effects.standing()).toEqual([1]);
      if (port.receipts) expect(audited.receipt).toMatchObject({ intentSeq: expect.any(Number), outcomeSeq: expect.any(Number) });
      else expect(audited.receipt).toBeNull();
    });

    it('fails closed: an intent that cannot be made durable rejects with AuditUnavailableError and the action never runs', async () => {
      const port = await open();
      await port.breakIntents();
      let ran = false;
      const error = await port.audit.audited(intent(2), async () => ((ran = true), OK())).then(
        () => null,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(AuditUnavailableError);
      expect(ran).toBe(false);
      expect((await eventsOf(port, 2)).filter((event) => event.type === 'outcome')).toEqual([]);
    });

    it('a result that is not ok: a failed outcome with its code, effects rolled back, the result returned', async () => {
      const port = await open();
      const result = { ok: false as const, code: 'NOTE_LOCKED', error: new Error('the note is locked by alice@example.com') };
      const audited = await port.audit.audited(intent(3), async (scope) => {
        await port.effects?.write(scope, 3);
        return result;
      });
      expect(audited.result).toBe(result);
      expect(await eventsOf(port, 3)).toEqual([
        { type: 'intent', requestId: 'req_conf_3' },
        { type: 'outcome', requestId: 'req_conf_3', ok: false, code: 'NOTE_LOCKED' },
      ]);
      if (port.effects !== null) expect(await port.effects.standing()).toEqual([]);
    });

    it('an action that throws: a failed outcome with ACTION_THREW_CODE (nothing of the error), effects rolled back, the same error rethrown', async () => {
      const port = await open();
      const boom = Object.assign(new Error('crashed on s3cr3t'), { code: 'NOTE_LOCKED' });
      const error = await port.audit
        .audited(intent(4), async (scope) => {
          await port.effects?.write(scope, 4);
          throw boom;
        })
        .then(
          () => null,
          (e: unknown) => e,
        );
      expect(error).toBe(boom);
      expect(await eventsOf(port, 4)).toEqual([
        { type: 'intent', requestId: 'req_conf_4' },
        { type: 'outcome', requestId: 'req_conf_4', ok: false, code: ACTION_THREW_CODE },
      ]);
      if (port.effects !== null) expect(await port.effects.standing()).toEqual([]);
    });

    it('only exactly { ok: true } is ok; a failure without a string code is recorded as ACTION_THREW_CODE', async () => {
      const port = await open();
      const odd = [{ ok: 'yes', code: null }, { ok: 1, code: null }, { ok: false, code: 42 }, { ok: false }] as unknown as ActionResult[];
      for (const [i, result] of odd.entries()) {
        const n = 10 + i;
        const audited = await port.audit.audited(intent(n), async (scope) => (await port.effects?.write(scope, n), result));
        expect(audited.result).toBe(result);
        expect((await eventsOf(port, n)).at(-1)).toEqual({ type: 'outcome', requestId: `req_conf_${n}`, ok: false, code: ACTION_THREW_CODE });
      }
      if (port.effects !== null) expect(await port.effects.standing()).toEqual([]);
    });

    it('records a denial with its code, and no intent or outcome for it', async () => {
      const port = await open();
      await port.audit.recordDenial(denial(5));
      expect(await eventsOf(port, 5)).toEqual([{ type: 'denial', requestId: 'req_conf_5', code: 'authz.missing_capability' }]);
    });

    it('calls at once each get their own intent and outcome, in their own order', async () => {
      const port = await open();
      const ns = [20, 21, 22, 23, 24, 25];
      await Promise.all(ns.map((n) => port.audit.audited(intent(n), async (scope) => (await port.effects?.write(scope, n), n % 2 === 0 ? OK() : { ok: false, code: 'ODD' }))));
      for (const n of ns) {
        expect(await eventsOf(port, n)).toEqual([
          { type: 'intent', requestId: `req_conf_${n}` },
          { type: 'outcome', requestId: `req_conf_${n}`, ok: n % 2 === 0, code: n % 2 === 0 ? null : 'ODD' },
        ]);
      }
      if (port.effects !== null) expect(await port.effects.standing()).toEqual([20, 22, 24]);
    });
  });
}
