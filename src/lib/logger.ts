/**
 * pino JSON logs. Tokens never reach a log line: known secret fields are redacted and URLs are scrubbed.
 *
 * Errors are made safe where they are made (the amoCRM client turns every transport failure into its own
 * classes, whose properties are plain values). As a second line of defence the `err` serializer drops what
 * library errors are known to carry (axios: the request config with the body and headers, the request and the
 * response; ioredis: the command's arguments), and the same fields are redacted wherever else they appear.
 */
import { pino, type Logger, type LoggerOptions } from 'pino';

export type { Logger };

export const REDACT_PATHS = [
  'token',
  '*.token',
  'accessToken',
  'refreshToken',
  '*.accessToken',
  '*.refreshToken',
  'access_token',
  'refresh_token',
  '*.access_token',
  '*.refresh_token',
  'client_secret',
  '*.client_secret',
  'authorization',
  '*.authorization',
  '*.headers.authorization',
  'req.headers.authorization',
  'params.token',
  'req.params.token',
  // Library errors (axios, ioredis) logged as `err`, `error` or a cause.
  'err.config',
  'err.request',
  'err.response',
  'err.command',
  'err.cause.config',
  'err.cause.request',
  'err.cause.response',
  'error.config',
  'error.request',
  'error.response',
  'error.command',
  '*.client_secret',
  '*.*.client_secret',
];

/** Properties of library errors that hold requests, responses or command arguments (and so secrets). */
const UNSAFE_ERROR_FIELDS = ['config', 'request', 'response', 'command'];
/** What is kept of an axios error: nothing that describes the request beyond its failure. */
const AXIOS_SAFE_FIELDS = new Set(['type', 'message', 'stack', 'code', 'status', 'name']);

/** pino's error serializer without the fields above, also in nested errors; of an axios error only its failure. */
export function safeErrorSerializer(err: unknown): unknown {
  const out = pino.stdSerializers.err(err as Error) as unknown;
  const strip = (value: unknown, depth: number): void => {
    if (typeof value !== 'object' || value === null || depth > 4) return;
    const record = value as Record<string, unknown>;
    if (record.isAxiosError === true) {
      for (const key of Object.keys(record)) if (!AXIOS_SAFE_FIELDS.has(key)) delete record[key];
      return;
    }
    for (const field of UNSAFE_ERROR_FIELDS) if (field in record) record[field] = '[redacted]';
    for (const nested of Object.values(record)) strip(nested, depth + 1);
  };
  strip(out, 0);
  return out;
}

/** The webhook token is part of the URL; every logged URL goes through this. */
export function scrubUrl(url: string): string {
  return url
    .replace(/(\/webhooks\/amocrm\/)[^/?#]+/, '$1[redacted]')
    .replace(/([?&](?:code|token|access_token)=)[^&#]+/g, '$1[redacted]');
}

export function createLogger(
  options: { level: string; name?: string; destination?: pino.DestinationStream } & Pick<LoggerOptions, 'base'>,
): Logger {
  const loggerOptions: LoggerOptions = {
    level: options.level,
    name: options.name ?? 'amo-discipline',
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    ...(options.base !== undefined ? { base: options.base } : {}),
    serializers: {
      req: (req: { method?: string; url?: string; id?: string }) => ({
        id: req.id,
        method: req.method,
        url: req.url === undefined ? undefined : scrubUrl(req.url),
      }),
      err: safeErrorSerializer,
    },
  };
  return options.destination !== undefined ? pino(loggerOptions, options.destination) : pino(loggerOptions);
}
