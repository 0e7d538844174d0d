import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';

/** An error the client caused or must hear about, sent as `{"error": code, "message": ...}`. */
export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

export const badRequest = (message: string) => new HttpError(400, 'bad_request', message);
export const notFound = (message: string) => new HttpError(404, 'not_found', message);
export const conflict = (message: string) => new HttpError(409, 'conflict', message);

const CODES: Record<number, string> = {
  400: 'bad_request',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  405: 'method_not_allowed',
  406: 'not_acceptable',
  409: 'conflict',
  413: 'payload_too_large',
  414: 'uri_too_long',
  415: 'unsupported_media_type',
  429: 'too_many_requests',
};

/** One place turns every failure into a clear 4xx, or a 500 that hides the internals. */
export function handleError(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  if (error instanceof HttpError) {
    void reply.code(error.statusCode).headers(error.headers).send({ error: error.code, message: error.message });
    return;
  }
  const status = error.statusCode ?? 500;
  if (error.validation || (status >= 400 && status < 500)) {
    void reply.code(status).send({ error: CODES[status] ?? 'bad_request', message: error.message });
    return;
  }
  request.log.error({ err: error }, 'request failed');
  void reply.code(500).send({ error: 'internal', message: `internal error (request ${request.id}); see the server log` });
}

export function handleNotFound(request: FastifyRequest, reply: FastifyReply): void {
  void reply.code(404).send({ error: 'not_found', message: `no route ${request.method} ${request.url.split('?')[0]}` });
}
