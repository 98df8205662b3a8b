import {
  CompiledQuery,
  Kysely,
  PostgresIntrospector,
  SqliteIntrospector,
  type ConnectionProvider,
  type DatabaseConnection,
  type Dialect,
  type Driver,
  type QueryResult,
} from 'kysely';
import { LogError } from './errors.ts';

/** What a unit's handle needs of its unit: whether it may still run statements. */
export interface UnitGate {
  /** Throws once the unit has settled or overrun (ERR_LEDGER_LOG_CLOSED). */
  assertOpen(): void;
}

export interface ConfinedHandle {
  /** The handle the unit gets as `tx.db`. */
  readonly db: Kysely<any>;
  /**
   * The batch's transaction ended under the unit (SQLite rolls a whole transaction back on `OR ROLLBACK`,
   * `RAISE(ROLLBACK)`, a full disk …): the batch must not commit, and every later statement is refused.
   */
  readonly lost: () => boolean;
}

/**
 * A unit's handle, confined to the batch's transaction. Units run inside one transaction (each in a
 * savepoint) that commits with their entries and the batch's checkpoint; a unit that ended it would commit
 * the batch's writes so far — other calls' among them — without their outcomes, and leave the rest of the
 * batch running outside any transaction (kysely's `transaction()` does exactly that on PostgreSQL, where
 * BEGIN inside a transaction is only a warning and its COMMIT ends the batch's).
 *
 * The confinement sits below kysely's query builder, at the connection: every statement of the handle, of
 * any handle derived from it (`withoutPlugins()` included) and of `executeQuery`, reaches the database
 * through `guard`, as the final SQL text, so fragments nested in `sql` templates and dropped plugins change
 * nothing. The handle's driver refuses to begin, commit or roll back a transaction and to be destroyed.
 * Savepoints stay allowed: `tx.savepoint()` is the way to nest.
 */
export function confineToBatch(conn: Kysely<any>, gate: UnitGate, postgres: boolean): ConfinedHandle {
  let lost = false;
  const assertUsable = (): void => {
    gate.assertOpen();
    if (lost) throw new LogError('ERR_LEDGER_LOG_UNIT_TRANSACTION', TRANSACTION_LOST);
  };
  /**
   * After a failed statement on SQLite: is the batch's transaction still there? SQLite ends a transaction on
   * some errors (a conflict clause or RAISE(ROLLBACK), SQLITE_FULL, an interrupt), and a handler that caught
   * the error would go on writing in autocommit mode. BEGIN fails inside a transaction and starts one outside:
   * the batch's is gone then, and the one just begun keeps later statements from committing on their own
   * until the batch rolls it back. (A failed statement never ends a PostgreSQL transaction: it aborts it.)
   */
  const probe = async (inner: DatabaseConnection): Promise<void> => {
    try {
      await inner.executeQuery(CompiledQuery.raw('begin'));
    } catch (error) {
      if (/within a transaction/i.test(String((error as Error)?.message))) return;
    }
    lost = true;
  };
  const guard = (inner: DatabaseConnection): DatabaseConnection => ({
    async executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
      assertUsable();
      refuseTransactionControl(query.sql);
      try {
        return await inner.executeQuery<R>(query);
      } catch (error) {
        if (!postgres) await probe(inner);
        throw error;
      }
    },
    async *streamQuery<R>(query: CompiledQuery, chunkSize?: number): AsyncIterableIterator<QueryResult<R>> {
      assertUsable();
      refuseTransactionControl(query.sql);
      try {
        for await (const chunk of inner.streamQuery<R>(query, chunkSize)) {
          yield chunk;
          // A consumer may hold the stream across the unit's end: later chunks are revoked like statements.
          assertUsable();
        }
      } catch (error) {
        if (!postgres) await probe(inner);
        throw error;
      }
    },
  });
  // The batch holds one connection: it is guarded once, not per statement.
  let guarded: { inner: DatabaseConnection; outer: DatabaseConnection } | undefined;
  const base = conn.getExecutor();
  const provider: ConnectionProvider = {
    provideConnection: (consumer) =>
      base.provideConnection((inner) => {
        if (guarded?.inner !== inner) guarded = { inner, outer: guard(inner) };
        return consumer(guarded.outer);
      }),
  };
  const dialect: Dialect = {
    // Only introspection (`db.introspection`) asks a built Kysely for its dialect.
    createAdapter: () => base.adapter,
    createDriver: () => driver,
    createQueryCompiler: () => {
      throw new Error("ledger store: a unit's handle builds no new Kysely");
    },
    createIntrospector: (db) => (postgres ? new PostgresIntrospector(db) : new SqliteIntrospector(db)),
  };
  const db = new Kysely<any>({ config: { dialect }, dialect, driver, executor: base.withConnectionProvider(provider) });
  return { db, lost: () => lost };
}

export const TRANSACTION_LOST = "the batch's transaction ended under this unit (SQLite rolled it back after a failed statement): nothing of the batch commits";

function refused(what: string): LogError {
  return new LogError('ERR_LEDGER_LOG_UNIT_TRANSACTION', `a unit of work runs inside the batch's transaction: ${what} is refused (nest with a savepoint: withSavepoint of @covenant/db, or tx.savepoint())`);
}

/**
 * The driver of a unit's handle. It is asked for nothing a unit may do: statements go through the batch's
 * connection (the provider above), so beginning, committing or rolling back a transaction (`transaction()`,
 * `startTransaction()`), taking another connection and destroying the pool are all refused.
 */
const driver: Driver = {
  init: async () => undefined,
  acquireConnection: async () => {
    throw refused('another connection');
  },
  beginTransaction: async () => {
    throw refused('a transaction of its own (transaction(), startTransaction())');
  },
  commitTransaction: async () => {
    throw refused('a commit');
  },
  rollbackTransaction: async () => {
    throw refused('a rollback');
  },
  releaseConnection: async () => undefined,
  destroy: async () => {
    throw refused("destroy() (the batch's connection is not the unit's to close)");
  },
};

/**
 * Refuses a statement text that could end the transaction it runs in. Two rules, both on the text alone and
 * so the same whatever the server's settings (`standard_conforming_strings`, the client encoding) make of
 * its strings:
 * - one statement per query: a `;` anywhere but at the end is refused (PostgreSQL's simple protocol runs
 *   every statement of a text; values go in parameters, where a `;` is only data);
 * - the statement's first word — after blanks, comments and parentheses, read both as PostgreSQL (nested
 *   block comments, `--` ending at CR or LF) and as SQLite (flat ones) do — is not COMMIT, END, ABORT,
 *   ROLLBACK but for ROLLBACK [WORK | TRANSACTION] TO, or PREPARE TRANSACTION.
 */
export function refuseTransactionControl(text: string): void {
  const semicolon = text.indexOf(';');
  if (semicolon >= 0 && !/^[;\s]*$/.test(text.slice(semicolon))) {
    throw new LogError('ERR_LEDGER_LOG_UNIT_TRANSACTION', "a unit of work runs inside the batch's transaction: one statement per query (a ';' before the end is refused; pass values as parameters)");
  }
  // The two readings of block comments differ only where there is one.
  if (endsTransaction(leadingWords(text, true)) || (text.includes('/*') && endsTransaction(leadingWords(text, false)))) {
    throw refused('a statement that ends a transaction');
  }
}

function endsTransaction(words: ReadonlyArray<string>): boolean {
  const [first, second, third] = words;
  if (first === 'commit' || first === 'end' || first === 'abort') return true;
  if (first === 'prepare') return second === 'transaction';
  if (first !== 'rollback') return false;
  // ROLLBACK [WORK | TRANSACTION] TO [SAVEPOINT] name undoes a savepoint only.
  return (second === 'work' || second === 'transaction' ? third : second) !== 'to';
}

/** Up to three words from the start of `text`, lower-cased, skipping blanks, comments and parentheses. */
function leadingWords(text: string, nestedComments: boolean): string[] {
  const words: string[] = [];
  let i = 0;
  while (i < text.length && words.length < 3) {
    const c = text[i]!;
    if (/\s/.test(c) || (c === '(' && words.length === 0)) {
      i += 1;
    } else if (text.startsWith('--', i)) {
      const end = text.slice(i).search(/[\r\n]/);
      i = end < 0 ? text.length : i + end;
    } else if (text.startsWith('/*', i)) {
      i = blockCommentEnd(text, i, nestedComments);
    } else {
      const word = /^[A-Za-z_]+/.exec(text.slice(i, i + 16))?.[0];
      // Anything else (a quote, a symbol, a word with other letters) is not a keyword: the words end here.
      if (word === undefined || /[\w$\u0080-\uffff]/.test(text[i + word.length] ?? '')) break;
      words.push(word.toLowerCase());
      i += word.length;
    }
  }
  return words;
}

/** Where the block comment opening at `start` ends (the text's end if it never closes). */
function blockCommentEnd(text: string, start: number, nested: boolean): number {
  let depth = 0;
  for (let i = start; i < text.length - 1; i += 1) {
    if (text.startsWith('/*', i) && (nested || depth === 0)) {
      depth += 1;
      i += 1;
    } else if (text.startsWith('*/', i)) {
      depth -= 1;
      i += 1;
      if (depth === 0) return i + 1;
    }
  }
  return text.length;
}
