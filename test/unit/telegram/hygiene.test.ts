import { parseShift } from '../../../src/config/compile.js';
import { alertKey, groupBurst, quietUntil, type Queued } from '../../../src/telegram/hygiene.js';
import type { OutboxEntry } from '../../../src/store/outbox.js';

const MSK = 'Europe/Moscow'; // UTC+3, no daylight saving

describe('quiet hours', () => {
  const night = parseShift('21:00-09:00');
  test.each([
    ['2026-03-03T19:30:00Z', '22:30 the evening before', '2026-03-04T06:00:00.000Z'],
    ['2026-03-03T22:00:00Z', '01:00 after midnight', '2026-03-04T06:00:00.000Z'],
    ['2026-03-04T05:59:00Z', '08:59', '2026-03-04T06:00:00.000Z'],
    ['2026-03-04T06:00:00Z', '09:00, the end', undefined],
    ['2026-03-04T09:00:00Z', '12:00', undefined],
    ['2026-03-04T17:59:00Z', '20:59', undefined],
    ['2026-03-04T18:00:00Z', '21:00, the start', '2026-03-05T06:00:00.000Z'],
  ])('at %s (%s in Moscow), held until %s', (now, _label, until) => {
    const got = quietUntil(night, Date.parse(now), MSK);
    expect(got === undefined ? undefined : new Date(got).toISOString()).toBe(until);
  });

  test('when quiet hours are within a day, then they end the same day', () => {
    const lunch = parseShift('13:00-14:00');
    expect(new Date(quietUntil(lunch, Date.parse('2026-03-04T10:30:00Z'), MSK)!).toISOString()).toBe(
      '2026-03-04T11:00:00.000Z',
    );
    expect(quietUntil(lunch, Date.parse('2026-03-04T11:00:00Z'), MSK)).toBeUndefined();
    expect(quietUntil(undefined, Date.parse('2026-03-04T10:30:00Z'), MSK)).toBeUndefined();
  });
});

const entry = (template: string, params: Record<string, unknown> = {}, leadId?: number): OutboxEntry => ({
  id: `${template}-${String(params.n ?? leadId ?? '')}`,
  at: '2026-03-03T09:00:00Z',
  audience: { kind: 'department', department: 'Отдел продаж 1' },
  template,
  params,
  reason: 'test',
  ...(leadId !== undefined ? { leadId } : {}),
});
const q = (id: string, edits: boolean, template = 'violation'): Queued => ({
  deliveryId: id,
  edits,
  message: entry(template, { n: id }),
});

describe('bursts', () => {
  test('when more new alerts wait than the threshold, then they become one digest in the place of the first; edits and reports stay single', () => {
    const items = [
      q('e1', true),
      q('n1', false),
      q('n2', false),
      q('r1', false, 'report_daily'),
      q('n3', false),
      q('e2', true),
      q('n4', false),
    ];
    const units = groupBurst(items, 3);
    expect(
      units.map((u) =>
        u.kind === 'single' ? u.item.deliveryId : `digest(${u.items.map((i) => i.deliveryId).join(',')})`,
      ),
    ).toEqual(['e1', 'digest(n1,n2,n3,n4)', 'r1', 'e2']);
  });

  test('when the new alerts are at most the threshold, then each goes alone', () => {
    const items = [q('n1', false), q('n2', false), q('n3', false)];
    expect(groupBurst(items, 3).every((u) => u.kind === 'single')).toBe(true);
  });
});

describe('alert window key', () => {
  test('when a violation names a lead and a type, then the key is lead:type; other templates have none', () => {
    expect(alertKey(entry('violation', { type: 'call_overdue' }, 5))).toBe('5:call_overdue');
    expect(alertKey(entry('violation', { type: 'call_overdue', leadId: 6 }))).toBe('6:call_overdue');
    expect(alertKey(entry('pickup_missed', {}, 5))).toBeUndefined();
  });
});
