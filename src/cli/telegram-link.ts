/**
 * `npm run telegram:link -- "<user name>"`: prints a one-time deep link (`https://t.me/<bot>?start=<code>`) that
 * links whoever opens it in Telegram to that amoCRM user. The code is single-use and expires (rules
 * `telegram.linkCodeTtl`, a day by default). The user is found in the amoCRM account by name or e-mail, as in the
 * rules file. Reads the service's environment (REDIS_URL, REDIS_PREFIX, TELEGRAM_BOT_TOKEN, TELEGRAM_API_ROOT,
 * AMO_*, RULES_FILE).
 */
import { Api } from 'grammy';
import { connectRedis } from '../lib/redis.js';
import { createAmoClient } from '../amocrm/api/client.js';
import { resolveUser } from '../rules/directory.js';
import { compileTelegram } from '../config/compile.js';
import { loadRulesFile } from '../config/load.js';
import { amoAuthFromEnv, EnvError, parseLinkToolEnv } from '../env.js';
import { DEFAULT_TELEGRAM } from '../telegram/hygiene.js';
import { createKeys } from '../store/keys.js';
import { createLinkStore, deepLink } from '../telegram/links.js';

async function main(): Promise<number> {
  const userName = process.argv.slice(2).join(' ').trim();
  if (userName === '') {
    console.error('usage: npm run telegram:link -- "<amoCRM user name or e-mail>"');
    return 2;
  }
  let env: ReturnType<typeof parseLinkToolEnv>;
  let auth: ReturnType<typeof amoAuthFromEnv>;
  try {
    env = parseLinkToolEnv();
    auth = amoAuthFromEnv(env);
  } catch (err) {
    if (err instanceof EnvError) {
      console.error(err.message);
      return 78;
    }
    throw err;
  }
  const redis = connectRedis(env.REDIS_URL, 'web', {}, env.REDIS_CLUSTER_NODES);
  try {
    const amo = createAmoClient({
      ...(env.AMO_BASE_URL ? { baseUrl: env.AMO_BASE_URL } : {}),
      ...(env.AMO_SUBDOMAIN ? { subdomain: env.AMO_SUBDOMAIN } : {}),
      domain: env.AMO_DOMAIN,
      auth:
        auth.kind === 'long-lived'
          ? auth
          : { kind: 'oauth', clientId: auth.clientId, clientSecret: auth.clientSecret, redirectUri: auth.redirectUri },
      redis,
      keyPrefix: env.REDIS_PREFIX,
      rps: env.AMO_RPS,
    });
    const users = await amo.listUsers();
    const found = resolveUser(
      {
        timeZone: 'UTC',
        pipelines: [],
        groups: [],
        users: users.map((u) => ({
          id: u.id,
          name: u.name,
          ...(u.email ? { email: u.email } : {}),
          isActive: u.rights?.is_active !== false,
          isAdmin: u.rights?.is_admin === true,
        })),
      },
      userName,
    );
    if (!found.ok) {
      console.error(found.error);
      return 1;
    }
    const loaded = await loadRulesFile(env.RULES_FILE).catch(() => undefined);
    const ttlMs = loaded?.ok
      ? compileTelegram(loaded.config.telegram, [], undefined).linkCodeTtlMs
      : DEFAULT_TELEGRAM.linkCodeTtlMs;
    const me = await new Api(env.TELEGRAM_BOT_TOKEN!, { apiRoot: env.TELEGRAM_API_ROOT }).getMe();
    const code = await createLinkStore(redis, createKeys(env.REDIS_PREFIX)).createCode(
      { userId: found.value.id, name: found.value.name },
      ttlMs,
    );
    console.log(deepLink(me.username, code));
    // eslint-disable-next-line no-restricted-syntax -- Real time: the code is a Redis key whose TTL runs on the server's clock.
    const validUntil = new Date(Date.now() + ttlMs).toISOString();
    console.error(`one-time link for ${found.value.name} (amoCRM user ${found.value.id}), valid until ${validUntil}`);
    return 0;
  } finally {
    redis.disconnect();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error('telegram:link failed:', err instanceof Error ? err.message : err);
    process.exit(1);
  },
);
