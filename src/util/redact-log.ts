/**
 * Credentials never reach the logs: the `token` query parameter (and any api_key/key/access_token
 * spelling) in logged URLs, and the Authorization / cookie / x-api-key headers, are replaced before
 * pino serializes a request. Used by the server's logger for every request, WebSocket upgrade and
 * error line.
 */
const SECRET_PARAMS = /([?&](?:token|api_key|apikey|key|access_token|auth)=)[^&#]*/gi;

export function redactUrl(url: string | undefined): string | undefined {
  return url?.replace(SECRET_PARAMS, '$1[REDACTED]');
}

/** pino `redact` paths for headers that carry credentials. */
export const REDACTED_LOG_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-api-key"]',
  'headers.authorization',
  'headers.cookie',
];

interface LoggedRequest {
  method?: string;
  url?: string;
  hostname?: string;
  ip?: string;
  socket?: { remotePort?: number };
  id?: string;
}

/** Fastify's default request serializer with the URL's credentials removed. */
export function serializeRequest(req: LoggedRequest): Record<string, unknown> {
  return {
    method: req.method,
    url: redactUrl(req.url),
    host: req.hostname,
    remoteAddress: req.ip,
    remotePort: req.socket?.remotePort,
  };
}
