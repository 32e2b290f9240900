/** pino JSON logs. Tokens never reach a log line: known secret fields are redacted and URLs are scrubbed. */
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
];

/** The webhook token is part of the URL; every logged URL goes through this. */
export function scrubUrl(url: string): string {
  return url.replace(/(\/webhooks\/amocrm\/)[^/?#]+/, '$1[redacted]').replace(/([?&](?:code|token|access_token)=)[^&#]+/g, '$1[redacted]');
}

export function createLogger(options: { level: string; name?: string } & Pick<LoggerOptions, 'base'>): Logger {
  return pino({
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
      err: pino.stdSerializers.err,
    },
  });
}
