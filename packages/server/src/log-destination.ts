import { write as writeFd } from 'node:fs';

/**
 * A pino destination that never blocks the event loop and never throws or emits an error: lines are
 * queued in memory (bounded) and written to a file descriptor one chunk at a time off the event loop
 * (`fs.write`, libuv's thread pool). A chunk the device refuses (a full disk: ENOSPC, a closed pipe:
 * EPIPE, …) is dropped and its lines counted; lines that arrive while the queue is full are dropped and
 * counted too. A full log disk then costs log lines, not the service: pino's default destination retries
 * the write in a loop on the event loop (the process stops answering) and a failed write is an unhandled
 * `error` that ends the process.
 *
 * @example
 * ```ts
 * const destination = createLogDestination(); // stdout
 * const logger = pino({ level: 'info' }, destination);
 * destination.dropped; // lines lost so far
 * ```
 */
export interface LogDestination {
  /** Called by pino with one serialized line. Queues it, or drops it when the queue is full. */
  write(line: string): void;
  /** Lines dropped so far (the device refused them, or the queue was full). */
  readonly dropped: number;
  /** Resolves once every line queued so far has been written or dropped. */
  flush(): Promise<void>;
}

export interface LogDestinationOptions {
  /** The file descriptor to write to (default 1, stdout). */
  readonly fd?: number;
  /** Most bytes queued before new lines are dropped (default 4 MiB). */
  readonly maxQueuedBytes?: number;
}

/** Writes of one chunk retried on EAGAIN (a non-blocking pipe that is full) before the chunk is dropped. */
const EAGAIN_RETRIES = 50;
const EAGAIN_DELAY_MS = 20;

export function createLogDestination(options: LogDestinationOptions = {}): LogDestination {
  const fd = options.fd ?? 1;
  const maxQueuedBytes = options.maxQueuedBytes ?? 4 * 1024 * 1024;
  if (!Number.isSafeInteger(fd) || fd < 0) throw new TypeError('createLogDestination: "fd" must be a file descriptor');
  if (!Number.isSafeInteger(maxQueuedBytes) || maxQueuedBytes < 1) throw new TypeError('createLogDestination: "maxQueuedBytes" must be a positive integer');

  let queue: string[] = [];
  let queuedBytes = 0;
  let writing = false;
  let dropped = 0;
  let idle: Array<() => void> = [];

  const settleIdle = (): void => {
    const waiting = idle;
    idle = [];
    for (const resolve of waiting) resolve();
  };

  /** Writes the queued lines as one chunk; on completion (or loss) takes the next. */
  const drain = (): void => {
    if (queue.length === 0) {
      writing = false;
      settleIdle();
      return;
    }
    writing = true;
    const lines = queue.length;
    const chunk = Buffer.from(queue.join(''), 'utf8');
    queue = [];
    queuedBytes = 0;
    let offset = 0;
    let retries = 0;
    const attempt = (): void => {
      writeFd(fd, chunk, offset, chunk.length - offset, null, (error, written) => {
        if (error !== null) {
          if ((error.code === 'EAGAIN' || error.code === 'EWOULDBLOCK') && retries < EAGAIN_RETRIES) {
            retries += 1;
            setTimeout(attempt, EAGAIN_DELAY_MS).unref();
            return;
          }
          // The device refused the chunk (ENOSPC, EPIPE, EIO …): its lines are lost, the service goes on.
          dropped += lines;
          drain();
          return;
        }
        offset += written;
        if (offset < chunk.length) attempt();
        else drain();
      });
    };
    attempt();
  };

  return {
    write(line: string): void {
      const size = Buffer.byteLength(line, 'utf8');
      if (queuedBytes + size > maxQueuedBytes) {
        dropped += 1;
        return;
      }
      queue.push(line);
      queuedBytes += size;
      if (!writing) {
        writing = true;
        // Lines of the same tick go out in one write.
        queueMicrotask(drain);
      }
    },
    get dropped(): number {
      return dropped;
    },
    flush(): Promise<void> {
      if (!writing && queue.length === 0) return Promise.resolve();
      return new Promise((resolve) => idle.push(resolve));
    },
  };
}
