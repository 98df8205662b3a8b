import { runAuditPortConformance, type RecordedAuditEvent } from '@covenant/testkit/store-conformance';
import { sql, type Kysely } from 'kysely';
import { createLedgerAudit } from '../src/audit/index.ts';
import { createLedgerStore, decodeEntry, type LedgerTables } from '../src/index.ts';
import { ORIGIN, createTempDatabases, signer } from './ledger-fixtures.ts';

interface Tables extends LedgerTables {
  notes: { id: number };
}

// The ledger's audit port on a SQLite file: effects in the port's transaction, receipts from the signed log.
runAuditPortConformance({
  name: 'the ledger adapter, SQLite',
  async open() {
    const temp = createTempDatabases();
    const path = temp.path();
    const db = (await temp.open(path)) as unknown as Kysely<Tables>;
    // Read through a second connection, as another process would: the action holds the first one's batch.
    const reader = (await temp.open(path)) as unknown as Kysely<Tables>;
    await db.schema.createTable('notes').addColumn('id', 'integer', (c) => c.primaryKey()).execute();
    const ledger = await createLedgerStore({ db, origin: ORIGIN, signer });
    const audit = await createLedgerAudit({ ledger, db });
    return {
      audit,
      receipts: true,
      async recorded() {
        const rows = await reader.selectFrom('ledger_entries').select('body').orderBy('seq').execute();
        return rows.flatMap(({ body }): RecordedAuditEvent[] => {
          const entry = decodeEntry(new Uint8Array(body));
          const requestId = entry.requestId ?? '';
          const code = (entry.data as { code?: unknown } | null)?.code;
          if (entry.kind === 'intent') return [{ type: 'intent', requestId }];
          if (entry.kind === 'outcome') return [{ type: 'outcome', requestId, ok: entry.outcome === 'ok', code: typeof code === 'string' ? code : null }];
          if (entry.kind === 'denial') return [{ type: 'denial', requestId, code: String(code) }];
          return [];
        });
      },
      async breakIntents() {
        await sql`create trigger conformance_no_entries before insert on ledger_entries begin select raise(abort, 'disk full'); end`.execute(db);
      },
      effects: {
        write: async (scope, id) => void (await (scope.db as Kysely<Tables>).insertInto('notes').values({ id }).execute()),
        standing: async () => (await reader.selectFrom('notes').select('id').orderBy('id').execute()).map((row) => row.id),
      },
      async close() {
        await audit.close();
        await ledger.close();
        await temp.dispose();
      },
    };
  },
});
