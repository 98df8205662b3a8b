// Static check that `@covenant/ledger/verify` runs in a browser: walk its import graph as a browser bundler
// would (the "browser" condition picks `#sha256`), and refuse any Node-only construct in the files reached.
import { readFileSync, realpathSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const PACKAGE = fileURLToPath(new URL('../', import.meta.url));
// The repository's sources (ADR 0014): `#sha256` and the exports pick src/ under this condition first.
const BROWSER = ['@covenant/source', 'browser', 'import', 'default'];
const NODE = ['@covenant/source', 'node', 'import', 'default'];
/** The only packages the portable verifier may import (ADR 0007: audited, browser-ready, no dependencies). */
const ALLOWED_PACKAGES = ['@noble/curves', '@noble/hashes'];

/** Comments removed, strings and regex literals kept, so a mention of Buffer in prose is not a finding. */
function stripComments(source: string): string {
  let out = '';
  let i = 0;
  let last = ''; // the last significant (non-space) character emitted: decides regex versus division
  const regexCanFollow = (): boolean => last === '' || '(,=:[!&|?{};+-*%<>~^'.includes(last) || /\b(?:return|typeof|case|do|else|in|of|void|yield|await)$/.test(out.trimEnd());
  while (i < source.length) {
    const c = source[i]!;
    const next = source[i + 1];
    if (c === '/' && next === '/') {
      while (i < source.length && source[i] !== '\n') i += 1;
    } else if (c === '/' && next === '*') {
      const end = source.indexOf('*/', i + 2);
      i = end === -1 ? source.length : end + 2;
      out += ' ';
    } else if (c === "'" || c === '"' || c === '`' || (c === '/' && regexCanFollow())) {
      let j = i + 1;
      let inClass = false;
      while (j < source.length) {
        const d = source[j]!;
        if (d === '\\') j += 2;
        else if (c === '/' && d === '[') (inClass = true), (j += 1);
        else if (c === '/' && d === ']') (inClass = false), (j += 1);
        else if (d === c && !inClass) break;
        else if (d === '\n' && c !== '`') break;
        else j += 1;
      }
      out += source.slice(i, j + 1);
      last = c;
      i = j + 1;
    } else {
      out += c;
      if (!/\s/.test(c)) last = c;
      i += 1;
    }
  }
  return out;
}

/** Module specifiers of static imports, re-exports, side-effect imports and dynamic imports. */
function specifiersOf(code: string): string[] {
  const found: string[] = [];
  for (const pattern of [/\b(?:import|export)\s[^'"`;]*?\bfrom\s*['"]([^'"]+)['"]/g, /\bimport\s*['"]([^'"]+)['"]/g, /\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g]) {
    for (const match of code.matchAll(pattern)) found.push(match[1]!);
  }
  return found;
}

/** What a browser does not have, in code (comments already stripped). */
function nodeOnlyConstructs(code: string): string[] {
  const problems: string[] = [];
  for (const specifier of specifiersOf(code)) {
    if (specifier.startsWith('node:') || builtinModules.includes(specifier.split('/')[0]!)) problems.push(`imports ${specifier}`);
  }
  if (/(?<![\w$.])Buffer\b/.test(code)) problems.push('uses Buffer');
  if (/(?<![\w$.])process\s*\./.test(code)) problems.push('uses process.');
  if (/(?<![\w$.])require\s*\(/.test(code)) problems.push('uses require(');
  return problems;
}

/** A conditional target (package.json "exports"/"imports" value), chosen as Node's algorithm does: first key that applies. */
function pick(target: unknown, conditions: readonly string[]): string | undefined {
  if (typeof target === 'string') return target;
  if (target === null || typeof target !== 'object' || Array.isArray(target)) return undefined;
  for (const [key, value] of Object.entries(target)) {
    if (conditions.includes(key)) {
      const chosen = pick(value, conditions);
      if (chosen !== undefined) return chosen;
    }
  }
  return undefined;
}

function packageNameOf(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]!;
}

/** A bare specifier resolved from `fromFile` through node_modules and the package's "exports". */
function resolveBare(specifier: string, fromFile: string, conditions: readonly string[]): string {
  const name = packageNameOf(specifier);
  for (let dir = dirname(fromFile); ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', name);
    let manifest: { exports?: Record<string, unknown> };
    try {
      manifest = JSON.parse(readFileSync(join(candidate, 'package.json'), 'utf8'));
    } catch {
      if (dirname(dir) === dir) throw new Error(`cannot resolve ${specifier} from ${fromFile}`);
      continue;
    }
    const target = pick(manifest.exports?.[`.${specifier.slice(name.length)}`], conditions);
    if (target === undefined) throw new Error(`${specifier} is not exported under ${conditions.join(', ')}`);
    return realpathSync(join(candidate, target));
  }
}

interface Finding {
  readonly file: string;
  readonly problem: string;
}

/**
 * Walks the runtime import graph from `entry` under `conditions`: `#` imports through this package's
 * "imports", relative imports, and bare imports into their packages. Our files must have no Node-only
 * construct; a package outside ALLOWED_PACKAGES is a finding, and inside one only Node imports are (noble's
 * comments and method names mention Buffer and process). Type-only imports are followed too (stricter).
 * `read` lets a test substitute a file's text.
 */
function walkImports(entry: string, conditions: readonly string[], read: (file: string) => string = (file) => readFileSync(file, 'utf8')) {
  const manifest = JSON.parse(readFileSync(join(PACKAGE, 'package.json'), 'utf8')) as { imports: Record<string, unknown> };
  const ours = new Set<string>();
  const theirs = new Set<string>();
  const packages = new Set<string>();
  const findings: Finding[] = [];
  const pending = [resolve(entry)];
  while (pending.length > 0) {
    const file = pending.pop()!;
    const own = file.startsWith(PACKAGE) && !file.includes('node_modules');
    if ((own ? ours : theirs).has(file)) continue;
    (own ? ours : theirs).add(file);
    const code = stripComments(read(file));
    const name = own ? relative(PACKAGE, file) : file;
    for (const problem of nodeOnlyConstructs(code)) {
      if (own || problem.startsWith('imports ')) findings.push({ file: name, problem });
    }
    for (const specifier of specifiersOf(code)) {
      if (specifier.startsWith('node:') || builtinModules.includes(packageNameOf(specifier))) continue; // already a finding
      if (specifier.startsWith('.')) pending.push(resolve(dirname(file), specifier));
      else if (specifier.startsWith('#')) {
        const target = own ? pick(manifest.imports[specifier], conditions) : undefined;
        if (target === undefined) findings.push({ file: name, problem: `cannot resolve ${specifier}` });
        else pending.push(join(PACKAGE, target));
      } else {
        const pkg = packageNameOf(specifier);
        packages.add(pkg);
        if (!ALLOWED_PACKAGES.includes(pkg)) findings.push({ file: name, problem: `imports package ${pkg}` });
        else pending.push(resolveBare(specifier, file, conditions));
      }
    }
  }
  return { files: [...ours].map((file) => relative(PACKAGE, file)).sort(), packageFiles: theirs.size, packages: [...packages].sort(), findings };
}

const ENTRY = join(PACKAGE, 'src/verify-offline.ts');

describe('@covenant/ledger/verify runs in a browser (static import graph)', () => {
  it('is the package\'s "./verify" export', () => {
    const manifest = JSON.parse(readFileSync(join(PACKAGE, 'package.json'), 'utf8')) as { exports: Record<string, unknown> };
    expect(pick(manifest.exports['./verify'], BROWSER)).toBe('./src/verify-offline.ts');
    expect(pick(manifest.exports['./verify'], ['browser', 'import'])).toBe('./dist/verify-offline.js');
  });

  it('reaches no node: import, Buffer, process or require under the "browser" condition', () => {
    const graph = walkImports(ENTRY, BROWSER);
    expect(graph.findings).toEqual([]);
    expect(graph.files).toContain('src/sha256-portable.ts');
    expect(graph.files).not.toContain('src/sha256-node.ts');
    // The verifier itself, not a stub: the walk really covers it (and noble's files).
    expect(graph.files).toEqual(expect.arrayContaining(['src/bundle.ts', 'src/checkpoint.ts', 'src/encoding.ts', 'src/merkle-hash.ts', 'src/signed-note.ts', 'src/verify.ts']));
    expect(graph.packages).toEqual(['@noble/curves', '@noble/hashes']);
    expect(graph.packageFiles).toBeGreaterThan(3);
  });

  it('fails where it should: the Node condition, or a Node import slipped into merkle-hash.ts', () => {
    // Under "node", `#sha256` is node:crypto: the same walk flags it.
    expect(walkImports(ENTRY, NODE).findings).toEqual([{ file: 'src/sha256-node.ts', problem: 'imports node:crypto' }]);
    const merkleHash = join(PACKAGE, 'src/merkle-hash.ts');
    const withNodeImport = (file: string) =>
      file === merkleHash ? `import { createHash } from 'node:crypto';\n${readFileSync(file, 'utf8')}` : readFileSync(file, 'utf8');
    expect(walkImports(ENTRY, BROWSER, withNodeImport).findings).toEqual([{ file: 'src/merkle-hash.ts', problem: 'imports node:crypto' }]);
    // The whole-package entry reaches the store and the Node fast paths.
    const everything = walkImports(join(PACKAGE, 'src/index.ts'), BROWSER);
    expect(everything.findings).toEqual(expect.arrayContaining([{ file: 'src/verify-ledger.ts', problem: 'imports node:crypto' }]));
  });

  it('the checker: finds Node constructs in code, not in comments, strings or method names', () => {
    const scan = (source: string) => nodeOnlyConstructs(stripComments(source));
    expect(scan(`import * as nodeCrypto from 'node:crypto';`)).toEqual(['imports node:crypto']);
    expect(scan(`import { readFileSync } from 'fs';`)).toEqual(['imports fs']);
    expect(scan(`export { x } from "node:path";`)).toEqual(['imports node:path']);
    expect(scan(`const m = await import('node:os');`)).toEqual(['imports node:os']);
    expect(scan(`const b = Buffer.from(bytes).toString('base64');`)).toEqual(['uses Buffer']);
    expect(scan(`if (process.env.X) run();`)).toEqual(['uses process.']);
    expect(scan(`const c = require('crypto');`)).toEqual(['uses require(']);
    expect(scan(`// Buffer.from(text) is lenient\n/* process.env */ const a = 1;`)).toEqual([]);
    expect(scan(`this.process(view, 0); hash.require(1); const isBuffer = 1;`)).toEqual([]);
    // A string or a regex with "//" in it does not hide the code after it.
    expect(scan(`const url = 'https://x'; Buffer.alloc(1);`)).toEqual(['uses Buffer']);
    expect(scan(`const re = /^\\/\\/[/]*$/; const n = a / b / c; Buffer.alloc(1);`)).toEqual(['uses Buffer']);
  });
});
