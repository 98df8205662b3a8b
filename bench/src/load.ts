/**
 * The load generator, run as its own process (the runner pins it to core 0): autocannon against one URL for
 * a fixed duration. Usage: node --import tsx bench/src/load.ts <config.json>. Prints one JSON line.
 */
import { readFileSync } from 'node:fs';
import autocannon from 'autocannon';

export interface LoadConfig {
  readonly url: string;
  readonly method: 'GET' | 'POST';
  readonly body?: string;
  readonly seconds: number;
  readonly connections: number;
  /** Sent in turn, one per request; one token means the same token on every request. Empty: no token. */
  readonly tokens: ReadonlyArray<string>;
}

export interface LoadResult {
  readonly requests: number;
  readonly ok: number;
  readonly non2xx: number;
  readonly errors: number;
  readonly reqPerSec: number;
  readonly p50: number;
  readonly p99: number;
  /** Cold tokens: how many times the pre-minted list ran out and was restarted (0 = every token used once). */
  readonly tokenWraps: number;
}

const config = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as LoadConfig;
let next = 0;
let wraps = 0;
const headers: Record<string, string> = { 'content-type': 'application/json' };
if (config.tokens.length === 1) headers['authorization'] = `Bearer ${config.tokens[0]}`;

const options: autocannon.Options = {
  url: config.url,
  method: config.method,
  connections: config.connections,
  duration: config.seconds,
  headers,
  ...(config.body !== undefined ? { body: config.body } : {}),
  ...(config.tokens.length > 1
    ? {
        requests: [
          {
            method: config.method,
            ...(config.body !== undefined ? { body: config.body } : {}),
            setupRequest: (request: autocannon.Request) => {
              if (next === config.tokens.length) {
                next = 0;
                wraps += 1;
              }
              return { ...request, headers: { ...headers, authorization: `Bearer ${config.tokens[next++]}` } };
            },
          },
        ],
      }
    : {}),
};

// autocannon's own latency histogram has 1 ms resolution; the percentiles below come from every response's
// time (float ms) instead.
const times: number[] = [];
const result = await new Promise<autocannon.Result>((resolve, reject) => {
  const instance = autocannon(options, (error, done) => (error ? reject(error) : resolve(done)));
  instance.on('response', (_client, _status, _bytes, responseTime) => {
    times.push(responseTime);
  });
});
times.sort((a, b) => a - b);
const percentile = (p: number): number => (times.length === 0 ? NaN : times[Math.min(times.length - 1, Math.floor((p / 100) * times.length))]!);
const output: LoadResult = {
  requests: result.requests.total,
  ok: result['2xx'],
  non2xx: result.non2xx,
  errors: result.errors + result.timeouts,
  reqPerSec: result.requests.total / config.seconds,
  p50: percentile(50),
  p99: percentile(99),
  tokenWraps: wraps,
};
process.stdout.write(`${JSON.stringify(output)}\n`);
