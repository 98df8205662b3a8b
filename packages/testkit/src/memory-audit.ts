import { ACTION_THREW_CODE, AuditUnavailableError, type ActionResult, type AuditIntent, type AuditPort, type AuditScope, type AuditedResult, type DenialRecord } from '@covenant/core';

export type AuditEvent =
  | { readonly type: 'intent'; readonly intent: AuditIntent }
  | { readonly type: 'outcome'; readonly requestId: string; readonly ok: boolean; readonly code: string | null }
  | { readonly type: 'denial'; readonly denial: DenialRecord };

/** An in-memory audit port for tests: it records what the pipeline asked for, in order. */
export interface MemoryAudit extends AuditPort {
  readonly events: ReadonlyArray<AuditEvent>;
  /** The next `n` intents cannot be made durable: `audited` rejects and must not run the action. */
  failIntents(n?: number): void;
  /** Called by `audited` between the intent and the action, to let a test see the order of things. */
  onAction: (() => void) | null;
  clear(): void;
}

/**
 * A test double for the audit port that follows the port's contract: intent first, the action only if
 * the intent was recorded, the outcome from the action's `ok` flag and `code` (a throw is a failure with
 * `ACTION_THREW_CODE`, then rethrown). It keeps no transaction: effects are
 * the test's to observe; and no signed log, so its receipts are `null`. Not for production: nothing here is
 * durable.
 */
export function createMemoryAudit(): MemoryAudit {
  const events: AuditEvent[] = [];
  let failing = 0;
  const audit: MemoryAudit = {
    events,
    onAction: null,
    failIntents(n = 1) {
      failing = n;
    },
    clear() {
      events.length = 0;
      failing = 0;
    },
    async audited<R extends ActionResult>(intent: AuditIntent, action: (scope: AuditScope) => Promise<R>): Promise<AuditedResult<R>> {
      if (failing > 0) {
        failing -= 1;
        throw new AuditUnavailableError();
      }
      events.push({ type: 'intent', intent });
      audit.onAction?.();
      let result: R;
      try {
        result = await action({});
      } catch (error) {
        events.push({ type: 'outcome', requestId: intent.requestId, ok: false, code: ACTION_THREW_CODE });
        throw error;
      }
      const ok = result?.ok === true;
      const code = ok ? null : typeof result?.code === 'string' ? result.code : ACTION_THREW_CODE;
      events.push({ type: 'outcome', requestId: intent.requestId, ok, code });
      return { result, receipt: null };
    },
    async recordDenial(denial: DenialRecord): Promise<void> {
      events.push({ type: 'denial', denial });
    },
  };
  return audit;
}
