import { TRPCError } from '@trpc/server';

/**
 * The request limits every adapter enforces, with the same defaults: a body larger than `maxBodyBytes`
 * is 413, one that has not arrived whole `bodyTimeoutMs` after the request began is 408, a batch of more
 * than `maxBatchSize` calls is refused.
 */
export interface RequestLimits {
  /** Largest accepted request body in bytes (default 1 MiB); larger bodies get 413. */
  readonly maxBodyBytes?: number;
  /**
   * How long a request may take to arrive whole, body included, in milliseconds (default 5,000); then 408
   * and the connection is closed. Authorization does not depend on it (the action is authorized once the
   * body is there, see the `authorizeAction` step); it bounds how long a caller can hold a request open.
   */
  readonly bodyTimeoutMs?: number;
  /** Largest batch (default 20 calls). */
  readonly maxBatchSize?: number;
}

export type ResolvedRequestLimits = Required<RequestLimits>;

const DEFAULTS: ResolvedRequestLimits = Object.freeze({ maxBodyBytes: 1024 * 1024, bodyTimeoutMs: 5_000, maxBatchSize: 20 });

/** Validates the limits an adapter was given (a TypeError naming the option) and applies the defaults. */
export function resolveRequestLimits(options: RequestLimits, adapter: string): ResolvedRequestLimits {
  const limit = (name: keyof RequestLimits, max: number): number => {
    const value = options[name];
    if (value === undefined) return DEFAULTS[name];
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1 || value > max) {
      throw new TypeError(`${adapter}: "${name}" must be an integer from 1 to ${max}`);
    }
    return value;
  };
  return Object.freeze({
    maxBodyBytes: limit('maxBodyBytes', 2 ** 31 - 1),
    bodyTimeoutMs: limit('bodyTimeoutMs', 3_600_000),
    maxBatchSize: limit('maxBatchSize', 10_000),
  });
}

/**
 * A copy of a Fetch `Request` whose body is read under the limits: past `maxBodyBytes` the read fails with
 * tRPC's PAYLOAD_TOO_LARGE (413), and when the body has not ended `bodyTimeoutMs` after this call, with
 * TIMEOUT (408); either way the original body is cancelled. The error reaches tRPC as the failure of its
 * body read (`Request.text()` rejects with the stream's error), so every call of the request answers it.
 * A request without a body is returned as it is.
 */
export function boundedRequest(request: Request, limits: ResolvedRequestLimits): Request {
  const source = request.body;
  if (source === null) return request;
  const reader = source.getReader();
  let received = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TRPCError({ code: 'TIMEOUT' })), limits.bodyTimeoutMs);
  });
  // Read only inside `pull`; a body nobody reads must not make this an unhandled rejection.
  expired.catch(() => undefined);
  const stop = (reason: unknown): void => {
    clearTimeout(timer);
    reader.cancel(reason).catch(() => undefined);
  };
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await Promise.race([reader.read(), expired]);
      } catch (error) {
        stop(error);
        controller.error(error);
        return;
      }
      if (chunk.done) {
        clearTimeout(timer);
        controller.close();
        return;
      }
      received += chunk.value.byteLength;
      if (received > limits.maxBodyBytes) {
        const error = new TRPCError({ code: 'PAYLOAD_TOO_LARGE' });
        stop(error);
        controller.error(error);
        return;
      }
      controller.enqueue(chunk.value);
    },
    cancel(reason) {
      stop(reason);
    },
  });
  return new Request(request.url, {
    method: request.method,
    headers: request.headers,
    body,
    signal: request.signal,
    duplex: 'half',
  } as RequestInit);
}
