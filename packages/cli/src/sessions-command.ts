import { existsSync } from 'node:fs';
import { createDatabase } from '@covenant/db';
import { createRevocationStore, recordRevocationsOn, type Revocation } from '@covenant/identity/revocation-store';
import type { Io } from './main.ts';
import { databaseFlag, ledgerKeyFlags, openOperatorLedger, readLedgerSigner, storeFailure } from './operator-ledger.ts';
import { UsageError, parseFlags } from './usage-error.ts';

/** `covenant sessions <subcommand>`: `revoke` a session (by `sid`) or one token (by `jti`). */
export async function sessionsCommand(args: ReadonlyArray<string>, io: Io): Promise<number> {
  const [subcommand, ...rest] = args;
  if (subcommand === 'revoke') return sessionsRevoke(rest, io);
  throw new UsageError(subcommand === undefined ? 'sessions: name a subcommand (revoke)' : `sessions: unknown subcommand "${subcommand}"`);
}

const FLAGS = {
  database: { type: 'string' },
  org: { type: 'string' },
  session: { type: 'string' },
  'token-id': { type: 'string' },
  until: { type: 'string' },
  reason: { type: 'string' },
  operator: { type: 'string' },
  'ledger-key': { type: 'string' },
  'ledger-state': { type: 'string' },
  origin: { type: 'string' },
} as const;

/** `--until`: an ISO 8601 instant with a time zone (`Z` or an offset), as `Date.prototype.toISOString` writes one. */
const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/;

/**
 * `covenant sessions revoke`: the operator's way to withdraw a session (`--session <sid>`: every token
 * carrying it) or one token (`--token-id <jti> --until <its exp>`) of an org, on the service's database
 * while it runs. The revocation and its audit-ledger entry (`operator:<--operator>`, signed with the
 * service's checkpoint key) commit in one transaction; the service refuses the token on its very next
 * call, cached or not. The reason stays in the revocations table, not on the ledger.
 */
async function sessionsRevoke(args: ReadonlyArray<string>, io: Io): Promise<number> {
  const values = parseFlags(args, FLAGS) as Partial<Record<keyof typeof FLAGS, string>>;
  const missing = (['database', 'org', 'reason', 'operator'] as const).filter((name) => values[name] === undefined || values[name].trim() === '');
  if (missing.length > 0) {
    throw new UsageError(`sessions revoke: ${missing.map((name) => `--${name}`).join(', ')} ${missing.length === 1 ? 'is' : 'are'} required`);
  }
  const session = values.session;
  const tokenId = values['token-id'];
  if ((session === undefined) === (tokenId === undefined)) throw new UsageError('sessions revoke: name exactly one of --session <sid> and --token-id <jti>');
  if (session !== undefined && values.until !== undefined) throw new UsageError('sessions revoke: --until goes with --token-id (a session is revoked for good)');
  let until: Date | undefined;
  if (tokenId !== undefined) {
    if (values.until === undefined) throw new UsageError("sessions revoke: --token-id needs --until <iso time>, the token's expiry");
    until = new Date(values.until);
    if (!ISO_INSTANT.test(values.until) || Number.isNaN(until.getTime()) || !isCalendarDate(values.until.slice(0, 10))) {
      throw new UsageError('sessions revoke: --until is an ISO 8601 time with a zone, e.g. 2030-01-01T12:00:00Z');
    }
  }
  const reason = values.reason!.trim();
  if (reason.length < 3 || reason.length > 500) throw new UsageError('sessions revoke: --reason is 3 to 500 characters');
  const { database, postgres, shown } = databaseFlag('sessions revoke', values.database!, io, true);
  const { ledgerKey, ledgerState, origin } = ledgerKeyFlags('sessions revoke', values, 'every revocation is a ledger entry', io);

  const signer = readLedgerSigner('sessions revoke', ledgerKey, origin, io);
  if (signer === null) return 1;
  // The service's database: revoking in a new, empty one would protect nothing.
  if (!postgres && !existsSync(database)) {
    io.stderr(`covenant sessions revoke: nothing was changed; no database at ${database}\n`);
    return 1;
  }
  const db = createDatabase<any>({ url: database });
  const ledger = await openOperatorLedger('sessions revoke', db, signer, origin, shown, io, { stateFile: ledgerState });
  if (ledger === null) return 1;
  try {
    const store = createRevocationStore({ db, onRevoke: recordRevocationsOn(ledger) });
    const common = { org: values.org!, revokedBy: `operator:${values.operator!}`, reason };
    const revocation: Revocation = await ledger.transact((tx) =>
      tokenId !== undefined
        ? store.bind(tx.db).revokeToken({ ...common, tokenId, expiresAt: until! })
        : store.bind(tx.db).revokeSession({ ...common, session: session! }),
    );
    const what = revocation.kind === 'session' ? `session ${revocation.value}` : `token ${revocation.value} (until ${revocation.expiresAt})`;
    io.stdout(
      `covenant sessions revoke: ${revocation.org}: ${what} revoked (${revocation.id})\n` +
        `  recorded as ${revocation.revokedBy} in ${shown} and on its ledger (${await ledger.size()} entries)\n`,
    );
    return 0;
  } catch (error) {
    return storeFailure('sessions revoke', error, io);
  } finally {
    await ledger.close();
    await db.destroy();
  }
}

/** `YYYY-MM-DD` names a day that exists (Date would roll 2030-02-31 over into March). */
function isCalendarDate(text: string): boolean {
  const [year, month, day] = text.split('-').map(Number) as [number, number, number];
  const date = new Date(Date.UTC(year, month - 1, day));
  return date.getUTCFullYear() === year && date.getUTCMonth() === month - 1 && date.getUTCDate() === day;
}
