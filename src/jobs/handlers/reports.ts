/**
 * Use case: the `reports-tick` job (every minute) sends the R11/R12 reports due now. Registered as a BullMQ job
 * scheduler, so a single job per minute runs across all workers.
 */
import type { Queue } from 'bullmq';
import type { Reports } from '../../reports/reports.js';
import type { ReportsTickJob } from '../catalog.js';
import { JOBS } from '../catalog.js';

export const REPORTS_TICK_EVERY_MS = 60_000;

export function createReportsTickHandler(reports: Reports) {
  return async (_data: ReportsTickJob): Promise<{ sent: string[] }> => {
    const sent = await reports.tick();
    return {
      sent: sent.map((r) =>
        r.kind === 'daily' ? `daily ${r.department} ${r.date}` : `monthly ${r.department} ${r.month}`,
      ),
    };
  };
}

/** Registers (or updates) the repeatable tick on the timers queue; call once at start. */
export async function scheduleReportsTick(timers: Queue, everyMs = REPORTS_TICK_EVERY_MS): Promise<void> {
  const spec = JOBS['reports-tick'];
  await timers.upsertJobScheduler(
    'reports-tick',
    { every: everyMs },
    {
      name: 'reports-tick',
      data: { reason: 'schedule' },
      opts: { removeOnComplete: spec.options.removeOnComplete, removeOnFail: spec.options.removeOnFail },
    },
  );
}
