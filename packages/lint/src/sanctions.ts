import { readFile } from 'node:fs/promises';
import * as z from 'zod';

/**
 * One reviewed exception to "auth required": the procedure, why it is public, who owns that decision,
 * and the definition hash that was reviewed. Any later change to the procedure changes its hash, and the
 * sanction stops applying until someone reviews it again.
 */
export const Sanction = z.strictObject({
  procedure: z.string().min(1),
  definitionHash: z.string().regex(/^sha256:[0-9a-f]{64}$/, 'a definition hash is "sha256:" and 64 hex digits'),
  reason: z.string().min(10, 'say why this procedure must be public (at least 10 characters)'),
  owner: z.string().min(1),
  reviewedBy: z.string().min(1).optional(),
});

export const SanctionsFile = z.strictObject({
  $comment: z.string().optional(),
  sanctions: z.array(Sanction),
});

export type Sanction = z.infer<typeof Sanction>;

export type SanctionsResult =
  | { readonly ok: true; readonly sanctions: ReadonlyArray<Sanction>; readonly text: string }
  | { readonly ok: false; readonly problems: ReadonlyArray<string> };

/** Reads the sanctions file. A missing file means "no sanctions"; a malformed one is reported, not guessed at. */
export async function readSanctions(file: string): Promise<SanctionsResult> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { ok: true, sanctions: [], text: '' };
    throw error;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    return { ok: false, problems: [`not valid JSON: ${(error as Error).message}`] };
  }
  const parsed = SanctionsFile.safeParse(json);
  if (!parsed.success) {
    return {
      ok: false,
      problems: parsed.error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`),
    };
  }
  return { ok: true, sanctions: parsed.data.sanctions, text };
}
