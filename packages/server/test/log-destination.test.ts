import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { createLogDestination } from '../src/log-destination.ts';

/**
 * Issue 12 §5: with pino's default destination a full log disk blocked the event loop (pino retries the
 * write on ENOSPC) and then ended the process on an unhandled `error`. Logging must never block or kill
 * the service: lines it cannot write are dropped and counted.
 */

const dir = mkdtempSync(join(tmpdir(), 'covenant-log-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Resolves after the event loop has turned `n` times: proof it is not held by a retry loop. */
async function turns(n: number): Promise<void> {
  for (let i = 0; i < n; i += 1) await new Promise<void>((resolve) => setImmediate(resolve));
}

describe('createLogDestination', () => {
  it('writes every line, in order, to its file descriptor', async () => {
    const file = join(dir, 'ok.log');
    const fd = openSync(file, 'w');
    try {
      const destination = createLogDestination({ fd });
      const logger = pino({ level: 'info' }, destination);
      for (let i = 0; i < 1_000; i += 1) logger.info({ i }, 'line');
      await destination.flush();
      const lines = readFileSync(file, 'utf8').trim().split('\n').map((line) => JSON.parse(line) as { i: number });
      expect(lines.map((line) => line.i)).toEqual([...Array(1_000).keys()]);
      expect(destination.dropped).toBe(0);
    } finally {
      closeSync(fd);
    }
  });

  // /dev/full (Linux) refuses every write with ENOSPC, as a full disk does.
  it('on a full device (ENOSPC) drops and counts lines; it never throws, blocks or emits an error', async () => {
    const fd = openSync('/dev/full', 'w');
    try {
      const destination = createLogDestination({ fd });
      const logger = pino({ level: 'info' }, destination);
      for (let i = 0; i < 10_000; i += 1) logger.info({ i, padding: 'x'.repeat(100) }, 'a line the disk cannot take');
      await turns(3); // the event loop turns while the device refuses every write
      await destination.flush();
      expect(destination.dropped).toBe(10_000);
      logger.info('and later lines are still accepted (and dropped)');
      await destination.flush();
      expect(destination.dropped).toBe(10_001);
    } finally {
      closeSync(fd);
    }
  });

  it('drops (and counts) what arrives while the queue is full, instead of growing without bound', async () => {
    const file = join(dir, 'bounded.log');
    const fd = openSync(file, 'w');
    try {
      const destination = createLogDestination({ fd, maxQueuedBytes: 1_000 });
      for (let i = 0; i < 100; i += 1) destination.write(`${JSON.stringify({ i, text: 'y'.repeat(80) })}\n`);
      await destination.flush();
      const written = readFileSync(file, 'utf8').trim().split('\n').length;
      expect(written).toBeGreaterThan(0);
      expect(written + destination.dropped).toBe(100);
      expect(destination.dropped).toBeGreaterThan(0);
    } finally {
      closeSync(fd);
    }
  });

  it('refuses options that are not a file descriptor or a positive size', () => {
    expect(() => createLogDestination({ fd: -1 })).toThrow(/"fd"/);
    expect(() => createLogDestination({ maxQueuedBytes: 0 })).toThrow(/"maxQueuedBytes"/);
  });
});
