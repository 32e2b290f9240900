/**
 * The jobs Telegram runs in the background, as a port: the payloads, the handlers Telegram gives the job worker, and
 * the queue it is given to add to. The job catalog (src/jobs/catalog.ts) takes these schemas; Telegram never imports
 * the jobs layer.
 */
import { z } from 'zod';

/** Drain the outbox's route list: resolve chats, apply quiet hours and alert windows, queue per chat. */
export const TelegramRouteJobSchema = z.object({ reason: z.string() });
/** Deliver what waits for one chat, in order. `seq` makes each scheduling a new job (the chat's flag dedupes). */
export const TelegramChatJobSchema = z.object({ chatId: z.string().min(1), seq: z.number().int().nonnegative() });
/** An update Telegram posted to POST /telegram/webhook, handled by a worker (the route only checks and enqueues). */
export const TelegramUpdateJobSchema = z.object({
  update: z.object({ update_id: z.number().int().nonnegative() }).loose(),
});
/** Held alerts whose quiet hours ended, escalations due, and chats whose drain job was lost. */
export const TelegramSweepJobSchema = z.object({ reason: z.string() });

export interface TelegramJobData {
  'telegram-route': z.infer<typeof TelegramRouteJobSchema>;
  'telegram-chat': z.infer<typeof TelegramChatJobSchema>;
  'telegram-update': z.infer<typeof TelegramUpdateJobSchema>;
  'telegram-sweep': z.infer<typeof TelegramSweepJobSchema>;
}
export type TelegramJobName = keyof TelegramJobData;

/** What Telegram may ask of the job queues; the composition root passes the service's queues. */
export interface TelegramQueue {
  add<N extends TelegramJobName>(name: N, data: TelegramJobData[N]): Promise<unknown>;
  /** Runs the job every `everyMs`, once across all processes (a repeatable job scheduler). */
  every<N extends TelegramJobName>(name: N, everyMs: number, data: TelegramJobData[N]): Promise<void>;
}

export type TelegramHandlers = { [N in TelegramJobName]: (data: TelegramJobData[N]) => Promise<unknown> };
