/**
 * R2 pause and resume of intake (seed 002 §2.13: «руководство компании может приостановить передачу ЛИДов … в отдел»;
 * §3.10: «администрация приостанавливает передачу клиентов … на определенный срок»). A РОП or admin pauses a
 * manager or a whole department at run time, not only in the config; each pause and resume is a record with who
 * and why (`intake_paused` / `intake_resumed`), and the rule context reads `list()` so paused people are skipped.
 */
import type { Redis } from 'ioredis';
import { pauseKey, type IntakePause } from '../rules/types.js';
import type { Keys } from './keys.js';
import { createRecordStore } from './record-store.js';

export type IntakeTarget = { kind: 'manager'; userId: number } | { kind: 'department'; name: string };
export interface IntakeActor {
  userId?: number;
  name: string;
  reason: string;
  at: number;
}

export interface IntakeStore {
  /** Pauses the target's intake; pausing an already paused target keeps the first pause and returns false. */
  pause(target: IntakeTarget, by: IntakeActor): Promise<boolean>;
  /** Resumes it; false when it was not paused. */
  resume(target: IntakeTarget, by: IntakeActor): Promise<boolean>;
  /** Every pause in force, keyed `manager:<id>` / `department:<name>` (the rule context's `paused`). */
  list(): Promise<Map<string, IntakePause>>;
}

export function createIntakeStore(redis: Redis, keys: Keys): IntakeStore {
  const hash = keys.of('intake', 'paused');
  const records = createRecordStore(redis, keys);
  const describe = (t: IntakeTarget): string =>
    t.kind === 'manager' ? `manager ${t.userId}` : `department "${t.name}"`;
  const record = (kind: 'intake_paused' | 'intake_resumed', target: IntakeTarget, by: IntakeActor) =>
    records.append(
      {
        kind,
        at: new Date(by.at).toISOString(),
        leadId: 0,
        rule: 'R2',
        seed: 'seed 002 §2.13, §3.10: приостановить передачу ЛИДов',
        ...(target.kind === 'manager' ? { userId: target.userId } : { department: target.name }),
        reason: `${kind === 'intake_paused' ? 'paused' : 'resumed'} ${describe(target)} by ${by.name}${by.userId !== undefined ? ` (${by.userId})` : ''}: ${by.reason}`,
      },
      `${kind}:${pauseKey(target)}:${by.at}`,
    );
  return {
    async pause(target, by) {
      const entry: IntakePause = {
        by: by.name,
        reason: by.reason,
        at: by.at,
        ...(by.userId !== undefined ? { byUserId: by.userId } : {}),
      };
      const fresh = await redis.hsetnx(hash, pauseKey(target), JSON.stringify(entry));
      if (fresh === 1) await record('intake_paused', target, by);
      return fresh === 1;
    },
    async resume(target, by) {
      const removed = await redis.hdel(hash, pauseKey(target));
      if (removed === 1) await record('intake_resumed', target, by);
      return removed === 1;
    },
    async list() {
      const all = await redis.hgetall(hash);
      return new Map(Object.entries(all).map(([k, v]) => [k, JSON.parse(v) as IntakePause]));
    },
  };
}
