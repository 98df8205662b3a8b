import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { refuseTransactionControl, savepointStatement } from '../src/unit-handle.ts';

const refuses = (text: string): boolean => {
  try {
    refuseTransactionControl(text);
    return false;
  } catch (error) {
    expect(error).toMatchObject({ code: 'ERR_LEDGER_LOG_UNIT_TRANSACTION' });
    return true;
  }
};

describe("refuseTransactionControl (a unit's statements, as the database will read them)", () => {
  it('refuses every statement that ends a transaction, after blanks, comments (read as PostgreSQL and as SQLite do) and parentheses', () => {
    for (const text of [
      'commit',
      'COMMIT WORK',
      'commit and chain',
      'end',
      'END TRANSACTION',
      'abort',
      'rollback',
      'ROLLBACK WORK',
      'rollback transaction',
      'rollback and chain',
      "prepare transaction 'x'",
      '  (  commit',
      '\v\fcommit',
      '/* done */ -- really\n ( END',
      // PostgreSQL ends a line comment at CR too; SQLite only at LF (over-refusal there is harmless).
      '-- note\rcommit',
      // Nested block comments on PostgreSQL; a flat reading (SQLite) sees the same COMMIT.
      '/* a /* b */ c */ commit',
      '/* a /* b */ commit */',
      'commit/**/',
      'commit;',
      'commit ;  \n',
    ]) {
      expect([text, refuses(text)]).toEqual([text, true]);
    }
  });

  it('refuses a second statement in one text, whatever the first (PostgreSQL runs every statement of a simple query)', () => {
    for (const text of [
      ';commit',
      'select 1; commit',
      'begin; insert into notes (id) values (9); commit;',
      // Whatever the server makes of the string (standard_conforming_strings on or off), the ';' is refused.
      "select 'a\\''; commit; --'",
      "select E'\\''; select 1",
      'select $$;$$',
    ]) {
      expect([text, refuses(text)]).toEqual([text, true]);
    }
  });

  it('lets everything else through: savepoints, their rollback (comments between the words too), queries, a final semicolon', () => {
    for (const text of [
      'savepoint covenant_sp_1',
      'release savepoint covenant_sp_1',
      'rollback to savepoint covenant_sp_1',
      'rollback/**/to savepoint covenant_sp_1',
      'ROLLBACK WORK TO sp',
      'rollback transaction -- to where\n to sp',
      'select * from "commit"',
      'select 1;',
      'select 1 ;  \n ;',
      'insert into notes (id) values ($1)',
      'committed',
      'commit_log',
      'commit$1',
      'end_of_day',
      'prepare plan as select 1',
      "'commit'",
      '"commit"',
      'select 1 -- commit',
      'with x as (select 1) select * from x',
    ]) {
      expect([text, refuses(text)]).toEqual([text, false]);
    }
  });

  it('any text that reads as a transaction end under some prefix of blanks, comments and parentheses is refused', () => {
    const filler = fc.constantFrom(' ', '\n', '\r', '\t', '\v', '(', '/* x */', '/* /* */ */', '-- c\n', '--\r');
    const keyword = fc.constantFrom('commit', 'COMMIT', 'End', 'abort', 'rollback', 'ROLLBACK WORK', 'prepare transaction');
    fc.assert(
      fc.property(fc.array(filler, { maxLength: 6 }), keyword, fc.constantFrom('', ';', ' and chain', ' work'), (prefix, word, tail) => {
        expect(refuses(prefix.join('') + word + tail)).toBe(true);
      }),
    );
  });
});

describe('savepointStatement (which savepoint a statement names, as each database compares names)', () => {
  it('reads SAVEPOINT, RELEASE [SAVEPOINT] and ROLLBACK [WORK | TRANSACTION] TO [SAVEPOINT], comments between the words', () => {
    expect(savepointStatement('savepoint sp_1', true)).toEqual({ op: 'create', name: 'sp_1' });
    expect(savepointStatement('RELEASE sp_1', true)).toEqual({ op: 'release', name: 'sp_1' });
    expect(savepointStatement('release /* x */ savepoint -- y\n "covenant_sp_3"', true)).toEqual({ op: 'release', name: 'covenant_sp_3' });
    expect(savepointStatement('rollback work to savepoint SP', true)).toEqual({ op: 'rollback', name: 'sp' });
    expect(savepointStatement('ROLLBACK TRANSACTION TO sp', false)).toEqual({ op: 'rollback', name: 'sp' });
    expect(savepointStatement('rollback', true)).toBeNull();
    expect(savepointStatement('select 1', true)).toBeNull();
  });

  it('PostgreSQL keeps a quoted name as written (so "SP" is not sp); SQLite compares names without case', () => {
    expect(savepointStatement('release "Covenant_Unit_3"', true)).toEqual({ op: 'release', name: 'Covenant_Unit_3' });
    expect(savepointStatement('release "Covenant_Unit_3"', false)).toEqual({ op: 'release', name: 'covenant_unit_3' });
    expect(savepointStatement('release "a""b"', true)).toEqual({ op: 'release', name: 'a"b' });
  });

  it('a name it cannot read, or reads two ways, is null (the handle then refuses the statement)', () => {
    for (const text of ['release', 'release savepoint', "release 'sp'", 'release [sp]', 'release `sp`', 'rollback to U&"sp"', 'release /* a /* b */ sp */ other']) {
      expect([text, savepointStatement(text, true)?.name ?? 'unread']).toEqual([text, 'unread']);
    }
  });
});
