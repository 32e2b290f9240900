export default async function globalTeardown() {
  await globalThis.__testRedis?.stop();
}
