/**
 * Versions of the rules config in Redis: every applied change (an API edit, a file change, a rollback) is a new
 * numbered version with its author, time, comment, origin and the diff against the one before. `current` names the
 * version every process runs; a change is announced on a pub/sub channel and the current number is also polled, so
 * a process that missed the message still converges.
 */
import { createHash } from 'node:crypto';
import { createTwoFilesPatch } from 'diff';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import type { Keys } from './keys.js';

export const VERSIONS_KEPT = 200;

export const VersionOriginSchema = z.enum(['file', 'api', 'rollback']);
export type VersionOrigin = z.infer<typeof VersionOriginSchema>;

export const RulesVersionSchema = z.object({
  version: z.number().int().positive(),
  at: z.string(),
  author: z.string(),
  comment: z.string(),
  origin: VersionOriginSchema,
  /** The version rolled back to, for a rollback. */
  rollbackOf: z.number().int().optional(),
  /** sha256 of the text; a file change is imported once however many processes see it. */
  hash: z.string(),
  text: z.string(),
  /** Unified diff against the previous version ('' for the first one). */
  diff: z.string(),
});
export type RulesVersion = z.infer<typeof RulesVersionSchema>;
export type RulesVersionSummary = Omit<RulesVersion, 'text' | 'diff'>;

export const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

export function diffTexts(before: string, after: string, from: string, to: string): string {
  return before === after ? '' : createTwoFilesPatch(from, to, before, after, '', '', { context: 3 });
}

/**
 * Saves a new version atomically, so that two processes (or two admins) never get the same number and a file
 * change seen by every process is imported once. Every key it touches is in KEYS (Redis Cluster): the caller
 * names the version it expects to write and the versions that drop out of the list, and the script refuses (-2,
 * read again and retry) when another save came first.
 * KEYS: counter, current, list, fileHash, the new version's key, then the keys of the versions that drop out.
 * ARGV: json-without-version, hash, mode ('file' imports only a hash not imported yet), baseVersion ('' = any),
 * the expected new version, then the numbers of the versions that drop out.
 * Returns the new version, 0 when the file hash was already imported, -1 when `current` moved past baseVersion.
 */
const SAVE_SCRIPT = `
local current = tonumber(redis.call('GET', KEYS[2]) or '0')
if ARGV[3] == 'file' then
  if redis.call('GET', KEYS[4]) == ARGV[2] then return 0 end
elseif ARGV[4] ~= '' and tonumber(ARGV[4]) ~= current then
  return -1
end
local v = tonumber(redis.call('GET', KEYS[1]) or '0') + 1
if v ~= tonumber(ARGV[5]) then return -2 end
local dropped = redis.call('LRANGE', KEYS[3], ${VERSIONS_KEPT - 1}, -1)
if #dropped ~= #ARGV - 5 then return -2 end
for i, old in ipairs(dropped) do
  if old ~= ARGV[5 + i] then return -2 end
end
if ARGV[3] == 'file' then redis.call('SET', KEYS[4], ARGV[2]) end
redis.call('SET', KEYS[1], v)
local doc = cjson.decode(ARGV[1])
doc['version'] = v
redis.call('SET', KEYS[5], cjson.encode(doc))
redis.call('SET', KEYS[2], v)
redis.call('LPUSH', KEYS[3], v)
for i = 6, #KEYS do redis.call('DEL', KEYS[i]) end
redis.call('LTRIM', KEYS[3], 0, ${VERSIONS_KEPT - 1})
return v
`;

export type SaveResult =
  { kind: 'saved'; version: number } | { kind: 'already_imported' } | { kind: 'conflict'; current: number };

export interface VersionStore {
  channel: string;
  current(): Promise<number>;
  get(version: number): Promise<RulesVersion | undefined>;
  list(limit?: number): Promise<RulesVersionSummary[]>;
  /** Saves `text` as the next version and makes it current; the diff is computed against the current one. */
  save(input: {
    text: string;
    author: string;
    comment: string;
    origin: VersionOrigin;
    rollbackOf?: number;
    at: string;
    baseVersion?: number;
  }): Promise<SaveResult>;
  /** Announces the new current version to every process. */
  announce(version: number): Promise<void>;
  lastFileHash(): Promise<string | undefined>;
}

export function createVersionStore(redis: Redis, keys: Keys): VersionStore {
  // One hash tag for the keys the save script touches together; the channel is no key and keeps its name.
  const k = {
    counter: keys.tagged('rules', 'counter'),
    current: keys.tagged('rules', 'current'),
    list: keys.tagged('rules', 'versions'),
    fileHash: keys.tagged('rules', 'file-hash'),
    version: (v: number | string) => keys.tagged('rules', 'v', v),
  };
  const channel = keys.of('rules', 'changed');
  const get = async (version: number): Promise<RulesVersion | undefined> => {
    const raw = await redis.get(k.version(version));
    if (raw === null) return undefined;
    const parsed = RulesVersionSchema.safeParse(JSON.parse(raw));
    return parsed.success ? parsed.data : undefined;
  };
  return {
    channel,
    async current() {
      return Number((await redis.get(k.current)) ?? 0);
    },
    get,
    async list(limit = 50) {
      const numbers = await redis.lrange(k.list, 0, limit - 1);
      const docs = await Promise.all(numbers.map((n) => get(Number(n))));
      return docs
        .filter((d): d is RulesVersion => d !== undefined)
        .map(({ text: _text, diff: _diff, ...summary }) => summary);
    },
    async save(input) {
      const currentNo = Number((await redis.get(k.current)) ?? 0);
      const previous = currentNo > 0 ? await get(currentNo) : undefined;
      const hash = sha256(input.text);
      const doc = {
        at: input.at,
        author: input.author,
        comment: input.comment,
        origin: input.origin,
        ...(input.rollbackOf !== undefined ? { rollbackOf: input.rollbackOf } : {}),
        hash,
        text: input.text,
        diff: diffTexts(
          previous?.text ?? '',
          input.text,
          previous ? `version ${previous.version}` : 'empty',
          'new version',
        ),
      };
      // The diff is against the version read above; baseVersion guards that it is still current when saved.
      // A file change is always the latest edit (no base); an API edit without a base is checked against what it diffed.
      const base = input.origin === 'file' ? '' : String(input.baseVersion ?? currentNo);
      let result = -2;
      // -2: another save took the number or changed the list between the reads and the script; read again.
      while (result === -2) {
        const [counter, dropped] = await Promise.all([
          redis.get(k.counter),
          redis.lrange(k.list, VERSIONS_KEPT - 1, -1),
        ]);
        const next = Number(counter ?? 0) + 1;
        const keyList = [
          k.counter,
          k.current,
          k.list,
          k.fileHash,
          k.version(next),
          ...dropped.map((v) => k.version(v)),
        ];
        result = Number(
          await redis.eval(
            SAVE_SCRIPT,
            keyList.length,
            ...keyList,
            JSON.stringify(doc),
            hash,
            input.origin === 'file' ? 'file' : 'edit',
            base,
            String(next),
            ...dropped,
          ),
        );
      }
      if (result === 0) return { kind: 'already_imported' };
      if (result === -1) return { kind: 'conflict', current: await this.current() };
      return { kind: 'saved', version: result };
    },
    async announce(version) {
      await redis.publish(channel, String(version));
    },
    async lastFileHash() {
      return (await redis.get(k.fileHash)) ?? undefined;
    },
  };
}
