/**
 * `node --import tsx bench/src/profile.ts <case name part> [seconds]`: runs one HTTP case's server under
 * --cpu-prof while the load generator drives it, then prints the server's hottest functions by self time.
 * A tool for finding where the time goes; the numbers of record come from `npm run bench`.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CASES, type ServerMessage } from './cases.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
const BENCH = resolve(HERE, '..');
const part = process.argv[2] ?? 'Covenant query (warm';
const seconds = Number(process.argv[3] ?? 5);
const def = CASES.find((c) => c.name.includes(part));
if (def === undefined) throw new Error(`no case matches ${part}`);
const profDir = mkdtempSync(join(tmpdir(), 'covenant-prof-'));

const child = spawn(process.execPath, ['--cpu-prof', `--cpu-prof-dir=${profDir}`, '--import', 'tsx', 'src/server.ts', def.server, def.token === 'cold' ? '20000' : '0'], {
  cwd: BENCH,
  stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
});
const ready = await new Promise<Extract<ServerMessage, { type: 'ready' }>>((res) => child.on('message', (m: ServerMessage) => m.type === 'ready' && res(m)));
let path = def.path;
let body = def.body;
for (const [key, value] of Object.entries(ready.vars)) {
  path = path.replaceAll(`{${key}}`, value);
  body = body?.replaceAll(`{${key}}`, value);
}
const config = join(profDir, 'load.json');
const tokens = def.token === 'cold' ? ready.tokens.slice(1) : ready.tokens.slice(0, 1);
writeFileSync(config, JSON.stringify({ url: `http://127.0.0.1:${ready.port}${path}`, method: def.method, body, seconds, connections: 16, tokens }));
const load = spawn(process.execPath, ['--import', 'tsx', 'src/load.ts', config], { cwd: BENCH, stdio: ['ignore', 'inherit', 'inherit'] });
await new Promise((res) => load.on('exit', res));
child.send({ type: 'stop' });
await new Promise((res) => child.on('exit', res));

interface Node { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; hitCount: number; children?: number[] }
const file = readdirSync(profDir).find((f) => f.endsWith('.cpuprofile'))!;
const profile = JSON.parse(readFileSync(join(profDir, file), 'utf8')) as { nodes: Node[]; samples: number[] };
const self = new Map<string, number>();
let total = 0;
for (const node of profile.nodes) {
  const where = node.callFrame.url.replace(/^.*node_modules\/\.pnpm\/[^/]+\/node_modules\//, '').replace(/^file:\/\/\/work\/main\//, '');
  const key = `${node.callFrame.functionName || '(anonymous)'} ${where}:${node.callFrame.lineNumber + 1}`;
  self.set(key, (self.get(key) ?? 0) + node.hitCount);
  total += node.hitCount;
}
const idle = [...self].filter(([k]) => k.startsWith('(idle)')).reduce((a, [, v]) => a + v, 0);
console.log(`samples ${total}, idle ${((idle / total) * 100).toFixed(1)}%`);
for (const [key, hits] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 45)) {
  console.log(`${((hits / (total - idle)) * 100).toFixed(1).padStart(5)}%  ${key}`);
}
console.log(`profile: ${join(profDir, file)}`);
