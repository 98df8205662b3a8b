import { parseArgs } from 'node:util';

/** A command line that cannot be run as written: `main` prints it with the usage and exits 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

type FlagTypes = Record<string, { type: 'string' | 'boolean' }>;

/** The flags' values, typed from their declarations. (Spelled out: the declaration file must name the type.) */
type ParsedFlags<T extends FlagTypes> = ReturnType<typeof parseArgs<{ args: string[]; options: T; strict: true; allowPositionals: false }>>['values'];

/** Strict flag parsing: an unknown flag or a positional argument is a usage error. */
export function parseFlags<T extends FlagTypes>(args: ReadonlyArray<string>, options: T): ParsedFlags<T> {
  try {
    return parseArgs({ args: [...args], options, strict: true, allowPositionals: false }).values;
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}
