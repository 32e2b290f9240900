/**
 * The simulator as a process of its own (the chaos suite runs it beside the service's processes and drives it
 * through the control API under /__sim/). Prints one line `SIM_READY <url>` on stdout when it listens.
 *
 *   tsx sim/serve.ts --port 0 --webhook-url http://127.0.0.1:3000/webhooks/amocrm/<token> \
 *     [--long-lived-token T] [--oauth-client-id ID --oauth-client-secret S [--access-ttl-sec N]] [--rps 7] [--fault-seed 1]
 */
import { createSimulator } from './server.js';

const arg = (name: string): string | undefined => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
};
const num = (name: string, fallback: number): number => {
  const v = Number(arg(name));
  return Number.isFinite(v) && arg(name) !== undefined ? v : fallback;
};

async function main(): Promise<void> {
  const clientId = arg('oauth-client-id');
  const clientSecret = arg('oauth-client-secret');
  const token = arg('long-lived-token');
  const webhookUrl = arg('webhook-url');
  const sim = createSimulator({
    webhookUrls: webhookUrl ? [webhookUrl] : [],
    ...(token ? { longLivedToken: token } : {}),
    ...(clientId && clientSecret
      ? { oauth: { clientId, clientSecret, accessTokenTtlSec: num('access-ttl-sec', 86_400) } }
      : {}),
    rps: num('rps', 7),
    faultSeed: num('fault-seed', 1),
    webhookBatchWindowMs: num('webhook-window-ms', 100),
    webhookRetryLadderMs: [1_000, 3_000, 10_000, 30_000],
  });
  const url = await sim.listen(num('port', 0), '127.0.0.1');
  console.log(`SIM_READY ${url}`);
  const stop = (): void => {
    void sim.close().finally(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((err: unknown) => {
  console.error('simulator failed:', err instanceof Error ? err.message : err);
  process.exit(1);
});
