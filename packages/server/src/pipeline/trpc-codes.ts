import type { TRPC_ERROR_CODE_KEY } from '@trpc/server';

/** The fixed mapping from an HTTP status of ours to the tRPC code that produces it on the wire. */
const BY_STATUS: Readonly<Record<number, TRPC_ERROR_CODE_KEY>> = {
  400: 'BAD_REQUEST',
  401: 'UNAUTHORIZED',
  403: 'FORBIDDEN',
  404: 'NOT_FOUND',
  409: 'CONFLICT',
  412: 'PRECONDITION_FAILED',
  413: 'PAYLOAD_TOO_LARGE',
  422: 'UNPROCESSABLE_CONTENT',
  429: 'TOO_MANY_REQUESTS',
  503: 'SERVICE_UNAVAILABLE',
};

export function trpcCodeFor(status: number): TRPC_ERROR_CODE_KEY {
  return BY_STATUS[status] ?? 'INTERNAL_SERVER_ERROR';
}
