import { EnvError, parseEnv, telegramFromEnv } from '../../../src/env.js';

const base = { WEBHOOK_TOKEN: 'x'.repeat(30), AMO_SUBDOMAIN: 'agency' };
const problems = (source: Record<string, string>): string[] => {
  try {
    parseEnv(source);
    return [];
  } catch (err) {
    return (err as EnvError).problems;
  }
};

describe('Telegram environment', () => {
  test('when nothing is set, then no token (messages are logged) and Telegram’s own API root', () => {
    expect(telegramFromEnv(parseEnv(base))).toEqual({ apiRoot: 'https://api.telegram.org' });
  });

  test('when the stub is used, then its root (without a trailing slash) and the token come through', () => {
    const env = parseEnv({
      ...base,
      TELEGRAM_BOT_TOKEN: '123:abc',
      TELEGRAM_API_ROOT: 'http://127.0.0.1:4000/',
      TELEGRAM_WEBHOOK_URL: 'https://bot.example/telegram/webhook',
      TELEGRAM_WEBHOOK_SECRET: 'secret_secret_1234',
    });
    expect(telegramFromEnv(env)).toEqual({
      token: '123:abc',
      apiRoot: 'http://127.0.0.1:4000',
      webhookUrl: 'https://bot.example/telegram/webhook',
      webhookSecret: 'secret_secret_1234',
    });
  });

  test('when several Telegram variables are wrong, then one message names every problem', () => {
    expect(
      problems({
        ...base,
        TELEGRAM_BOT_TOKEN: 'has space',
        TELEGRAM_API_ROOT: 'ftp://x',
        TELEGRAM_WEBHOOK_SECRET: 'short',
      }),
    ).toEqual([
      'TELEGRAM_BOT_TOKEN must be the bot token from @BotFather ("123456:ABC…"), without spaces or slashes',
      'TELEGRAM_API_ROOT Invalid URL',
      "TELEGRAM_WEBHOOK_SECRET 16-256 characters: letters, digits, _ and - (Telegram's rule)",
    ]);
  });

  test('when a webhook URL is set without a token, then the start is refused', () => {
    expect(problems({ ...base, TELEGRAM_WEBHOOK_URL: 'https://bot.example/telegram/webhook' })).toEqual([
      'TELEGRAM_WEBHOOK_URL needs TELEGRAM_BOT_TOKEN (the webhook is registered with the bot)',
    ]);
  });
});
