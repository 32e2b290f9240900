/**
 * How the values of a lead's hash (`<prefix>:lead:{<id>}`) are stored: the folded webhook state, every rule's
 * state (`pickup`, `cadence`, `stage`, …) and the applied events. Each is JSON, deflated against a fixed preset
 * dictionary of the words these states are made of, behind a one-byte version tag (0x01 = dictionary V1). A lead's
 * state is ≈440 bytes of JSON and ≈85 deflated; the pickup state ≈190 and ≈45. Redis keeps a hash for every
 * tracked lead for 180 days, so this is most of the service's memory.
 *
 * Values written before (plain JSON) still read: JSON never starts with byte 0x01. A value whose deflated form is
 * not shorter than its JSON (a tiny state) is stored as plain JSON. The values are binary: read them with the
 * `…Buffer` commands (`hgetBuffer`, `hmgetBuffer`, `hgetallBuffer`), never as strings.
 *
 * Intents (`intent:<plan>`), done markers and task refs are not encoded: intents are read by the commit script and
 * leave the hash when their plan is done; markers and refs are short.
 */
import { deflateRawSync, inflateRawSync } from 'node:zlib';

/** The version tag of values deflated against LEAD_FIELD_DICTIONARY_V1. */
const TAG_V1 = 0x01;

/**
 * Version 1 of the dictionary. Never edit it: values written with it are read with it. New wording that should
 * compress well goes into a new version (tag 0x02), read beside this one. Deflate finds matches anywhere in it; the
 * most common words come last (the nearest matches are the cheapest), in the order the states write their keys.
 */
const LEAD_FIELD_DICTIONARY_V1 = Buffer.from(
  [
    // stage rules (src/rules/stage-rules/common.ts)
    '{"visit":1,"pipelineId":70000,"statusId":71000,"enteredAt":17,"enteredBy":91,"robotEntry":true,"lastTouchAt":17,',
    '"r5":{"reasonAt":17,"flagged":true},"r6":{"n":1,"untouchedFlagged":[17]},"r7":{"meetingAt":17,"refs":["R7:',
    '"],"flagged":true,"seenAt":17},"r8":{},"r9":{"taskRef":"R9:"},"r10":["w1"]}',
    // call cadence (src/rules/cadence/types.ts)
    '{"run":1,"status":"running","status":"waiting_end","status":"waiting_slot","status":"stopped","status":"ended",',
    '"profile":"","pipelineId":70000,"statusId":71000,"entryAt":17,"userId":91,"step":1,"reissue":0,',
    '"openTask":{"ref":"R3:","step":1,"dueAt":17,"window":1,"day":"2026-11-25","createdAt":17,"weekendMissed":true,',
    '"text":"Позвонить клиенту"},"timerAt":17,"attempts":[{"step":1,"outcome":"no_answer","outcome":"no_call",',
    '"outcome":"overdue","at":17,"dueAt":17,"userId":91,"calls":0}],"calls":[{"at":17,"answered":false,',
    '"durationSec":0,"status":4,"direction":"out"},{"direction":"in"}],"slots":[{"step":1,"day":"2026-11-25",',
    '"window":1}],"stoppedBy":"left_stage","stoppedBy":"answered_call","stoppedBy":"meeting_set","endedAt":17,',
    '"unreachedBy":[]}',
    // pickup (src/rules/types.ts)
    '"phase":"idle","phase":"waiting_shift","phase":"pinned","phase":"fallback","phase":"taken","takenAt":17,',
    '"takenBy":"outgoing_call","takenBy":"note","takenBy":"task_completed","takenBy":"moved_by_other","takenBy":"left_stage"',
    '{"leadId":20,"clock":1,"phase":"running","department":"Отдел продаж 1","assignedUserId":91,"assignedAt":17,',
    '"deadlineAt":17,"missedUserIds":[],"misses":0}',
    // the lead's folded webhook state (src/rules/lead-state.ts)
    '{"leadId":20,"tags":["Авито","Сайт","Звонок"],"deleted":true,"deleted":false,"history":[{"at":"2026-11-25T10:00:00.000Z",',
    '"statusId":71000,"pipelineId":70000,"fromStatusId":71000,"byUserId":91}],"updatedAt":"2026-11-25T10:00:00.000Z",',
    '"pipelineId":70000,"statusId":71000,"statusSince":"","responsibleUserId":91,"responsibleSince":"",',
    '"lastActivityAt":"","lastActivityByUserId":91}',
  ].join(''),
  'utf8',
);

/** The stored form of a value: deflated against the dictionary when that is shorter than the JSON. */
export function encodeLeadField(value: unknown): Buffer {
  const json = Buffer.from(JSON.stringify(value), 'utf8');
  const deflated = deflateRawSync(json, { dictionary: LEAD_FIELD_DICTIONARY_V1 });
  if (deflated.length + 1 >= json.length) return json;
  return Buffer.concat([Buffer.of(TAG_V1), deflated]);
}

/** The JSON text of a stored value, whichever form it was written in. */
export function leadFieldJson(raw: Buffer | string): string {
  if (typeof raw === 'string') return raw;
  if (raw[0] === TAG_V1)
    return inflateRawSync(raw.subarray(1), { dictionary: LEAD_FIELD_DICTIONARY_V1 }).toString('utf8');
  return raw.toString('utf8');
}

/** A stored value parsed, or undefined when the field is absent. */
export function decodeLeadField(raw: Buffer | string | null | undefined): unknown {
  return raw === null || raw === undefined ? undefined : (JSON.parse(leadFieldJson(raw)) as unknown);
}
