import { defineContract, mutation } from '@covenant/contract';
import * as z from 'zod';

/**
 * Session revocation. There is no org in the input: a revocation is made in the verified caller's tenant
 * and applies to that tenant's tokens only (its org and, when the caller's session is limited to a
 * workspace, that workspace), so a session id guessed from another org revokes nothing there. From the
 * next call on, every token carrying the session's `sid` is refused with 401 ERR_IDENTITY_TOKEN_REVOKED,
 * also when it is in a verifier's token cache. The revocation commits with the call's ok outcome on the
 * audit ledger, which also records which session was revoked, and by whom.
 */

/** A session id, as the identity provider puts it in the token's `sid`: well-formed text, no control characters. */
const SessionId = z
  .string()
  .min(1)
  .max(255)
  .regex(/^(?:[^\u0000-\u001f\u007f\ud800-\udfff]|[\ud800-\udbff][\udc00-\udfff])+$/, 'no control characters or lone surrogates');
/** Why: free text, classified, so the audit trail and the logs redact it. */
const Reason = z.string().trim().min(3).max(500).meta({ pii: 'free-text' });

export const sessions = defineContract('sessions', {
  revoke: mutation({
    summary: "Revokes a session in the caller's tenant: every token carrying its sid is refused from the next call on.",
    input: z.strictObject({ session: SessionId, reason: Reason }),
    output: z.object({
      session: z.string(),
      /** The workspace the revocation is limited to (the caller's), or `null`: the whole org. */
      workspace: z.string().nullable(),
      revokedAt: z.string(),
    }),
    capability: 'sessions.revoke',
  }),
});
