/**
 * One benchmark server, run as its own child process (the runner pins it to one core with taskset).
 * Usage: node --import tsx bench/src/server.ts <raw|trpc|orpc|covenant|covenant-trpc> [cold tokens to mint]
 * Over IPC it reports `ready` (port, pre-minted tokens, substitutions for the request templates), and answers
 * `cpu` requests with process.cpuUsage() (user + system µs) and the number of responses finished so far.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as z from 'zod';
import type { RunnerMessage, ServerKind, ServerMessage } from './cases.ts';

const kind = process.argv[2] as ServerKind;
const coldTokens = Number(process.argv[3] ?? 0);

const send = (message: ServerMessage): void => {
  process.send?.(message);
};

const CreateInput = z.strictObject({ title: z.string().min(1).max(200), priority: z.enum(['low', 'normal', 'high']) });

async function rawServer(): Promise<Server> {
  const body = JSON.stringify({ result: { data: { ok: true } } });
  return createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
}

async function trpcServer(): Promise<Server> {
  const { initTRPC } = await import('@trpc/server');
  const { createHTTPServer } = await import('@trpc/server/adapters/standalone');
  const t = initTRPC.create();
  let n = 0;
  const router = t.router({
    hello: t.procedure.query(() => ({ ok: true })),
    create: t.procedure.input(CreateInput).mutation(({ input }) => ({ id: `t_${++n}`, ...input })),
  });
  return createHTTPServer({ router });
}

async function orpcServer(): Promise<Server> {
  const { os } = await import('@orpc/server');
  const { RPCHandler } = await import('@orpc/server/node');
  let n = 0;
  const router = {
    hello: os.handler(() => ({ ok: true })),
    create: os.input(CreateInput).handler(({ input }) => ({ id: `t_${++n}`, ...input })),
  };
  const handler = new RPCHandler(router);
  return createServer(async (req, res) => {
    const { matched } = await handler.handle(req, res, { prefix: '/rpc', context: {} });
    if (!matched) {
      res.statusCode = 404;
      res.end('not found');
    }
  });
}

let cleanup: () => Promise<void> = async () => {};

async function covenantServer(transport: 'covenant' | 'trpc'): Promise<{ server: Server; tokens: string[]; vars: Record<string, string> }> {
  const { createNodeCheckpointSigner } = await import('@covenant/ledger/node');
  const { pino } = await import('pino');
  const { createService } = await import('../../apps/helpdesk/src/service.ts');
  const { openDevIdentity } = await import('../../apps/helpdesk/src/dev-identity.ts');
  const { seedDemo, demoUser } = await import('../../apps/helpdesk/src/seed.ts');
  const { createClient } = await import('../../apps/helpdesk/src/generated/client.ts');

  // A SQLite file on disk (not :memory:), so the audit path's durability is real.
  const dir = mkdtempSync(join(tmpdir(), 'covenant-bench-'));
  const identity = await openDevIdentity(join(dir, 'dev-issuer.jwk'));
  const service = await createService({
    identity: identity.verifierOptions,
    databaseUrl: join(dir, 'bench.db'),
    // Warnings and errors only: per-request info logging is not what this measures.
    logger: pino({ level: 'warn' }),
    ledgerSigner: createNodeCheckpointSigner({ name: 'bench.local/service', privateKey: new Uint8Array(randomBytes(32)) }),
    transport,
  });
  cleanup = async () => {
    await service.close();
    rmSync(dir, { recursive: true, force: true });
  };
  await new Promise<void>((resolve) => service.server.listen(0, '127.0.0.1', resolve));
  const address = service.server.address();
  const url = `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`;
  await seedDemo(service, async (user) => {
    const token = await identity.mint(user);
    return createClient({ url, token: () => token });
  });
  // ann: an agent in acme/support, holding tickets.read and comments.write.
  const ann = demoUser('ann');
  const warm = await identity.mint(ann);
  const api = createClient({ url, token: () => warm });
  const { tickets } = await api.tickets.list.query({});
  const ticket = tickets[0];
  if (ticket === undefined) throw new Error('the demo seed created no ticket for ann');
  const tokens = [warm];
  for (let i = 0; i < coldTokens; i += 1) tokens.push(await identity.mint(ann));
  return {
    server: service.server,
    tokens,
    vars: {
      ticketInput: encodeURIComponent(JSON.stringify({ ticketId: ticket.id })),
      commentBody: JSON.stringify({ ticketId: ticket.id, body: 'benchmark comment', internal: true }),
    },
  };
}

async function main(): Promise<void> {
  let server: Server;
  let tokens: string[] = [];
  let vars: Record<string, string> = {};
  if (kind === 'raw') server = await rawServer();
  else if (kind === 'trpc') server = await trpcServer();
  else if (kind === 'orpc') server = await orpcServer();
  else if (kind === 'covenant') ({ server, tokens, vars } = await covenantServer('covenant'));
  else if (kind === 'covenant-trpc') ({ server, tokens, vars } = await covenantServer('trpc'));
  else throw new Error(`unknown server kind ${String(kind)}`);

  let finished = 0;
  // Profiling on request (bench/src/profile.ts): the steady state only, without start-up and seeding.
  const profiler = new Session();
  let profiledFrom = 0;
  server.on('request', (_req, res) => {
    res.once('finish', () => {
      finished += 1;
    });
  });
  if (!server.listening) await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address !== 'object') throw new Error('server has no port');

  process.on('message', (message: RunnerMessage) => {
    if (message.type === 'cpu') {
      const usage = process.cpuUsage();
      send({ type: 'cpu', id: message.id, cpuMicros: usage.user + usage.system, requests: finished });
    } else if (message.type === 'profile-start') {
      profiler.connect();
      profiler.post('Profiler.enable', () => profiler.post('Profiler.start', () => undefined));
      profiledFrom = finished;
    } else if (message.type === 'profile-stop') {
      profiler.post('Profiler.stop', (error, result) => {
        if (error === null) writeFileSync(message.file, JSON.stringify(result.profile));
        send({ type: 'profiled', file: message.file, requests: finished - profiledFrom });
      });
    } else if (message.type === 'stop') {
      server.closeAllConnections();
      void cleanup().finally(() => process.exit(0));
      if (kind !== 'covenant' && kind !== 'covenant-trpc') server.close(() => process.exit(0));
    }
  });
  send({ type: 'ready', port: address.port, tokens, vars });
}

main().catch((error: unknown) => {
  process.stderr.write(`bench server (${kind}): ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
