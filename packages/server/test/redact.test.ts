import { describe, expect, it } from 'vitest';
import { redactClassified } from '../src/redact.ts';

describe('redactClassified', () => {
  it('replaces classified fields at their paths, array items and record values included', () => {
    const value = {
      email: 'a@example.com',
      contacts: [{ phone: '+1 555', note: 'keep' }, { phone: '+1 556', note: 'keep' }],
      notes: { x: { ssn: '123' } },
      apiKey: 'sk_live_abc',
    };
    const redacted = redactClassified(value, [
      { path: 'email', pii: 'contact' },
      { path: 'contacts.*.phone', pii: 'contact' },
      { path: 'notes.*.ssn', pii: 'identifier' },
      { path: 'apiKey', secret: true },
    ]);
    expect(redacted).toEqual({
      email: '[redacted:contact]',
      contacts: [
        { phone: '[redacted:contact]', note: 'keep' },
        { phone: '[redacted:contact]', note: 'keep' },
      ],
      notes: { x: { ssn: '[redacted:identifier]' } },
      apiKey: '[redacted:secret]',
    });
    expect(JSON.stringify(redacted)).not.toMatch(/a@example\.com|555|123|sk_live/);
    // The original is untouched.
    expect(value.email).toBe('a@example.com');
  });

  it('returns the value itself when nothing is classified', () => {
    const value = { a: 1 };
    expect(redactClassified(value, [])).toBe(value);
  });
});
