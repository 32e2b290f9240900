import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { expandFormBody } from '../../src/amocrm/form-body.js';
import { normalizeWebhook } from '../../src/amocrm/webhook-payload.js';
import { callFromApiNote, callFromNoteEvent, isConversation } from '../../src/rules/cadence/calls.js';
import type { NoteEvent, TaskEvent } from '../../src/rules/events.js';
import { encodeWebhookBody } from '../../sim/webhooks.js';
import { createSimulator, type Simulator } from '../../sim/server.js';

const TOKEN = 'sim-calls-token';
const ANNA = 9101;

describe('simulator: call notes and tasks completed with a result', () => {
  let sim: Simulator;
  const changes: Parameters<typeof encodeWebhookBody>[0] = [];
  beforeAll(async () => {
    sim = createSimulator({ longLivedToken: TOKEN, rps: 1000 });
    const push = sim.webhooks.push.bind(sim.webhooks);
    sim.webhooks.push = (c) => {
      changes.push(c);
      push(c);
    };
    await sim.listen();
  });
  afterAll(async () => {
    await sim.close();
  });

  const parse = (body: string) =>
    normalizeWebhook(expandFormBody(body), {
      deliveryId: 'd',
      receivedAt: '2026-11-25T10:00:00.000Z',
      timeZone: 'Europe/Moscow',
    });

  it('when a manager calls, then the leads[note] webhook carries note_type 11 or 10 with duration and status, and the events API lists outgoing_call/incoming_call', async () => {
    const lead = sim.account.createLead({
      name: 'Звонки',
      statusId: sim.account.statusByName('Не дозвонились').id,
      responsibleUserId: ANNA,
      by: ANNA,
    });
    changes.length = 0;
    sim.account.call({ leadId: lead.id, by: ANNA, durationSec: 7, status: 6 });
    sim.account.call({ leadId: lead.id, by: ANNA, direction: 'in', durationSec: 185, status: 4 });
    const notes = parse(encodeWebhookBody(changes)).events.filter((e): e is NoteEvent => e.kind === 'note');
    expect(notes.map((n) => n.noteType)).toEqual([11, 10]);
    const [missed, talked] = notes.map((n) => callFromNoteEvent(n, 0)!);
    expect(missed).toMatchObject({ direction: 'out', durationSec: 7, status: 6, byUserId: ANNA });
    expect(talked).toMatchObject({ direction: 'in', durationSec: 185, status: 4 });
    expect(isConversation(missed!, 20)).toBe(false);
    expect(isConversation(talked!, 20)).toBe(true);

    const headers = { authorization: `Bearer ${TOKEN}` };
    const events = await sim.app.inject({
      method: 'GET',
      url: `/api/v4/events?filter[type]=outgoing_call,incoming_call&filter[entity_id][]=${lead.id}`,
      headers,
    });
    expect(events.json()._embedded.events.map((e: { type: string }) => e.type)).toEqual([
      'incoming_call',
      'outgoing_call',
    ]);
    const api = await sim.app.inject({
      method: 'GET',
      url: `/api/v4/leads/notes?filter[entity_id][]=${lead.id}&filter[note_type][]=call_out`,
      headers,
    });
    const calls = api.json()._embedded.notes.map((n: Parameters<typeof callFromApiNote>[0]) => callFromApiNote(n));
    expect(calls).toEqual([expect.objectContaining({ direction: 'out', durationSec: 7, status: 6 })]);
  });

  it('when a manager completes a task with a result text, then the task[update] webhook carries status 1 and the result', () => {
    const lead = sim.account.createLead({
      name: 'Задача',
      statusId: sim.account.statusByName('Не дозвонились').id,
      responsibleUserId: ANNA,
      by: ANNA,
    });
    const task = sim.account.addTask({ leadId: lead.id, text: 'Позвонить', completeTill: 1_800_000_000, by: 9001 });
    changes.length = 0;
    sim.account.completeTask(task.id, 'Не берёт трубку', ANNA);
    const parsed = parse(encodeWebhookBody(changes)).events.filter((e): e is TaskEvent => e.kind === 'task');
    expect(parsed).toEqual([
      expect.objectContaining({
        action: 'update',
        taskId: task.id,
        entityId: lead.id,
        isCompleted: true,
        resultText: 'Не берёт трубку',
        modifiedUserId: ANNA,
      }),
    ]);
    expect(sim.account.events.slice(-2).map((e) => e.type)).toEqual(['task_completed', 'task_result_added']);
  });
});
