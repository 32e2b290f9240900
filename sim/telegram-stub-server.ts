/**
 * `npm run telegram:stub`: the Bot API stub as a process, for trying the bot by hand or from outside tests.
 * Prints the TELEGRAM_API_ROOT and TELEGRAM_BOT_TOKEN to use. TELEGRAM_STUB_PORT picks the port (default: a free one);
 * TELEGRAM_STUB_TOKEN the accepted token. Loopback only.
 */
import { createTelegramStub } from './telegram-stub.js';

const token = process.env.TELEGRAM_STUB_TOKEN ?? '123456:local-stub-token';
const stub = createTelegramStub({ token });
const root = await stub.listen(Number(process.env.TELEGRAM_STUB_PORT ?? 0), '127.0.0.1');
console.log(`TELEGRAM_API_ROOT=${root}`);
console.log(`TELEGRAM_BOT_TOKEN=${token}`);
const stop = (): void => {
  void stub.close().then(() => process.exit(0));
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
