/**
 * The atomic step of R2: one Lua script picks the manager and counts the lead against their cap, so any number
 * of workers give out turns as one (SPEC: "assignment is atomic across any number of workers").
 * The script mirrors `smoothWeightedRoundRobin` and `leastLoaded` in src/rules/distribution; tests hold them
 * to the same sequence. Loads are sets of untaken lead ids per manager, so releasing a lead twice is harmless.
 */
import type { Redis } from 'ioredis';
import type { Candidate, DistributionExplanation, Strategy } from '../rules/types.js';
import type { Keys } from './keys.js';

// KEYS[1] current weights hash of the pool; KEYS[2] prefix of the per-user untaken sets; KEYS[3] lead → owner hash;
// KEYS[4] the answer for this lead and clock, so a retried job gets the same manager instead of a second turn.
// ARGV: strategy, leadId, then (userId, weight, cap) triples.
const PICK = `
local weightsKey, loadPrefix, ownerKey, answerKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local strategy, lead = ARGV[1], ARGV[2]
local answered = redis.call('GET', answerKey)
if answered then return cjson.decode(answered) end
local ids, weights, caps, loads = {}, {}, {}, {}
local n = 0
for i = 3, #ARGV, 3 do
  local id = ARGV[i]
  local load = redis.call('SCARD', loadPrefix .. id)
  if redis.call('SISMEMBER', loadPrefix .. id, lead) == 1 then load = load - 1 end
  if load < tonumber(ARGV[i + 2]) then
    n = n + 1
    ids[n] = id
    weights[n] = tonumber(ARGV[i + 1])
    caps[n] = tonumber(ARGV[i + 2])
    loads[n] = load
  end
end
if n == 0 then return {'', '{}'} end
local winner = nil
local scores = {}
if strategy == 'least_loaded' then
  local best = nil
  for i = 1, n do
    local score = loads[i] / weights[i]
    scores[ids[i]] = loads[i]
    if best == nil or score < best or (score == best and tonumber(ids[i]) < tonumber(winner)) then
      best = score
      winner = ids[i]
    end
  end
else
  local total = 0
  local bestValue = nil
  for i = 1, n do
    local current = tonumber(redis.call('HGET', weightsKey, ids[i]) or '0') + weights[i]
    scores[ids[i]] = current
    total = total + weights[i]
    if bestValue == nil or current > bestValue then
      bestValue = current
      winner = ids[i]
    end
  end
  scores[winner] = scores[winner] - total
  for i = 1, n do
    redis.call('HSET', weightsKey, ids[i], tostring(scores[ids[i]]))
  end
end
local previous = redis.call('HGET', ownerKey, lead)
if previous and previous ~= winner then redis.call('SREM', loadPrefix .. previous, lead) end
redis.call('SADD', loadPrefix .. winner, lead)
redis.call('HSET', ownerKey, lead, winner)
local answer = {winner, cjson.encode(scores)}
redis.call('SET', answerKey, cjson.encode(answer), 'EX', 604800)
return answer
`;

const RELEASE = `
local owner = redis.call('HGET', KEYS[2], ARGV[1])
if owner then redis.call('SREM', KEYS[1] .. owner, ARGV[1]) redis.call('HDEL', KEYS[2], ARGV[1]) end
return owner
`;

export interface PickInput {
  pool: string;
  leadId: number;
  /** The pickup clock the pick is for; the same (lead, clock) always gets the same answer. */
  clock: number;
  candidates: Candidate[];
  strategy: Strategy;
}

export interface DistributionStore {
  /** Chooses a manager atomically and counts the lead as theirs; no winner when everyone is at their cap. */
  pick(input: PickInput): Promise<{ winner?: number; scores: Record<string, number> }>;
  /** The lead is no longer untaken by its manager (taken, missed, moved). Idempotent. */
  release(leadId: number): Promise<void>;
  /** Marks a lead as untaken by a manager who got it by hand (not through pick). */
  hold(leadId: number, userId: number): Promise<void>;
  loads(userIds: number[]): Promise<Map<number, number>>;
}

export function createDistributionStore(redis: Redis, keys: Keys): DistributionStore {
  const loadPrefix = keys.of('dist', 'untaken', '');
  const ownerKey = keys.of('dist', 'owner');
  return {
    async pick({ pool, leadId, clock, candidates, strategy }) {
      const args = candidates.flatMap((c) => [String(c.userId), String(c.weight), String(c.cap)]);
      const answerKey = keys.of('dist', 'answer', leadId, clock);
      const [winner, scores] = (await redis.eval(PICK, 4, keys.of('dist', 'swrr', pool), loadPrefix, ownerKey, answerKey, strategy, String(leadId), ...args)) as [string, string];
      const parsed = JSON.parse(scores) as Record<string, number> | unknown[];
      return { ...(winner !== '' ? { winner: Number(winner) } : {}), scores: Array.isArray(parsed) ? {} : parsed };
    },
    async release(leadId) {
      await redis.eval(RELEASE, 2, loadPrefix, ownerKey, String(leadId));
    },
    async hold(leadId, userId) {
      const previous = await redis.hget(ownerKey, String(leadId));
      const multi = redis.multi();
      if (previous !== null && previous !== String(userId)) multi.srem(`${loadPrefix}${previous}`, String(leadId));
      await multi.sadd(`${loadPrefix}${userId}`, String(leadId)).hset(ownerKey, String(leadId), String(userId)).exec();
    },
    async loads(userIds) {
      const pipeline = redis.pipeline();
      for (const id of userIds) pipeline.scard(`${loadPrefix}${id}`);
      const res = (await pipeline.exec()) ?? [];
      return new Map(userIds.map((id, i) => [id, Number(res[i]?.[1] ?? 0)]));
    },
  };
}

export function explanationOf(input: PickInput & { department: string; skipped: DistributionExplanation['skipped'] }, result: { winner?: number; scores: Record<string, number> }): DistributionExplanation {
  return {
    department: input.department,
    strategy: input.strategy,
    candidates: input.candidates,
    skipped: input.skipped,
    scores: result.scores,
    ...(result.winner !== undefined ? { winner: result.winner } : {}),
  };
}
