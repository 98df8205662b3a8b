import { connect, type Socket } from 'node:net';

/** What came back on a raw connection: the status and, when there was one, the parsed JSON body. */
export interface RawAnswer {
  readonly status: number;
  readonly headers: string;
  readonly body: any;
}

/**
 * A POST whose headers go out now and whose body goes out only when the test says so (`send`), as a
 * caller holding the body back would do it. `answer` settles with what the server wrote before closing
 * or completing the response (or, when it answered without waiting for the body, with that answer).
 *
 * @example
 * ```ts
 * const held = await holdRequest(url, '/tickets.create', { token, body: { title: 't' } });
 * // … change something while the body is held …
 * const { status } = await held.send();
 * ```
 */
export interface HeldRequest {
  /** Sends the body and waits for the answer. */
  send(): Promise<RawAnswer>;
  /** The answer, without sending the body (a server that refuses a held body answers on its own). */
  readonly answer: Promise<RawAnswer>;
  close(): void;
}

export async function holdRequest(
  url: string,
  path: string,
  options: { readonly token?: string; readonly body: unknown },
): Promise<HeldRequest> {
  const { hostname, port } = new URL(url);
  const socket: Socket = connect(Number(port), hostname);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const body = Buffer.from(JSON.stringify(options.body));
  const head = [
    `POST ${path} HTTP/1.1`,
    `Host: ${hostname}:${port}`,
    'Content-Type: application/json',
    `Content-Length: ${body.length}`,
    ...(options.token === undefined ? [] : [`Authorization: Bearer ${options.token}`]),
    '',
    '',
  ].join('\r\n');
  socket.write(head);
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  const answer = new Promise<RawAnswer>((resolve, reject) => {
    const settle = (): void => {
      const parsed = parseAnswer(Buffer.concat(chunks));
      if (parsed === null) reject(new Error('no HTTP answer before the connection closed'));
      else resolve(parsed);
    };
    socket.on('close', settle);
    // A complete answer ends the exchange even on a kept-alive connection.
    socket.on('data', () => {
      if (isComplete(Buffer.concat(chunks))) socket.end();
    });
  });
  answer.catch(() => undefined);
  return {
    answer,
    async send() {
      socket.write(body);
      return answer;
    },
    close() {
      socket.destroy();
    },
  };
}

/** Resolves once `condition()` holds, checking after each turn of the event loop (no sleeping, no timing). */
export async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise<void>((resolve) => setImmediate(resolve));
}

/** The status, headers and JSON body of one HTTP/1.1 answer (content-length or chunked), or `null` if there is none. */
function parseAnswer(bytes: Buffer): RawAnswer | null {
  const end = bytes.indexOf('\r\n\r\n');
  if (end < 0) return null;
  const headers = bytes.subarray(0, end).toString('latin1');
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(headers)?.[1]);
  let payload = bytes.subarray(end + 4);
  if (/\r\ntransfer-encoding: chunked/i.test(headers)) payload = dechunk(payload) ?? payload;
  const text = payload.toString('utf8');
  let body: unknown = null;
  try {
    body = text === '' ? null : JSON.parse(text);
  } catch {
    body = text;
  }
  return { status, headers, body };
}

function isComplete(bytes: Buffer): boolean {
  const end = bytes.indexOf('\r\n\r\n');
  if (end < 0) return false;
  const headers = bytes.subarray(0, end).toString('latin1');
  const payload = bytes.subarray(end + 4);
  if (/\r\ntransfer-encoding: chunked/i.test(headers)) return dechunk(payload) !== null;
  const length = /\r\ncontent-length: (\d+)/i.exec(headers)?.[1];
  return length !== undefined && payload.length >= Number(length);
}

/** A chunked body's bytes, or `null` while its last chunk has not arrived. */
function dechunk(payload: Buffer): Buffer | null {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const line = payload.indexOf('\r\n', at);
    if (line < 0) return null;
    const size = Number.parseInt(payload.subarray(at, line).toString('latin1'), 16);
    if (!Number.isFinite(size)) return null;
    if (size === 0) return Buffer.concat(parts);
    const start = line + 2;
    if (payload.length < start + size + 2) return null;
    parts.push(payload.subarray(start, start + size));
    at = start + size + 2;
  }
}
