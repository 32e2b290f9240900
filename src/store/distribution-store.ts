/**
 * The atomic step of R2: one Lua script picks the manager and counts the lead against their cap, so any number
 * of workers give out turns as one (SPEC: "assignment is atomic across any number of workers").
 * The script mirrors `smoothWeightedRoundRobin` and `leastLoaded` in src/rules/distribution; tests hold them
 * to the same sequence. Loads are sets of untaken lead ids per manager, so releasing a lead twice is harmless.
 */
import type { Redis } from 'ioredis';
import type { Candidate, DistributionExplanation, Strategy } from '../rules/types.js';
import type { Keys } from './keys.js';

/**
 * Cluster-safe: every key a script touches comes in KEYS (no key is built inside a script), and all of them carry
 * the `{<prefix>:dist}` hash tag, so they share a slot. The lead's previous owner decides which load set to leave,
 * so the client passes the owner it expects; when another worker changed it meanwhile the script answers
 * `{'!owner', actual}` without writing, and the client retries with the actual owner's set.
 *
 * The owner key holds the owner and the answer of its last pick: `<owner>|<clock>|<answer expiry, epoch s>|<answer
 * JSON>` (OWNER_SCRIPT_LIB parses it); a key written before holds the owner alone, and an answer written before has
 * its own key (`…:answer:<lead>:<clock>`, still read; gone within ANSWER_TTL_SECONDS of the upgrade).
 *
 * KEYS: [1] pool weights hash, [2] the lead's owner, [3] answer for (lead, clock) written before, [4] expected
 * previous owner's load set (or any key when none), [5..] candidates' load sets in ARGV order.
 * ARGV: strategy, leadId, expected previous owner ('' when none), owner TTL seconds, answer TTL seconds, clock, now
 * (epoch s), then (userId, weight, cap).
 */
const OWNER_SCRIPT_LIB = `
local function splitOwner(stored)
  if not stored then return '', nil end
  local bar = string.find(stored, '|', 1, true)
  if not bar then return stored, nil end
  return string.sub(stored, 1, bar - 1), string.sub(stored, bar + 1)
end
local function liveAnswer(answer, now)
  if not answer then return nil end
  local a = string.find(answer, '|', 1, true)
  local b = string.find(answer, '|', a + 1, true)
  local expires = tonumber(string.sub(answer, a + 1, b - 1))
  if expires <= now then return nil end
  return string.sub(answer, 1, a - 1), expires, string.sub(answer, b + 1)
end
`;

const PICK = `${OWNER_SCRIPT_LIB}
local weightsKey, ownerKey, answerKey, previousLoadKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local strategy, lead, expected, ownerTtl = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local clock, now = ARGV[6], tonumber(ARGV[7])
local answered = redis.call('GET', answerKey)
if answered then return cjson.decode(answered) end
local previous, answer = splitOwner(redis.call('GET', ownerKey))
local answerClock, _, answerJson = liveAnswer(answer, now)
if answerClock == clock then return cjson.decode(answerJson) end
if previous ~= expected then return {'!owner', previous} end
local ids, weights, caps, loads, loadKeys = {}, {}, {}, {}, {}
local n = 0
for i = 8, #ARGV, 3 do
  local id = ARGV[i]
  local loadKey = KEYS[5 + (i - 8) / 3]
  local load = redis.call('SCARD', loadKey)
  if redis.call('SISMEMBER', loadKey, lead) == 1 then load = load - 1 end
  if load < tonumber(ARGV[i + 2]) then
    n = n + 1
    ids[n] = id
    weights[n] = tonumber(ARGV[i + 1])
    caps[n] = tonumber(ARGV[i + 2])
    loads[n] = load
    loadKeys[n] = loadKey
  end
end
if n == 0 then return {'', '{}'} end
local winner = nil
local winnerLoadKey = nil
local scores = {}
if strategy == 'least_loaded' then
  local best = nil
  for i = 1, n do
    local score = loads[i] / weights[i]
    scores[ids[i]] = loads[i]
    if best == nil or score < best or (score == best and tonumber(ids[i]) < tonumber(winner)) then
      best = score
      winner = ids[i]
      winnerLoadKey = loadKeys[i]
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
      winnerLoadKey = loadKeys[i]
    end
  end
  scores[winner] = scores[winner] - total
  for i = 1, n do
    redis.call('HSET', weightsKey, ids[i], tostring(scores[ids[i]]))
  end
end
if previous ~= '' and previous ~= winner then redis.call('SREM', previousLoadKey, lead) end
redis.call('SADD', winnerLoadKey, lead)
local reply = {winner, cjson.encode(scores)}
redis.call('SET', ownerKey, winner .. '|' .. clock .. '|' .. (now + tonumber(ARGV[5])) .. '|' .. cjson.encode(reply), 'EX', tonumber(ownerTtl))
return reply
`;

/**
 * KEYS: [1] the lead's owner, [2] the expected owner's load set. ARGV: leadId, expected owner, now (epoch s).
 * The owner goes; a live answer stays (without an owner) until it expires, so a retried pick still gets it.
 */
const RELEASE = `${OWNER_SCRIPT_LIB}
local owner, answer = splitOwner(redis.call('GET', KEYS[1]))
if owner == '' then return '' end
if owner ~= ARGV[2] then return {'!owner', owner} end
redis.call('SREM', KEYS[2], ARGV[1])
local answerClock, expires, answerJson = liveAnswer(answer, tonumber(ARGV[3]))
if answerClock then
  redis.call('SET', KEYS[1], '|' .. answer, 'EX', expires - tonumber(ARGV[3]))
else
  redis.call('DEL', KEYS[1])
end
return owner
`;

/**
 * KEYS: [1] the lead's owner, [2] the expected previous owner's load set, [3] the new owner's load set.
 * ARGV: leadId, expected, userId, TTL, now (epoch s). A live answer of the last pick is kept.
 */
const HOLD = `${OWNER_SCRIPT_LIB}
local previous, answer = splitOwner(redis.call('GET', KEYS[1]))
if previous ~= ARGV[2] then return {'!owner', previous} end
if previous ~= '' and previous ~= ARGV[3] then redis.call('SREM', KEYS[2], ARGV[1]) end
redis.call('SADD', KEYS[3], ARGV[1])
local stored = ARGV[3]
if liveAnswer(answer, tonumber(ARGV[5])) then stored = stored .. '|' .. answer end
redis.call('SET', KEYS[1], stored, 'EX', tonumber(ARGV[4]))
return 'OK'
`;

/** The owner part of an owner key's value (see PICK). */
const ownerOf = (stored: string | null): string => (stored === null ? '' : (stored.split('|')[0] ?? ''));
// eslint-disable-next-line no-restricted-syntax -- Wall clock on purpose: compared with Redis key TTLs and marks every process sets in real time.
const nowSeconds = (): number => Math.floor(Date.now() / 1000);

/**
 * Who holds an untaken lead is kept per lead with a TTL, so the table is bounded by the leads in play instead of
 * growing forever. 30 days is far beyond any pickup (minutes to hours, then the fallback user); after it the lead
 * stays in its manager's load set until released, exactly as before.
 */
export const OWNER_TTL_SECONDS = 30 * 24 * 3600;
/**
 * A pick's answer for (lead, clock) serves a retried job the same manager. Job retries and resumed plans happen
 * within hours (BullMQ backoff, the executor's lease and retry ladder), so a day is ample. It is kept in the owner
 * key beside the owner; past this it is ignored, and dropped at the next write of the key (or with the key).
 */
export const ANSWER_TTL_SECONDS = 24 * 3600;
/** Retries when another worker moved the same lead between our read and our script (bounded; contention is rare). */
const OWNER_RACE_RETRIES = 5;

const isOwnerRace = (reply: unknown): reply is ['!owner', string] => Array.isArray(reply) && reply[0] === '!owner';

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
  const loadKey = (userId: number | string): string => keys.dist('untaken', userId);
  const ownerKey = (leadId: number): string => keys.dist('owner', leadId);
  // Any key of the same slot stands in for "no previous owner".
  const noOwner = keys.dist('untaken', '-');
  const loadKeyOf = (owner: string): string => (owner === '' ? noOwner : loadKey(owner));

  return {
    async pick({ pool, leadId, clock, candidates, strategy }) {
      const args = candidates.flatMap((c) => [String(c.userId), String(c.weight), String(c.cap)]);
      const loadKeys = candidates.map((c) => loadKey(c.userId));
      const answerKey = keys.dist('answer', leadId, clock);
      let expected = '';
      for (let attempt = 0; ; attempt++) {
        const reply = (await redis.eval(
          PICK,
          4 + loadKeys.length,
          keys.dist('swrr', pool),
          ownerKey(leadId),
          answerKey,
          loadKeyOf(expected),
          ...loadKeys,
          strategy,
          String(leadId),
          expected,
          String(OWNER_TTL_SECONDS),
          String(ANSWER_TTL_SECONDS),
          String(clock),
          String(nowSeconds()),
          ...args,
        )) as [string, string];
        if (isOwnerRace(reply)) {
          if (attempt >= OWNER_RACE_RETRIES)
            throw new Error(`distribution: lead ${leadId} changed owner ${attempt + 1} times during one pick`);
          expected = reply[1];
          continue;
        }
        const [winner, scores] = reply;
        const parsed = JSON.parse(scores) as Record<string, number> | unknown[];
        return { ...(winner !== '' ? { winner: Number(winner) } : {}), scores: Array.isArray(parsed) ? {} : parsed };
      }
    },
    async release(leadId) {
      let expected = ownerOf(await redis.get(ownerKey(leadId)));
      for (let attempt = 0; expected !== '' && attempt <= OWNER_RACE_RETRIES; attempt++) {
        const reply = (await redis.eval(
          RELEASE,
          2,
          ownerKey(leadId),
          loadKeyOf(expected),
          String(leadId),
          expected,
          String(nowSeconds()),
        )) as unknown;
        if (!isOwnerRace(reply)) return;
        expected = reply[1];
      }
    },
    async hold(leadId, userId) {
      let expected = ownerOf(await redis.get(ownerKey(leadId)));
      for (let attempt = 0; attempt <= OWNER_RACE_RETRIES; attempt++) {
        const reply = (await redis.eval(
          HOLD,
          3,
          ownerKey(leadId),
          loadKeyOf(expected),
          loadKey(userId),
          String(leadId),
          expected,
          String(userId),
          String(OWNER_TTL_SECONDS),
          String(nowSeconds()),
        )) as unknown;
        if (!isOwnerRace(reply)) return;
        expected = reply[1];
      }
      throw new Error(`distribution: lead ${leadId} changed owner too often to hold it for ${userId}`);
    },
    async loads(userIds) {
      const pipeline = redis.pipeline();
      for (const id of userIds) pipeline.scard(loadKey(id));
      const res = (await pipeline.exec()) ?? [];
      return new Map(userIds.map((id, i) => [id, Number(res[i]?.[1] ?? 0)]));
    },
  };
}

export function explanationOf(
  input: PickInput & { department: string; skipped: DistributionExplanation['skipped'] },
  result: { winner?: number; scores: Record<string, number> },
): DistributionExplanation {
  return {
    department: input.department,
    strategy: input.strategy,
    candidates: input.candidates,
    skipped: input.skipped,
    scores: result.scores,
    ...(result.winner !== undefined ? { winner: result.winner } : {}),
  };
}
