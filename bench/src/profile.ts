/**
 * `node --import tsx bench/src/profile.ts <case name part> [seconds]`: runs one HTTP case's server, warms
 * it up under load, then profiles it (node:inspector, the steady state only) while the load generator
 * drives it, and prints the server's hottest functions by self time and its CPU per request. A tool for
 * finding where the time goes; the numbers of record come from `npm run bench`.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
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

const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts', def.server, def.token === 'cold' ? '20000' : '0'], {
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
const tokens = def.token === 'cold' ? ready.tokens.slice(1) : ready.tokens.slice(0, 1);
const load = async (duration: number): Promise<void> => {
  const config = join(profDir, 'load.json');
  writeFileSync(config, JSON.stringify({ url: `http://127.0.0.1:${ready.port}${path}`, method: def.method, body, seconds: duration, connections: 16, tokens }));
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/load.ts', config], { cwd: BENCH, stdio: ['ignore', 'inherit', 'inherit'] });
  await new Promise((res) => child.on('exit', res));
};
await load(3); // warm-up, not profiled
const file = join(profDir, 'steady.cpuprofile');
child.send({ type: 'profile-start' });
await load(seconds);
child.send({ type: 'profile-stop', file });
const profiled = await new Promise<Extract<ServerMessage, { type: 'profiled' }>>((res) => child.on('message', (m: ServerMessage) => m.type === 'profiled' && res(m)));
child.send({ type: 'stop' });
await new Promise((res) => child.on('exit', res));

interface Node { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; hitCount: number; children?: number[] }
const profile = JSON.parse(readFileSync(file, 'utf8')) as { nodes: Node[]; samples: number[]; startTime: number; endTime: number };
const self = new Map<string, number>();
let total = 0;
for (const node of profile.nodes) {
  const where = node.callFrame.url.replace(/^.*node_modules\/\.pnpm\/[^/]+\/node_modules\//, '').replace(/^file:\/\/\/work\/main\//, '');
  const key = `${node.callFrame.functionName || '(anonymous)'} ${where}:${node.callFrame.lineNumber + 1}`;
  self.set(key, (self.get(key) ?? 0) + node.hitCount);
  total += node.hitCount;
}
const idle = [...self].filter(([k]) => k.startsWith('(idle)')).reduce((a, [, v]) => a + v, 0);
const busyMicros = ((profile.endTime - profile.startTime) * (total - idle)) / total;
console.log(`samples ${total}, idle ${((idle / total) * 100).toFixed(1)}%, ${profiled.requests} requests, ~${(busyMicros / profiled.requests).toFixed(0)} µs of CPU per request (profiler overhead included)`);
for (const [key, hits] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 45)) {
  console.log(`${((hits / (total - idle)) * 100).toFixed(1).padStart(5)}%  ${key}`);
}
console.log(`profile: ${file}`);
