import { describe, expect, it } from 'vitest';
import { SecurityError, isSecurityError } from '../src/index.ts';

class ExampleDenied extends SecurityError {
  readonly code = 'ERR_EXAMPLE_DENIED' as const;
  readonly status = 403 as const;
  readonly wireMessage = 'Not allowed';
}

class ExampleHidden extends SecurityError {
  readonly code = 'ERR_EXAMPLE_BAD_SIGNATURE' as const;
  readonly status = 401 as const;
  readonly wireMessage = 'Authentication required';
  override get wireCode(): string {
    return 'ERR_EXAMPLE_INVALID';
  }
}

describe('SecurityError', () => {
  it('shows its precise code on the wire unless a subclass folds it into a coarser one', () => {
    expect(new ExampleDenied('server-side detail').wireCode).toBe('ERR_EXAMPLE_DENIED');
    const hidden = new ExampleHidden('signature did not verify');
    expect(hidden.code).toBe('ERR_EXAMPLE_BAD_SIGNATURE');
    expect(hidden.wireCode).toBe('ERR_EXAMPLE_INVALID');
  });

  it('keeps the server-side message apart from the fixed wire message', () => {
    const error = new ExampleDenied('capability tickets.write missing for subject alice');
    expect(error.message).toContain('tickets.write');
    expect(error.wireMessage).toBe('Not allowed');
  });

  it('is recognised by isSecurityError, and plain errors are not', () => {
    expect(isSecurityError(new ExampleDenied('x'))).toBe(true);
    expect(isSecurityError(new Error('x'))).toBe(false);
    expect(isSecurityError({ code: 'ERR_EXAMPLE_DENIED', status: 403, wireMessage: 'Not allowed' })).toBe(false);
  });
});
