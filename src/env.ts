/**
 * The environment contract. Parsed once at start; nothing else reads process.env.
 * A bad or missing variable stops the start with one message listing every problem.
 */
import { Duration } from 'luxon';
import { z } from 'zod';

const optionalString = z
  .string()
  .transform((s) => s.trim())
  .pipe(z.string())
  .optional()
  .transform((s) => (s === '' ? undefined : s));

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export const EnvSchema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  HOST: z.string().default('0.0.0.0'),
  REDIS_URL: z
    .string()
    .regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL')
    .default('redis://127.0.0.1:6379'),
  /** Key prefix for everything this service keeps in Redis (queues included), so several installs can share one server. */
  REDIS_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_-]+$/, 'letters, digits, _ and - only')
    .default('amo'),
  ROLE: z.enum(['all', 'web', 'worker']).default('all'),
  WEBHOOK_TOKEN: z
    .string({ error: 'is required (a secret of at least 24 characters for the webhook URL)' })
    .min(24, 'must be at least 24 characters'),
  AMO_SUBDOMAIN: optionalString.pipe(
    z
      .string()
      .regex(/^[a-z0-9][a-z0-9-]*$/, 'must be the account subdomain, e.g. "myagency"')
      .optional(),
  ),
  AMO_DOMAIN: z.enum(['amocrm.ru', 'amocrm.com', 'kommo.com']).default('amocrm.ru'),
  AMO_BASE_URL: optionalString.pipe(z.url({ protocol: /^https?$/ }).optional()),
  AMO_LONG_LIVED_TOKEN: optionalString,
  AMO_CLIENT_ID: optionalString,
  AMO_CLIENT_SECRET: optionalString,
  /**
   * The secret key amoCRM signs the card widget's one-time tokens with (the integration's secret); default
   * AMO_CLIENT_SECRET. With neither, the widget API (/widget/api) is not served.
   */
  WIDGET_SECRET: optionalString,
  AMO_REDIRECT_URI: optionalString.pipe(z.url().optional()),
  AMO_AUTH_CODE: optionalString,
  AMO_RPS: z.coerce.number().int().min(1).max(50).default(7),
  /** How long every process stops calling amoCRM once it blocks the account (403 after 429s); amocrm.md §3. */
  AMO_BLOCK_COOLDOWN_MS: z.coerce
    .number()
    .int()
    .min(1_000)
    .max(24 * 3_600_000)
    .default(600_000),
  /**
   * The service's public base URL (https://robot.example.ru): the service registers its account webhook
   * `<PUBLIC_URL>/webhooks/amocrm/<WEBHOOK_TOKEN>` through amoCRM's API and keeps it enabled. Without it, set the webhook by hand.
   */
  PUBLIC_URL: optionalString.pipe(z.string().url().optional()),
  /** amoCRM failing (network errors, 5xx) this long with no success: readiness degraded and one ACTION NEEDED alert. */
  AMO_UNREACHABLE_AFTER_MS: z.coerce.number().int().min(1_000).max(3_600_000).default(30_000),
  RULES_FILE: z.string().default('config/rules.yaml'),
  LOG_LEVEL: z.enum(LOG_LEVELS).default('info'),
  /** How many jobs one worker process runs at once. */
  WORKER_CONCURRENCY: z.coerce.number().int().min(1).max(100).default(8),
  /** How long raw webhook bodies are kept (ISO-8601 duration, `0` keeps none); parsed to seconds. */
  RAW_BODY_RETENTION: z
    .string()
    .default('P1D')
    .transform((s, ctx) => {
      const text = s.trim();
      if (text === '0') return 0;
      const seconds = Duration.fromISO(text).as('seconds');
      if (!Number.isFinite(seconds) || seconds < 0) {
        ctx.addIssue({
          code: 'custom',
          message: 'must be an ISO-8601 duration such as P1D or PT6H, or 0 to keep no raw bodies',
        });
        return z.NEVER;
      }
      return Math.round(seconds);
    }),
  /** Redis Cluster seed nodes, `host:port,host:port`; when set, REDIS_URL is not used for the connection. */
  REDIS_CLUSTER_NODES: optionalString.pipe(
    z
      .string()
      .regex(
        /^[^,:\s]+:\d+(,[^,:\s]+:\d+)*$/,
        'must be host:port pairs separated by commas, e.g. "10.0.0.1:7000,10.0.0.2:7000"',
      )
      .optional(),
  ),
  /** The bot's token from @BotFather. Without it the service runs and logs the messages it would have sent. */
  TELEGRAM_BOT_TOKEN: optionalString.pipe(
    z
      .string()
      .regex(/^[^\s/]+$/, 'must be the bot token from @BotFather ("123456:ABC…"), without spaces or slashes')
      .optional(),
  ),
  /** Base address of the Bot API (a local Bot API server, or the simulator's stub). */
  TELEGRAM_API_ROOT: optionalString
    .pipe(z.url({ protocol: /^https?$/ }).optional())
    .transform((s) => (s ?? 'https://api.telegram.org').replace(/\/+$/, '')),
  /** Public address of POST /telegram/webhook (Telegram itself needs https); webhook mode when set, long polling otherwise. */
  TELEGRAM_WEBHOOK_URL: optionalString.pipe(z.url({ protocol: /^https?$/ }).optional()),
  /** Checked against X-Telegram-Bot-Api-Secret-Token; derived from the bot token when absent. */
  TELEGRAM_WEBHOOK_SECRET: optionalString.pipe(
    z
      .string()
      .regex(/^[A-Za-z0-9_-]{16,256}$/, "16-256 characters: letters, digits, _ and - (Telegram's rule)")
      .optional(),
  ),
  /** Longest graceful shutdown before a forced exit: a batch of 250 leads at 7 requests/s needs about 10 s. */
  SHUTDOWN_TIMEOUT_MS: z.coerce.number().int().min(1_000).max(600_000).default(60_000),
  /** How often every process checks the rules file and the current rules version (ms). */
  RULES_POLL_MS: z.coerce.number().int().min(100).max(60_000).default(1000),
  /** The admin page and API (/admin, /admin/api) in web processes; "false" turns them off. */
  ADMIN_ENABLED: z
    .enum(['true', 'false', '1', '0', 'yes', 'no'])
    .default('true')
    .transform((v) => v === 'true' || v === '1' || v === 'yes'),
  /**
   * Bearer token of the admin API and the page's sign-in. Checked at start, not here: a missing or weak token keeps
   * the admin routes off with an error in the log, while the rest of the service runs.
   */
  ADMIN_TOKEN: optionalString,
  /** Serve the admin routes on this port instead of PORT (bind it to an internal interface with ADMIN_HOST). */
  ADMIN_PORT: optionalString.pipe(
    z
      .string()
      .regex(/^\d+$/, 'must be a port number')
      .transform(Number)
      .pipe(z.number().int().min(0).max(65535))
      .optional(),
  ),
  ADMIN_HOST: z.string().default('127.0.0.1'),
  /** Lifetime of an admin page session (minutes). */
  ADMIN_SESSION_MINUTES: z.coerce.number().int().min(1).max(720).default(30),
  /** Named admin accounts (YAML of names and scrypt hashes, written by `npm run admin:add`); unset: token only. */
  ADMINS_FILE: optionalString,
  /**
   * Behind a reverse proxy: trust its X-Forwarded-For / -Proto, so the audit names the client's address and the
   * session cookie is Secure over HTTPS. `true` (any proxy), or the proxies' addresses ("10.0.0.1,10.0.0.0/8").
   */
  TRUST_PROXY: z
    .string()
    .default('false')
    .transform((v): boolean | string =>
      v === 'true' || v === '1' || v === 'yes'
        ? true
        : v === 'false' || v === '0' || v === 'no' || v === ''
          ? false
          : v,
    ),
});

export type Env = z.infer<typeof EnvSchema>;

export class EnvError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid environment:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'EnvError';
  }
}

/** Parses the environment; throws EnvError listing every problem at once. */
export function parseEnv(source: Record<string, string | undefined> = process.env): Env {
  const result = EnvSchema.safeParse(source);
  const problems = result.success
    ? []
    : result.error.issues.map((issue) => {
        const name = issue.path.join('.') || '(environment)';
        const missing = issue.code === 'invalid_type' && (source[name] ?? '') === '';
        return `${name} ${missing && !issue.message.startsWith('is required') ? 'is required' : issue.message}`;
      });
  const blank = (name: string): boolean => (source[name] ?? '').trim() === '';
  if (blank('AMO_SUBDOMAIN') && blank('AMO_BASE_URL')) {
    problems.push('AMO_SUBDOMAIN is required (or AMO_BASE_URL): the amoCRM account whose webhooks are accepted');
  }
  if (!blank('TELEGRAM_WEBHOOK_URL') && blank('TELEGRAM_BOT_TOKEN')) {
    problems.push('TELEGRAM_WEBHOOK_URL needs TELEGRAM_BOT_TOKEN (the webhook is registered with the bot)');
  }
  if (result.success && problems.length === 0) return result.data;
  throw new EnvError(problems);
}

/** The account subdomain webhooks must come from: the explicit one, or the one in AMO_BASE_URL's host. */
export function expectedSubdomain(env: Pick<Env, 'AMO_SUBDOMAIN' | 'AMO_BASE_URL'>): string | undefined {
  if (env.AMO_SUBDOMAIN !== undefined) return env.AMO_SUBDOMAIN;
  if (env.AMO_BASE_URL === undefined) return undefined;
  const host = new URL(env.AMO_BASE_URL).hostname;
  const first = host.split('.')[0];
  return first !== undefined && host.includes('.') ? first : undefined;
}

/** Telegram settings of the service: token (absent = log only), API root, webhook mode and its secret. */
export interface TelegramEnv {
  token?: string;
  apiRoot: string;
  webhookUrl?: string;
  webhookSecret?: string;
}

export function telegramFromEnv(
  env: Pick<Env, 'TELEGRAM_BOT_TOKEN' | 'TELEGRAM_API_ROOT' | 'TELEGRAM_WEBHOOK_URL' | 'TELEGRAM_WEBHOOK_SECRET'>,
): TelegramEnv {
  return {
    apiRoot: env.TELEGRAM_API_ROOT,
    ...(env.TELEGRAM_BOT_TOKEN !== undefined ? { token: env.TELEGRAM_BOT_TOKEN } : {}),
    ...(env.TELEGRAM_WEBHOOK_URL !== undefined ? { webhookUrl: env.TELEGRAM_WEBHOOK_URL } : {}),
    ...(env.TELEGRAM_WEBHOOK_SECRET !== undefined ? { webhookSecret: env.TELEGRAM_WEBHOOK_SECRET } : {}),
  };
}

export type AmoAuthConfig =
  | { kind: 'long-lived'; token: string }
  | { kind: 'oauth'; clientId: string; clientSecret: string; redirectUri: string; authCode?: string };

/**
 * How the service authenticates to amoCRM: a long-lived token, or OAuth 2.0 (client id, secret and redirect URI;
 * the first code from AMO_AUTH_CODE or the /oauth/callback route). Throws EnvError naming what is missing.
 */
export function amoAuthFromEnv(
  env: Pick<Env, 'AMO_LONG_LIVED_TOKEN' | 'AMO_CLIENT_ID' | 'AMO_CLIENT_SECRET' | 'AMO_REDIRECT_URI' | 'AMO_AUTH_CODE'>,
): AmoAuthConfig {
  if (env.AMO_LONG_LIVED_TOKEN !== undefined) return { kind: 'long-lived', token: env.AMO_LONG_LIVED_TOKEN };
  const oauth = {
    AMO_CLIENT_ID: env.AMO_CLIENT_ID,
    AMO_CLIENT_SECRET: env.AMO_CLIENT_SECRET,
    AMO_REDIRECT_URI: env.AMO_REDIRECT_URI,
  };
  const missing = Object.entries(oauth)
    .filter(([, v]) => v === undefined)
    .map(([k]) => k);
  if (missing.length === 0 && env.AMO_CLIENT_ID && env.AMO_CLIENT_SECRET && env.AMO_REDIRECT_URI) {
    return {
      kind: 'oauth',
      clientId: env.AMO_CLIENT_ID,
      clientSecret: env.AMO_CLIENT_SECRET,
      redirectUri: env.AMO_REDIRECT_URI,
      ...(env.AMO_AUTH_CODE !== undefined ? { authCode: env.AMO_AUTH_CODE } : {}),
    };
  }
  const partial = missing.length < 3;
  throw new EnvError([
    partial
      ? `amoCRM OAuth is incomplete: ${missing.join(', ')} ${missing.length === 1 ? 'is' : 'are'} missing`
      : 'amoCRM credentials are missing: set AMO_LONG_LIVED_TOKEN, or AMO_CLIENT_ID, AMO_CLIENT_SECRET and AMO_REDIRECT_URI',
  ]);
}

/** The subset operator tools (e.g. `npm run lead:explain`) need: where the service keeps its state. */
export function parseToolEnv(
  source: Record<string, string | undefined> = process.env,
): Pick<Env, 'REDIS_URL' | 'REDIS_PREFIX' | 'REDIS_CLUSTER_NODES'> {
  const result = EnvSchema.pick({ REDIS_URL: true, REDIS_PREFIX: true, REDIS_CLUSTER_NODES: true }).safeParse(source);
  if (result.success) return result.data;
  throw new EnvError(result.error.issues.map((i) => `${i.path.join('.')} ${i.message}`));
}

/** What `npm run telegram:link` needs: the service's Redis, the bot, and the amoCRM account to find the user in. */
export function parseLinkToolEnv(source: Record<string, string | undefined> = process.env) {
  const result = EnvSchema.pick({
    REDIS_URL: true,
    REDIS_PREFIX: true,
    REDIS_CLUSTER_NODES: true,
    RULES_FILE: true,
    AMO_SUBDOMAIN: true,
    AMO_DOMAIN: true,
    AMO_BASE_URL: true,
    AMO_LONG_LIVED_TOKEN: true,
    AMO_CLIENT_ID: true,
    AMO_CLIENT_SECRET: true,
    AMO_REDIRECT_URI: true,
    AMO_AUTH_CODE: true,
    AMO_RPS: true,
    TELEGRAM_BOT_TOKEN: true,
    TELEGRAM_API_ROOT: true,
  }).safeParse(source);
  const problems = result.success ? [] : result.error.issues.map((i) => `${i.path.join('.')} ${i.message}`);
  const blank = (name: string): boolean => (source[name] ?? '').trim() === '';
  if (blank('TELEGRAM_BOT_TOKEN')) problems.push('TELEGRAM_BOT_TOKEN is required (the link names the bot)');
  if (blank('AMO_SUBDOMAIN') && blank('AMO_BASE_URL'))
    problems.push('AMO_SUBDOMAIN is required (or AMO_BASE_URL): the account the user is looked up in');
  if (result.success && problems.length === 0) return result.data;
  throw new EnvError(problems);
}
