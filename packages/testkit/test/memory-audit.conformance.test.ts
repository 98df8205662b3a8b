import { createMemoryAudit } from '../src/memory-audit.ts';
import { runAuditPortConformance } from '../src/store-conformance/audit-port.ts';

// The in-memory double follows the port's contract too (no transactions: its effects are the test's).
runAuditPortConformance({
  name: 'the memory double',
  async open() {
    const audit = createMemoryAudit();
    return {
      audit,
      receipts: false,
      effects: null,
      async recorded() {
        return audit.events.map((event) =>
          event.type === 'intent'
            ? { type: 'intent' as const, requestId: event.intent.requestId }
            : event.type === 'outcome'
              ? { type: 'outcome' as const, requestId: event.requestId, ok: event.ok, code: event.code }
              : { type: 'denial' as const, requestId: event.denial.requestId, code: event.denial.decision.code },
        );
      },
      async breakIntents() {
        audit.failIntents(Number.POSITIVE_INFINITY);
      },
      async close() {},
    };
  },
});
