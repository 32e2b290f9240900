/**
 * Answered or not, from call notes (R3; seed 000: "звонки, на которые клиент НЕ ОТВЕТИЛ"). A `leads[note]` webhook
 * carries a call note as note_type 10 (incoming) or 11 (outgoing) with the call's parameters as JSON in `text`
 * (UNIQ, DURATION, SRC, LINK, PHONE, call_status, call_result); the API gives `call_in`/`call_out` notes with
 * `params.duration` and `params.call_status`. Both are parsed here with zod; anything else is not a call.
 */
import { z } from 'zod';
import type { NoteEvent } from '../events.js';
import type { CallNote } from './types.js';

export const NOTE_TYPE_CALL_IN = 10;
export const NOTE_TYPE_CALL_OUT = 11;

/** amoCRM call statuses that mean nobody talked, whatever the duration (voicemail, not available, wrong number, no answer, busy). */
export const NOT_A_CONVERSATION = new Set([1, 3, 5, 6, 7]);
export const CONVERSATION = 4;

const numeric = z.union([z.number(), z.string().regex(/^\d+$/).transform(Number)]);
/**
 * A field that does not read as a number (amoCRM sends `"call_status":""` for calls whose telephony reported none)
 * is absent, and the rest of the call still counts: an empty status must not throw away the call's duration.
 */
const field = numeric.optional().catch(undefined);

const WebhookCallTextSchema = z
  .object({
    DURATION: field,
    duration: field,
    call_status: field,
    CALL_STATUS: field,
  })
  .loose();

export const ApiCallParamsSchema = z.object({ duration: field, call_status: field }).loose();

/** A call note from a webhook note event, or undefined when the note is not a call. */
export function callFromNoteEvent(event: NoteEvent, fallbackAt: number): CallNote | undefined {
  if (event.noteType !== NOTE_TYPE_CALL_IN && event.noteType !== NOTE_TYPE_CALL_OUT) return undefined;
  let params: z.infer<typeof WebhookCallTextSchema> = {};
  if (event.text !== undefined && event.text.trim().startsWith('{')) {
    try {
      const parsed = WebhookCallTextSchema.safeParse(JSON.parse(event.text));
      if (parsed.success) params = parsed.data;
    } catch {
      // Not JSON: a call with unknown duration, which never counts as a conversation.
    }
  }
  const status = params.call_status ?? params.CALL_STATUS;
  return {
    direction: event.noteType === NOTE_TYPE_CALL_IN ? 'in' : 'out',
    at: event.createdAt !== undefined ? Date.parse(event.createdAt) : fallbackAt,
    durationSec: params.DURATION ?? params.duration ?? 0,
    ...(status !== undefined ? { status } : {}),
    ...(event.createdUserId !== undefined ? { byUserId: event.createdUserId } : {}),
  };
}

/** A call note from the API (`call_in`/`call_out` with params), or undefined. */
export function callFromApiNote(note: {
  note_type: string;
  created_at?: number | undefined;
  created_by?: number | undefined;
  params?: Record<string, unknown> | null | undefined;
}): CallNote | undefined {
  if (note.note_type !== 'call_in' && note.note_type !== 'call_out') return undefined;
  const parsed = ApiCallParamsSchema.safeParse(note.params ?? {});
  const p = parsed.success ? parsed.data : {};
  return {
    direction: note.note_type === 'call_in' ? 'in' : 'out',
    at: (note.created_at ?? 0) * 1000,
    durationSec: p.duration ?? 0,
    ...(p.call_status !== undefined ? { status: p.call_status } : {}),
    ...(note.created_by !== undefined ? { byUserId: note.created_by } : {}),
  };
}

/** A conversation: long enough, and not a status that says nobody answered. */
export function isConversation(call: CallNote, minDurationSec: number): boolean {
  if (call.status !== undefined && NOT_A_CONVERSATION.has(call.status)) return false;
  return call.durationSec >= minDurationSec && call.durationSec > 0;
}
