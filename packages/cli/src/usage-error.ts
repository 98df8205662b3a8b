import { parseArgs } from 'node:util';

/** A command line that cannot be run as written: `main` prints it with the usage and exits 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** Strict flag parsing: an unknown flag or a positional argument is a usage error. */
export function parseFlags<T extends Record<string, { type: 'string' | 'boolean' }>>(args: ReadonlyArray<string>, options: T) {
  try {
    return parseArgs({ args: [...args], options, strict: true, allowPositionals: false }).values;
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}
