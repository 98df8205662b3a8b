import type * as z from 'zod';
import type { Procedure } from './procedure.ts';

/** What a caller sends: the input schema's input type. */
export type InputOf<P extends Procedure> = z.input<P['~covenant']['input']>;
/** What a handler receives: the input schema's output type (after defaults and transforms). */
export type ParsedInputOf<P extends Procedure> = z.output<P['~covenant']['input']>;
/** What a handler returns: the output schema's input type. */
export type HandlerOutputOf<P extends Procedure> = z.input<P['~covenant']['output']>;
/** What a caller receives. */
export type OutputOf<P extends Procedure> = z.output<P['~covenant']['output']>;
/**
 * The error codes a procedure declares; `never` when it declares none (an undeclared `errors` infers as
 * the open record type, whose keys would otherwise be any string).
 */
export type ErrorCodeOf<P extends Procedure> = string extends keyof P['~covenant']['errors']
  ? never
  : keyof P['~covenant']['errors'] & string;
/** Whether the handler is promised a verified principal (`false` only for sanctioned public procedures). */
export type IsAuthenticated<P extends Procedure> = P extends Procedure<infer _K, infer _I, infer _O, infer _E, infer A> ? A : never;
