import { describe, expect, it } from '@jest/globals';
import { expandFormBody, FormBodyError } from '../../src/amocrm/form-body.js';
import { isEmptyWebhook, normalizeWebhook, type NormalizedWebhook } from '../../src/amocrm/webhook-payload.js';
import type { LeadEvent, NoteEvent, TaskEvent, ContactEvent, UnsortedEvent } from '../../src/rules/events.js';
import { loadSample, sampleFiles, type SampleBody } from '../helpers/fixtures.js';

const meta = { deliveryId: 'd1', receivedAt: '2026-01-01T00:00:00.000Z', timeZone: 'Europe/Moscow' };

function parse(sample: SampleBody): NormalizedWebhook {
  const tree =
    sample.contentType === 'application/json' ? (JSON.parse(sample.body) as unknown) : expandFormBody(sample.body);
  return normalizeWebhook(tree, meta);
}

/** Every example of a sample file, parsed; form and JSON encodings of the doc trees must agree. */
function parsedSample(prefix: string): NormalizedWebhook[] {
  const file = sampleFiles().find((f) => f.startsWith(prefix));
  if (file === undefined) throw new Error(`no fixture ${prefix}`);
  const samples = loadSample(file);
  const byIndex = new Map<number, NormalizedWebhook[]>();
  for (const s of samples) byIndex.set(s.index, [...(byIndex.get(s.index) ?? []), parse(s)]);
  return [...byIndex.values()].map((variants) => {
    for (const v of variants.slice(1)) expect(v).toEqual(variants[0]);
    return variants[0] as NormalizedWebhook;
  });
}

const leads = (n: NormalizedWebhook): LeadEvent[] => n.events.filter((e): e is LeadEvent => e.kind === 'lead');

describe('every captured and documented webhook sample parses', () => {
  const parseable = sampleFiles().filter((f) => !f.startsWith('31-') && !f.startsWith('32-'));

  it.each(parseable)('when %s is parsed, then nothing is rejected and the account is known', (file) => {
    for (const sample of loadSample(file)) {
      const n = parse(sample);
      expect(n.rejected).toEqual([]);
      if (!file.includes('-doc-')) expect(n.account?.subdomain).toMatch(/^[a-z0-9-]+$/);
      expect(isEmptyWebhook(n)).toBe(false);
    }
  });

  it('when the 2016 status change (02) is parsed, then ids are numbers and the old stage is kept', () => {
    const [n] = parsedSample('02-');
    expect(n?.account).toEqual({ subdomain: 'test000002' });
    expect(leads(n!)).toEqual([
      expect.objectContaining({
        action: 'status',
        leadId: 31926520,
        statusId: 10216994,
        oldStatusId: 10216995,
        pipelineId: 2116,
        responsibleUserId: 938348,
        modifiedUserId: 102525,
        price: 1000,
        short: false,
        updatedAt: '2016-03-01T08:26:20.000Z',
        customFields: [{ id: 1119321, name: 'Some text field', values: [{ value: 'some text' }] }],
      }),
    ]);
  });

  it('when the update (04) and status (02) of one change are parsed, then they share a dedupe key', () => {
    const [status] = parsedSample('02-');
    const [update] = parsedSample('04-');
    expect(leads(update!)[0]?.action).toBe('update');
    expect(leads(update!)[0]?.dedupeKey).toBe(leads(status!)[0]?.dedupeKey);
  });

  it('when a Digital Pipeline short form (06, 08, 17, 18) is parsed, then it is marked short with its stages', () => {
    const [dp] = parsedSample('06-');
    expect(dp?.account).toEqual({ id: 30307558, subdomain: 'anyor' });
    expect(leads(dp!)[0]).toMatchObject({
      short: true,
      action: 'status',
      leadId: 10754147,
      statusId: 54423922,
      oldStatusId: 54435014,
      oldPipelineId: 6344290,
    });
    expect(leads(dp!)[0]?.responsibleUserId).toBeUndefined();
    for (const prefix of ['08-', '17-', '18-']) expect(leads(parsedSample(prefix)[0]!)[0]?.short).toBe(true);
    expect(leads(parsedSample('18-')[0]!)[0]).toMatchObject({ action: 'add', leadId: 22791302, statusId: 106939423 });
  });

  it('when a full 2025 add (09, 13) is parsed, then timestamps become instants', () => {
    const [n] = parsedSample('09-');
    expect(n?.account).toEqual({ id: 32427762, subdomain: 'etesttask' });
    expect(leads(n!)[0]).toMatchObject({
      action: 'add',
      leadId: 32966269,
      createdAt: '2025-05-26T14:11:09.000Z',
      price: 999,
      createdUserId: 10000698,
    });
    expect(leads(parsedSample('13-')[0]!)[0]).toMatchObject({ name: 'TEST MISHA (SORRY)', leadId: 30052055 });
  });

  it('when custom fields arrive (10, 20), then list, enum and bare-date values are normalised', () => {
    expect(leads(parsedSample('10-')[0]!)[0]?.customFields).toEqual([
      { id: 752009, name: 'Поле1', values: [{ value: '1' }] },
      { id: 752011, name: 'Поле2', values: [{ value: '2' }] },
    ]);
    const fields = leads(parsedSample('20-')[0]!)[0]?.customFields ?? [];
    expect(fields.find((f) => f.name === 'Select')?.values).toEqual([{ value: '2', enum: 908107 }]);
    expect(fields.find((f) => f.name === 'Date')?.values).toEqual([{ value: '1725915600' }]);
  });

  it('when a responsible change (21) is parsed, then old and new responsible are kept', () => {
    expect(leads(parsedSample('21-')[0]!)[0]).toMatchObject({
      action: 'responsible',
      responsibleUserId: 1234567,
      oldResponsibleUserId: 12345673,
    });
  });

  it('when a delete and a restore (15, 22) are parsed, then the delete carries only ids', () => {
    expect(leads(parsedSample('15-')[0]!)[0]).toMatchObject({
      action: 'delete',
      leadId: 30052055,
      statusId: 17944873,
      pipelineId: 936736,
    });
    const [del, restore] = parsedSample('22-');
    expect(leads(del!)[0]?.dedupeKey).toBe('lead:12345678:delete');
    expect(leads(restore!)[0]).toMatchObject({ action: 'restore', leadId: 15317715, responsibleUserId: 12345678 });
  });

  it('when tasks (23-26) are parsed, then completion, result, lead link and local times are read', () => {
    const add = parsedSample('23-')[0]!.events[0] as TaskEvent;
    expect(add).toMatchObject({
      kind: 'task',
      action: 'add',
      taskId: 1564671,
      entityType: 'lead',
      entityId: 15320411,
      taskTypeId: 1,
      isCompleted: false,
      completeTill: '2025-10-02T20:59:00.000Z',
    });
    expect((parsedSample('24-')[0]!.events[0] as TaskEvent).isCompleted).toBe(true);
    expect(parsedSample('25-')[0]!.events[0]).toMatchObject({
      entityType: 'company',
      resultText: 'client responded',
      createdUserId: 0,
    });
    const [responsible, del] = parsedSample('26-');
    expect(responsible!.events[0]).toMatchObject({
      responsibleUserId: 11940747,
      oldResponsibleUserId: 11087123,
      modifiedUserId: 11087123,
    });
    expect(del!.events[0]).toMatchObject({ kind: 'task', action: 'delete', taskId: 1564885 });
  });

  it('when notes on a lead (27) are parsed, then type, author and lead are read', () => {
    const [text, file] = parsedSample('27-');
    expect(text!.events[0] as NoteEvent).toMatchObject({
      kind: 'note',
      entityType: 'lead',
      entityId: 15320411,
      noteId: 4600471,
      noteType: 4,
      text: 'note text',
      createdUserId: 11087123,
    });
    expect((file!.events[0] as NoteEvent).noteType).toBe(5);
  });

  it('when a contact with a radiobutton (28) is parsed, then the object-valued field becomes one value', () => {
    const contact = parsedSample('28-')[0]!.events[0] as ContactEvent;
    expect(contact).toMatchObject({ kind: 'contact', entityType: 'contact', contactId: 17611273 });
    expect(contact.customFields.find((f) => f.name === 'Any radiobutton')?.values).toEqual([
      { value: '2', enum: 566642 },
    ]);
    expect(contact.customFields.find((f) => f.code === 'PHONE')?.values).toEqual([
      { value: '1234567890', enum: 552476 },
    ]);
  });

  it('when a company arrives under contacts (29), then it is a company', () => {
    expect(parsedSample('29-')[0]!.events[0]).toMatchObject({
      kind: 'contact',
      entityType: 'company',
      contactId: 17612521,
    });
  });

  it('when incoming leads are accepted or declined (30), then the decision and lead are read', () => {
    const [accept, decline] = parsedSample('30-');
    expect(accept!.events[0] as UnsortedEvent).toMatchObject({
      kind: 'unsorted',
      action: 'delete',
      decision: 'accept',
      leadId: 15258873,
    });
    expect(decline!.events[0] as UnsortedEvent).toMatchObject({ decision: 'decline', leadId: 15270337 });
  });

  it('when chat messages and talks (33) arrive, then they are listed as ignored, not errors', () => {
    const [message, talk] = parsedSample('33-');
    expect(message).toMatchObject({ events: [], rejected: [], ignored: ['message.add'] });
    expect(talk!.ignored).toEqual(['talk.add']);
  });

  it("when the docs' malformed Digital Pipeline JSON (31) is parsed, then JSON.parse fails cleanly", () => {
    for (const s of loadSample(sampleFiles().find((f) => f.startsWith('31-'))!))
      expect(() => JSON.parse(s.body)).toThrow(SyntaxError);
  });
});

describe('bodies amoCRM sends that the samples do not show', () => {
  it('when a mass action sends 500 stage changes in one body, then 500 events come out in order', () => {
    const parts: string[] = [];
    for (let i = 0; i < 500; i++) {
      parts.push(
        `leads[status][${i}][id]=${1000 + i}`,
        `leads[status][${i}][status_id]=142`,
        `leads[status][${i}][pipeline_id]=1`,
        `leads[status][${i}][last_modified]=1700000000`,
        `leads[status][${i}][modified_user_id]=5`,
      );
    }
    parts.push('account[subdomain]=x');
    const n = normalizeWebhook(expandFormBody(parts.join('&')), meta);
    expect(n.events).toHaveLength(500);
    expect(n.events.map((e) => (e as LeadEvent).leadId)).toEqual(Array.from({ length: 500 }, (_, i) => 1000 + i));
  });

  it('when one item of a body is invalid, then it is rejected with a reason and its neighbours go through', () => {
    const body =
      'leads[status][0][id]=1&leads[status][0][status_id]=2&leads[status][1][id]=abc&leads[status][2][id]=3&account[subdomain]=x';
    const n = normalizeWebhook(expandFormBody(body), meta);
    expect(n.events.map((e) => (e as LeadEvent).leadId)).toEqual([1, 3]);
    expect(n.rejected).toEqual([
      { path: 'leads.status[1]', reason: expect.stringContaining('leadId'), item: expect.anything() },
    ]);
  });

  it('when a lead is changed by the robot, then modifiedUserId is 0', () => {
    const n = normalizeWebhook(
      expandFormBody(
        'leads[update][0][id]=7&leads[update][0][modified_user_id]=0&leads[update][0][last_modified]=1700000000&account[subdomain]=x',
      ),
      meta,
    );
    expect(n.events[0]).toMatchObject({ modifiedUserId: 0, short: false });
  });

  it('when tags are sent, then their names are kept', () => {
    const n = normalizeWebhook(
      expandFormBody(
        'leads[update][0][id]=7&leads[update][0][name]=a&leads[update][0][tags][0][id]=5&leads[update][0][tags][0][name]=СОГЛАСОВАНО+РОПом&account[subdomain]=x',
      ),
      meta,
    );
    expect((n.events[0] as LeadEvent).tags).toEqual([{ id: 5, name: 'СОГЛАСОВАНО РОПом' }]);
  });

  it('when a JSON body carries "__proto__", then it is an ignored key and nothing is polluted', () => {
    const n = normalizeWebhook(
      JSON.parse(
        '{"__proto__":{"polluted":1},"leads":{"add":[{"id":"1","name":"x","__proto__":{"id":"9"}}]},"account":{"subdomain":"x"}}',
      ),
      meta,
    );
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(n.events[0]).toMatchObject({ leadId: 1 });
  });

  it('when the form body breaks a limit, then the error is typed and names it', () => {
    expect(() => expandFormBody('a=1&b=2&c=3', { maxParameters: 2 })).toThrow(FormBodyError);
    expect(() => expandFormBody(`a${'[x]'.repeat(17)}=1`)).toThrow(/deeper than 16/);
    expect(() => expandFormBody('a=%E0%A4%A')).toThrow(/percent-encoding/);
    expect(() => expandFormBody('a=1&a[b]=2')).toThrow(/both a value and a group/);
    expect(() => expandFormBody('a[__proto__][x]=1')).toThrow(/reserved name/);
  });
});
