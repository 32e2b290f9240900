/**
 * An amoCRM client in its own OS process, for tests where several processes share one Redis.
 * Usage: node --import tsx test/helpers/amo-client-process.ts <redisUrl>
 * Reads one JSON command a line on stdin (`{"id":1,"op":"getLead","prefix":"p","baseUrl":"http://…","leadId":5}`)
 * and answers one JSON line each: `{"id":1,"ok":true,"leadId":5}` or
 * `{"id":1,"ok":false,"error":{name,retryable,retryAfterMs,status,message}}`. One client per (prefix, baseUrl),
 * so one process serves several tests, each on its own prefix.
 */
import { createInterface } from 'node:readline';
import { createAmoClient, type AmoClient } from '../../src/amocrm/api/client.js';
import { connectRedis } from '../../src/lib/redis.js';

const [url = ''] = process.argv.slice(2);
const redis = connectRedis(url, 'worker', {}, process.env.REDIS_CLUSTER_NODES || undefined);
const clients = new Map<string, { client: AmoClient; alerts: string[] }>();
const clientFor = (keyPrefix: string, baseUrl: string): { client: AmoClient; alerts: string[] } => {
  const key = `${keyPrefix}|${baseUrl}`;
  let entry = clients.get(key);
  if (entry === undefined) {
    const alerts: string[] = [];
    const client = createAmoClient({
      baseUrl,
      auth: { kind: 'long-lived', token: 'LONG-LIVED' },
      redis,
      keyPrefix,
      rps: 7,
      // A 429 without retry_after waits 200 ms at first, so the block test does not wait the production 2 s.
      backoff: { baseMs: 200 },
      onAlert: (kind) => void alerts.push(kind),
    });
    entry = { client, alerts };
    clients.set(key, entry);
  }
  return entry;
};

const answer = (line: unknown): void => void process.stdout.write(`${JSON.stringify(line)}\n`);

createInterface({ input: process.stdin }).on('line', (line) => {
  const command = JSON.parse(line) as {
    id: number;
    op: 'getLead' | 'alerts';
    prefix: string;
    baseUrl: string;
    leadId: number;
  };
  const { client, alerts } = clientFor(command.prefix, command.baseUrl);
  if (command.op === 'alerts') return answer({ id: command.id, ok: true, alerts });
  client.getLead(command.leadId).then(
    (lead) => answer({ id: command.id, ok: true, leadId: lead?.id }),
    (err: Error & { retryable?: boolean; retryAfterMs?: number; status?: number }) =>
      answer({
        id: command.id,
        ok: false,
        error: {
          name: err.name,
          retryable: err.retryable,
          retryAfterMs: err.retryAfterMs,
          status: err.status,
          message: err.message,
        },
      }),
  );
});
answer({ ready: true });
