/**
 * What the framework writes to its log about an error: enough to find the fault, nothing of the data it
 * was about. pino's default error serializer writes the message, the stack, the cause chain, every member
 * of an AggregateError and every enumerable property — an HTTP client's `config` (its Authorization
 * header, the request body), a response's `data`, PostgreSQL's `detail` (`Key (org, email)=(…) already
 * exists`), a handler's `User alice@example.com not found`. This keeps:
 * - `type`: the class name;
 * - `code`: the error's own stable code, when it is one (`ERR_…`, `SQLITE_CONSTRAINT_UNIQUE`, `23505`);
 * - `constraint`, `table`, `column`, `schema`: the database's names for what failed (names, never values);
 * - `message`: the message with what looks like a value redacted (see {@link redactLogText}), and the
 *   stack's frames under it;
 * - `issues`, for a schema's validation error (zod, Standard Schema): each issue's `code` and `path`
 *   only (zod's message is the issues as JSON, which may quote the offending input);
 * - `cause` and, for an AggregateError, `errors`: the same, a few levels deep.
 * Nothing else: no `detail`, `config`, `request`, `response`, `data`, `headers` or any other property.
 *
 * @example
 * ```ts
 * logger.error({ error: errorForLog(error), code }, 'call failed');
 * ```
 */
export interface ErrorLogRecord {
  readonly type: string;
  readonly code?: string;
  readonly constraint?: string;
  readonly table?: string;
  readonly column?: string;
  readonly schema?: string;
  readonly message: string;
  readonly stack?: string;
  readonly issues?: ReadonlyArray<{ readonly code: string; readonly path: ReadonlyArray<string | number> }>;
  readonly cause?: ErrorLogRecord;
  readonly errors?: ReadonlyArray<ErrorLogRecord>;
}

const MAX_DEPTH = 4;
const MAX_MEMBERS = 10;
const MAX_MESSAGE = 1_000;
const MAX_FRAMES = 20;
const MAX_ISSUES = 20;
/** A code worth keeping is a short identifier, not a value someone put under `code`. */
const CODE = /^[A-Za-z0-9_.:-]{1,64}$/;
const NAME = /^[A-Za-z0-9_.$ -]{1,128}$/;
/** `password: hunter2`, `api-key: …`: key names whose value is a secret or personal, followed by `:`. */
const SECRET_KEY_COLON =
  /\b((?:pass(?:word|wd)?|secret|token|api[-_]?key|authori[sz]ation|cookie|session|e-?mail|phone|ssn|card|iban|account)[\w-]*)\s*:\s*(?!\[redacted)[^\s,;&]+/gi;

export function errorForLog(error: unknown): ErrorLogRecord {
  return record(error, 0);
}

function record(error: unknown, depth: number): ErrorLogRecord {
  if (!(error instanceof Error)) {
    // A thrown string, number or object: its type, and a string's text redacted; never an object's members.
    const type = error === null ? 'null' : typeof error;
    return { type, message: typeof error === 'string' ? redactLogText(error) : `a thrown ${type}` };
  }
  const fields = error as Error & Record<string, unknown>;
  const type = className(error);
  const issues = schemaIssues(fields['issues']);
  const message = issues === undefined ? redactLogText(typeof error.message === 'string' ? error.message : '') : `${issues.length} validation issue(s)`;
  const out: { -readonly [K in keyof ErrorLogRecord]: ErrorLogRecord[K] } = { type, message };
  if (issues !== undefined) out.issues = issues;
  const code = fields['code'];
  if ((typeof code === 'string' && CODE.test(code)) || (typeof code === 'number' && Number.isSafeInteger(code))) out.code = String(code);
  for (const key of ['constraint', 'table', 'column', 'schema'] as const) {
    const value = fields[key];
    if (typeof value === 'string' && NAME.test(value)) out[key] = value;
  }
  const frames = stackFrames(error.stack);
  if (frames !== '') out.stack = `${type}: ${message}\n${frames}`;
  if (depth < MAX_DEPTH) {
    if (error.cause !== undefined) out.cause = record(error.cause, depth + 1);
    if (error instanceof AggregateError && Array.isArray(error.errors)) {
      out.errors = error.errors.slice(0, MAX_MEMBERS).map((member: unknown) => record(member, depth + 1));
    }
  }
  return out;
}

/** A validation error's issues as codes and paths: the keys and indices of the input, never its values. */
function schemaIssues(value: unknown): ErrorLogRecord['issues'] {
  if (!Array.isArray(value)) return undefined;
  return value.slice(0, MAX_ISSUES).map((issue: unknown) => {
    const { code, path } = (issue ?? {}) as { code?: unknown; path?: unknown };
    return {
      code: typeof code === 'string' && CODE.test(code) ? code : 'invalid',
      path: Array.isArray(path)
        ? path.slice(0, 32).map((segment: unknown) => (typeof segment === 'number' ? segment : typeof segment === 'string' ? segment.slice(0, 64) : '?'))
        : [],
    };
  });
}

function className(error: Error): string {
  const name = error.constructor?.name;
  return typeof name === 'string' && NAME.test(name) ? name : 'Error';
}

/** The `    at …` lines of a stack (code locations only: the message lines above them are dropped). */
function stackFrames(stack: unknown): string {
  if (typeof stack !== 'string') return '';
  return stack
    .split('\n')
    .filter((line) => /^\s+at /.test(line))
    .slice(0, MAX_FRAMES)
    .join('\n');
}

/**
 * What looks like a value in free text, replaced by a label: quoted strings (drivers quote the offending
 * value: `invalid input syntax for type uuid: "…"`), e-mail addresses and URLs with credentials, JSON
 * Web Tokens and `Bearer`/`Basic` credentials, `key=value` pairs and `key: value` after a secret- or
 * PII-bearing key name (`password: …`, `email: …`), runs of digits (phone,
 * card and account numbers), and long letter-and-digit strings (API keys, secrets, ids). Conservative by
 * design: a log line loses some detail rather than keep a value. It is not a PII detector; classification
 * of the data itself is the contracts' (and the privacy package's) job.
 *
 * @example
 * ```ts
 * redactLogText('User alice@example.com not found'); // 'User [redacted:email] not found'
 * ```
 */
export function redactLogText(text: string): string {
  let out = text.length > MAX_MESSAGE ? `${text.slice(0, MAX_MESSAGE)}…` : text;
  out = out.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '[redacted:quoted]');
  out = out.replace(/\b[a-z][a-z0-9+.-]*:\/\/[^\s/@]*@[^\s]*/gi, '[redacted:url]');
  out = out.replace(/[^\s@<>()[\]{},;:"']+@[^\s@<>()[\]{},;:"']+\.[^\s@<>()[\]{},;:"']+/g, '[redacted:email]');
  out = out.replace(/\beyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*\.?[A-Za-z0-9_-]*/g, '[redacted:token]');
  out = out.replace(/\b(bearer|basic|token)\s+[^\s,;]+/gi, '$1 [redacted:credential]');
  out = out.replace(/\b([A-Za-z_][\w.-]{0,63})=(?!\[redacted)[^\s,;&]+/g, '$1=[redacted]');
  out = out.replace(SECRET_KEY_COLON, '$1: [redacted]');
  out = out.replace(/\+?\d[\d ().-]{4,}\d/g, '[redacted:number]');
  out = out.replace(/\b(?=[A-Za-z0-9_-]*\d)(?=[A-Za-z0-9_-]*[A-Za-z])[A-Za-z0-9_-]{20,}\b/g, '[redacted:secret]');
  return out;
}
