// Integration tests need a real Redis. Use REDIS_URL (or 127.0.0.1:6379) when it answers; otherwise start a
// throwaway redis-server for the run, so `npm test` works on a fresh machine with the redis-server package.
// Plain JS because Jest loads it with Node's own loader; `npm test` registers tsx so it can import TypeScript.
export default async function globalSetup() {
  const { ensureLocalRedis } = await import('../sim/local-redis.ts');
  const redis = await ensureLocalRedis();
  process.env.REDIS_URL = redis.url;
  globalThis.__testRedis = redis;
}
