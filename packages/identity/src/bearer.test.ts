import { describe, expect, it } from 'vitest';
import { parseBearer } from './bearer.ts';
import { TokenMalformedError, TokenMissingError } from './errors.ts';

const TOKEN = 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ1In0.c2lnbmF0dXJl';

describe('parseBearer', () => {
  it.each([['Bearer'], ['bearer'], ['BEARER'], ['bEaReR']])('takes the token after the scheme %s', (scheme) => {
    expect(parseBearer(`${scheme} ${TOKEN}`)).toBe(TOKEN);
  });

  it('accepts the full b64token alphabet, with trailing padding', () => {
    expect(parseBearer('Bearer aZ09-._~+/==')).toBe('aZ09-._~+/==');
  });

  it.each([[undefined], ['']])('reports a missing token for %j', (header) => {
    expect(() => parseBearer(header)).toThrow(TokenMissingError);
  });

  it.each([
    ['another scheme', `Basic ${TOKEN}`],
    ['a scheme alone', 'Bearer'],
    ['a scheme and a space', 'Bearer '],
    ['two spaces', `Bearer  ${TOKEN}`],
    ['a tab', `Bearer\t${TOKEN}`],
    ['leading whitespace', ` Bearer ${TOKEN}`],
    ['trailing whitespace', `Bearer ${TOKEN} `],
    ['a trailing newline', `Bearer ${TOKEN}\n`],
    ['two tokens', `Bearer ${TOKEN} ${TOKEN}`],
    ['a comma list', `Bearer ${TOKEN}, Bearer ${TOKEN}`],
    ['a token without scheme', TOKEN],
    ['padding inside the token', 'Bearer ab=cd'],
    ['a quoted token', `Bearer "${TOKEN}"`],
    ['a non-ASCII character', `Bearer ${TOKEN}é`],
    ['a scheme glued to the token', `Bearer${TOKEN}`],
  ])('refuses %s as malformed, without echoing it', (_name, header) => {
    let caught: unknown;
    try {
      parseBearer(header);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(TokenMalformedError);
    expect((caught as TokenMalformedError).code).toBe('ERR_IDENTITY_TOKEN_MALFORMED');
    expect((caught as TokenMalformedError).message).not.toContain(TOKEN);
  });

  it('refuses a header repeated into an array (a runtime value the type does not admit)', () => {
    expect(() => parseBearer([`Bearer ${TOKEN}`, `Bearer ${TOKEN}`] as unknown as string)).toThrow(
      TokenMalformedError,
    );
  });
});
