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
  /**
   * The savepoints the unit made and left open: the oldest, and whether the unit ever made one under a name
   * that was live then (the store's around the unit, an audit port's): left open, such a shadow makes a
   * rollback "to" that name keep the writes made before it. `null` when none is open.
   */
  readonly openSavepoints: () => { readonly oldest: string; readonly shadowing: boolean } | null;
  /** Closes what the unit left open on the connection (streams), once its gate is closed. */
  end(): Promise<void>;
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
export async function confineToBatch(conn: Kysely<any>, gate: UnitGate, postgres: boolean, enclosing: string): Promise<ConfinedHandle> {
  let lost = false;
  /** Streams the unit opened and has not finished: closed when it ends (an open one keeps SQLite's connection busy). */
  const streams = new Set<AsyncIterableIterator<QueryResult<unknown>>>();
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
  /**
   * The savepoints this unit made and still has, oldest first. A unit may release or roll back to its own
   * only: the store's (the unit's own savepoint, an audit port's around the action) are named from small
   * rotating sets, and a unit that released or recreated one could keep writes its unit rolls back, or roll
   * back an earlier unit's writes while their entries stay.
   */
  const own: string[] = [];
  /** Whether the unit ever made a savepoint under a name that was live then (sticky: the shadow may be gone). */
  let shadowed = false;
  const checkSavepoint = (text: string): SavepointStatement => {
    const statement = savepointStatement(text, postgres);
    if (statement === null) return null;
    if (statement.name === null) throw refused('a savepoint statement whose name cannot be read');
    if (statement.op !== 'create' && !own.includes(statement.name)) throw refused('releasing or rolling back to a savepoint the unit did not make');
    return statement;
  };
  const applySavepoint = (statement: SavepointStatement): void => {
    if (statement === null || statement.name === null) return;
    const name = statement.name;
    // A name already live (the store's around the unit, or one made earlier) is shadowed by this one.
    if (statement.op === 'create') {
      if (name === enclosing || own.includes(name)) shadowed = true;
      own.push(name);
    }
    // RELEASE drops the latest savepoint of that name and those after it; ROLLBACK TO keeps it.
    else own.splice(own.lastIndexOf(name) + (statement.op === 'rollback' ? 1 : 0));
  };
  const guard = (inner: DatabaseConnection): DatabaseConnection => ({
    async executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
      assertUsable();
      refuseTransactionControl(query.sql);
      const statement = checkSavepoint(query.sql);
      let result: QueryResult<R>;
      try {
        result = await inner.executeQuery<R>(query);
      } catch (error) {
        if (!postgres) await probe(inner);
        throw error;
      }
      applySavepoint(statement);
      return result;
    },
    async *streamQuery<R>(query: CompiledQuery, chunkSize?: number): AsyncIterableIterator<QueryResult<R>> {
      assertUsable();
      refuseTransactionControl(query.sql);
      if (savepointStatement(query.sql, postgres) !== null) throw refused('a savepoint statement as a stream');
      const iterator = inner.streamQuery<R>(query, chunkSize);
      streams.add(iterator);
      try {
        for (;;) {
          const next = await iterator.next();
          if (next.done === true) return;
          yield next.value;
          // A consumer may hold the stream across the unit's end: later chunks are revoked like statements.
          assertUsable();
        }
      } catch (error) {
        if (!postgres) await probe(inner);
        throw error;
      } finally {
        streams.delete(iterator);
        await iterator.return?.();
      }
    },
  });
  // The batch's one connection, taken from under `conn`'s single-connection provider and guarded once. The
  // unit's statements do not queue in that provider: a unit holding it (`connection().execute()` that never
  // settles) would otherwise keep the store's own savepoint statements waiting for ever, past the time bound.
  const base = conn.getExecutor();
  const outer = guard(await base.provideConnection(async (inner) => inner));
  const provider: ConnectionProvider = { provideConnection: (consumer) => consumer(outer) };
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
  return {
    db,
    lost: () => lost,
    openSavepoints: () => (own.length === 0 ? null : { oldest: own[0]!, shadowing: shadowed }),
    async end() {
      for (const iterator of [...streams]) await iterator.return?.();
    },
  };
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
 *   ROLLBACK but for ROLLBACK [WORK | TRANSACTION] TO, or PREPARE TRANSACTION — nor PRAGMA, ATTACH or DETACH
 *   (SQLite), which would change the connection for every later batch.
 */
export function refuseTransactionControl(text: string): void {
  const semicolon = text.indexOf(';');
  if (semicolon >= 0 && !/^[;\s]*$/.test(text.slice(semicolon))) {
    throw new LogError('ERR_LEDGER_LOG_UNIT_TRANSACTION', "a unit of work runs inside the batch's transaction: one statement per query (a ';' before the end is refused; pass values as parameters)");
  }
  // The two readings of block comments differ only where there is one.
  const readings = text.includes('/*') ? [leadingWords(text, true), leadingWords(text, false)] : [leadingWords(text, true)];
  if (readings.some(endsTransaction)) throw refused('a statement that ends a transaction');
  // The batch's connection goes back to the pool after it: a unit may not change it for later batches.
  if (readings.some(([first]) => first === 'pragma' || first === 'attach' || first === 'detach')) {
    throw refused("a statement that changes the batch's connection beyond the batch (PRAGMA, ATTACH, DETACH)");
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

/** A word (lower-cased) or a double-quoted identifier (its content, `""` unescaped). */
type Token = { readonly word: string } | { readonly quoted: string };

/** The first words of `text`, lower-cased, after blanks, comments and parentheses (up to the first other token). */
function leadingWords(text: string, nestedComments: boolean): string[] {
  const words: string[] = [];
  for (const token of leadingTokens(text, nestedComments, 3).tokens) {
    if (!('word' in token)) break;
    words.push(token.word);
  }
  return words;
}

/**
 * Up to `max` tokens from the start of `text`, skipping blanks, comments and (before the first token)
 * parentheses; `end` is where reading stopped. Reading stops at anything that is neither a word nor a
 * double-quoted identifier.
 */
function leadingTokens(text: string, nestedComments: boolean, max: number): { tokens: Token[]; end: number } {
  const tokens: Token[] = [];
  let i = 0;
  const skip = (): void => {
    for (;;) {
      if (i < text.length && /\s/.test(text[i]!)) i += 1;
      else if (text.startsWith('--', i)) {
        const end = text.slice(i).search(/[\r\n]/);
        i = end < 0 ? text.length : i + end;
      } else if (text.startsWith('/*', i)) i = blockCommentEnd(text, i, nestedComments);
      else return;
    }
  };
  while (i < text.length && tokens.length < max) {
    const c = text[i]!;
    if (/\s/.test(c) || (c === '(' && tokens.length === 0)) {
      i += 1;
    } else if (text.startsWith('--', i)) {
      const end = text.slice(i).search(/[\r\n]/);
      i = end < 0 ? text.length : i + end;
    } else if (text.startsWith('/*', i)) {
      i = blockCommentEnd(text, i, nestedComments);
    } else if (c === '"') {
      const match = /^"((?:[^"]|"")*)"/.exec(text.slice(i));
      if (match === null) break;
      tokens.push({ quoted: match[1]!.replaceAll('""', '"') });
      i += match[0].length;
    } else {
      const word = /^[A-Za-z_][A-Za-z0-9_$]*/.exec(text.slice(i, i + 128))?.[0];
      // Anything else (a symbol, a word running on in other letters) is not a keyword: reading ends here.
      if (word === undefined || /[\w$\u0080-\uffff]/.test(text[i + word.length] ?? '')) break;
      tokens.push({ word: word.toLowerCase() });
      i += word.length;
    }
  }
  skip();
  return { tokens, end: i };
}

/** A savepoint statement: what it does and to which name (as the database compares names), or `null` for none. */
export type SavepointStatement = { readonly op: 'create' | 'release' | 'rollback'; readonly name: string | null } | null;

/**
 * Reads `SAVEPOINT name`, `RELEASE [SAVEPOINT] name` and `ROLLBACK [WORK | TRANSACTION] TO [SAVEPOINT] name`.
 * PostgreSQL folds an unquoted name to lower case and keeps a quoted one; SQLite compares both without case.
 * `name` is `null` when it cannot be read the same way under both readings of comments.
 */
export function savepointStatement(text: string, postgres: boolean): SavepointStatement {
  const read = (nested: boolean): SavepointStatement => {
    const { tokens, end } = leadingTokens(text, nested, 6);
    const word = (k: number): string | undefined => {
      const token = tokens[k];
      return token !== undefined && 'word' in token ? token.word : undefined;
    };
    let op: 'create' | 'release' | 'rollback';
    let k: number;
    if (word(0) === 'savepoint') [op, k] = ['create', 1];
    else if (word(0) === 'release') [op, k] = ['release', word(1) === 'savepoint' ? 2 : 1];
    else if (word(0) === 'rollback') {
      k = word(1) === 'work' || word(1) === 'transaction' ? 2 : 1;
      if (word(k) !== 'to') return null;
      k += word(k + 1) === 'savepoint' ? 2 : 1;
      op = 'rollback';
    } else return null;
    const token = tokens[k];
    // The name must be the statement's last token: `U&"sp"` or `sp.x` would name something else.
    if (token === undefined || tokens.length !== k + 1 || !/^[;\s]*$/.test(text.slice(end))) return { op, name: null };
    const name = 'word' in token ? token.word : postgres ? token.quoted : token.quoted.toLowerCase();
    return { op, name };
  };
  const nested = read(true);
  if (!text.includes('/*')) return nested;
  const flat = read(false);
  if (nested === null && flat === null) return null;
  if (nested === null || flat === null || nested.op !== flat.op || nested.name !== flat.name) return { op: nested?.op ?? flat!.op, name: null };
  return nested;
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
