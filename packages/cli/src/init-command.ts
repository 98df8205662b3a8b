import { constants } from 'node:fs';
import { lstat, mkdir, open, readdir, stat } from 'node:fs/promises';
import { builtinModules } from 'node:module';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { cliVersion, initFiles } from './init-template.ts';
import type { Io } from './main.ts';
import { UsageError, parseCommandLine } from './usage-error.ts';

/**
 * `covenant init [dir] [--name <package name>] [--force]`: writes a new project into `dir` (default: the
 * working directory), created if missing. A folder with anything in it but `.git` is refused (exit 1,
 * nothing written) unless `--force`, which writes into it and lists each file it replaced; it never writes
 * through a symbolic link or over a folder, so nothing lands outside `dir`. Prints what it wrote and the
 * next two commands.
 */
export async function initCommand(args: ReadonlyArray<string>, io: Io): Promise<number> {
  const { values, positionals } = parseCommandLine(args, { name: { type: 'string' }, force: { type: 'boolean' } }, 1);
  const dir = resolve(io.cwd, positionals[0] ?? '.');
  const name = values.name ?? basename(dir);
  const problem = packageNameProblem(name);
  if (problem !== null) {
    throw new UsageError(
      values.name === undefined
        ? `init: the folder name "${name}" is not a valid package name (${problem}): pass --name <package name>`
        : `init: --name "${name}" is not a valid package name (${problem})`,
    );
  }
  const shown = relative(io.cwd, dir) || '.';
  const refuse = (why: string): number => {
    io.stderr(`covenant init: ${why}; nothing was written\n`);
    return 1;
  };

  const found = await stat(dir).catch(() => null);
  if (found !== null && !found.isDirectory()) return refuse(`${shown} exists and is not a folder`);
  if (found !== null && !values.force) {
    const entries = (await readdir(dir)).filter((entry) => entry !== '.git').sort();
    if (entries.length > 0) {
      const some = entries.length > 5 ? `${entries.slice(0, 5).join(', ')}, …` : entries.join(', ');
      return refuse(`${shown} is not empty (${some}); choose an empty folder, or pass --force to write into it (the files it replaces are listed)`);
    }
  }

  const files = await initFiles(name, await cliVersion());
  // Everything is checked before anything is written: a refusal leaves the folder as it was.
  const replaced = new Set<string>();
  for (const file of files) {
    const blocked = await blockedPath(dir, file.path);
    if (blocked === 'file') replaced.add(file.path);
    else if (blocked !== null) return refuse(blocked);
  }

  for (const file of files) {
    const target = join(dir, ...file.path.split('/'));
    await mkdir(dirname(target), { recursive: true });
    // O_NOFOLLOW: a link planted since the check is refused rather than followed out of the folder.
    const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_NOFOLLOW | (replaced.has(file.path) ? constants.O_TRUNC : constants.O_EXCL);
    const handle = await open(target, flags, 0o666);
    try {
      await handle.writeFile(file.text, 'utf8');
    } finally {
      await handle.close();
    }
  }

  const where = shown === '.' ? 'the current folder' : shown;
  io.stdout(`covenant init: wrote ${files.length} files for ${name} in ${where}\n`);
  for (const file of files) io.stdout(`  ${file.path}${replaced.has(file.path) ? ' (replaced)' : ''}\n`);
  const cd = shown === '.' ? '' : `cd ${shellWord(shown)} && `;
  io.stdout(
    '\nNext:\n' +
      `  ${cd}npm install && npm run gen   # the dependencies, then the router, handler types and client from the contracts\n` +
      '  npm run build && npm start    # compiles to dist/ and serves on http://127.0.0.1:3000 (development identity)\n',
  );
  return 0;
}

/**
 * Why `path` (relative, `/`-separated) cannot be written under `dir`, `'file'` when it replaces a file,
 * or `null` when nothing is there. A symbolic link on the way or at the end would take the write
 * elsewhere; a folder in its place cannot be written.
 */
async function blockedPath(dir: string, path: string): Promise<string | 'file' | null> {
  const parts = path.split('/');
  for (let i = 1; i <= parts.length; i += 1) {
    const sub = parts.slice(0, i).join('/');
    const found = await lstat(join(dir, ...parts.slice(0, i))).catch(() => null);
    if (found === null) return null;
    if (found.isSymbolicLink()) return `${sub} is a symbolic link: init writes only inside the folder`;
    const last = i === parts.length;
    if (last && found.isFile()) return 'file';
    if (last) return `${sub} is not a file`;
    if (!found.isDirectory()) return `${sub} is not a folder`;
  }
  return null;
}

/**
 * Why `name` cannot be a new package's name on the npm registry, or `null` when it can: lowercase, at most
 * 214 characters, URL-safe (`a-z`, `0-9`, `-`, `.`, `_`, and one `@scope/`), not starting with `.` or `_`,
 * not a Node.js built-in module.
 */
export function packageNameProblem(name: string): string | null {
  if (name.length === 0) return 'it is empty';
  if (name.length > 214) return 'longer than 214 characters';
  if (name !== name.toLowerCase()) return 'upper-case letters';
  const match = /^(?:@([^/]+)\/)?([^/]+)$/.exec(name);
  if (match === null) return 'a "/" outside "@scope/name"';
  for (const part of [match[1], match[2]]) {
    if (part === undefined) continue;
    if (!/^[a-z0-9._-]+$/.test(part)) return 'only a-z, 0-9, "-", "." and "_" are allowed';
    if (part.startsWith('.') || part.startsWith('_')) return 'it starts with "." or "_"';
  }
  if (builtinModules.includes(name) || name === 'node_modules' || name === 'favicon.ico') return `${name === 'node_modules' || name === 'favicon.ico' ? 'a reserved name' : 'the name of a Node.js built-in module'}`;
  return null;
}

/** `word` as one shell word: as is when it is plain, else single-quoted. */
function shellWord(word: string): string {
  return /^[A-Za-z0-9._/@-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}
