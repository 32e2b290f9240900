import { violationRef } from '../../../src/rules/disputes/policy.js';
import { incidentText, renderEvent, type RenderContext } from '../../../src/telegram/templates/index.js';

const ctx = (audience: 'department' | 'manager', lead?: RenderContext['lead']): RenderContext => ({
  leadUrl: (id) => `https://agency.amocrm.ru/leads/detail/${id}`,
  userName: (id) => (id === 7 ? '<Ёлка & "Ко">' : `user ${id}`),
  userIdByName: (name) => (name === 'Анна' ? 1 : undefined),
  timeZone: 'Europe/Moscow',
  audience,
  ...(lead ? { lead } : {}),
});

describe('Russian templates', () => {
  test('when a lead is missed, then the РОП reads who missed it, who has it now and how many misses, with reassign and pause buttons', () => {
    const r = renderEvent(
      'pickup_missed',
      { leadId: 42, missed: 'Анна', manager: '<Ёлка & "Ко">', misses: 2, timeout: '15 мин' },
      ctx('department'),
    )!;
    expect(r.title).toBe('⚠️ <b>Клиента не взяли в работу вовремя</b>');
    expect(r.line).toBe('Анна не взял(а) за 15 мин → передан(а): &lt;Ёлка &amp; &quot;Ко&quot;&gt; (пропусков: 2)');
    expect(r.buttons).toEqual([
      [{ text: '🔁 Переназначить', data: 'reassign:42' }],
      [{ text: '⏸ Приостановить приём заявок: Анна', data: 'pause:1' }],
    ]);
  });

  test('when a manager loses a lead they missed, then their message offers «Оспорить» for that violation, unless disputes are off', () => {
    const params = {
      leadId: 42,
      missed: 'Анна',
      manager: 'Борис',
      timeout: '15 мин',
      violationId: 'pickup_missed:42:3',
    };
    const r = renderEvent('pickup_reassigned_away', params, ctx('manager'))!;
    expect(r.line).toBe('вы не взяли за 15 мин; теперь у: Борис');
    expect(r.buttons).toEqual([[{ text: '⚖️ Оспорить', data: `dispute:${violationRef('pickup_missed:42:3')}` }]]);
    const { violationId: _, ...withoutViolation } = params;
    expect(renderEvent('pickup_reassigned_away', withoutViolation, ctx('manager'))!.buttons).toEqual([]);
    const off = { ...ctx('manager'), rules: { disputes: { enabled: false } } as unknown as RenderContext['rules'] };
    expect(renderEvent('pickup_reassigned_away', params, off)!.buttons).toEqual([]);
  });

  test('when a violation is rendered, then it says what, who, the rule and seed point, since when', () => {
    const r = renderEvent(
      'violation',
      {
        type: 'meeting_skipped',
        rule: 'R8',
        seed: 'seed 001 «Встреча состоялась»',
        leadId: 3,
        userId: 7,
        since: '2026-03-03T07:05:00Z',
      },
      ctx('department'),
    )!;
    expect(r.title).toBe('⚠️ <b>Нарушение: пропущен этап «Встреча состоялась»</b>');
    expect(r.line).toBe(
      'зафиксировано; менеджер: &lt;Ёлка &amp; &quot;Ко&quot;&gt;; правило R8, seed 001 «Встреча состоялась»; с 3 марта 10:05',
    );
  });

  test('when an incident message is composed, then the title, the escaped client, the link and the timeline in local time', () => {
    const r = renderEvent(
      'lead_assigned',
      { leadId: 9, manager: 'Анна', deadline: '3 марта 12:15', timeout: '15 мин' },
      ctx('manager', { name: '<Ёлка & "Ко">', source: 'Циан' }),
    )!;
    const text = incidentText(
      r,
      9,
      [{ at: Date.parse('2026-03-03T09:00:00Z'), line: r.line }],
      ctx('manager', { name: '<Ёлка & "Ко">', source: 'Циан' }),
    );
    expect(text).toBe(
      [
        '🆕 <b>Новый клиент: возьмите в работу до 3 марта 12:15</b>',
        'Клиент: &lt;Ёлка &amp; &quot;Ко&quot;&gt;',
        'Источник: Циан',
        '<a href="https://agency.amocrm.ru/leads/detail/9">Сделка №9 в amoCRM</a>',
        '',
        '• 12:00 — назначен(а) Анна; срок 15 мин, до 3 марта 12:15',
      ].join('\n'),
    );
  });

  test('when an incident has more events than fit in 4096 characters, then the oldest are summarised', () => {
    const r = renderEvent('pickup_taken', { leadId: 9, manager: 'Анна' }, ctx('department'))!;
    const timeline = Array.from({ length: 200 }, (_, i) => ({
      at: Date.parse('2026-03-03T09:00:00Z') + i * 60_000,
      line: `событие ${i} ${'x'.repeat(20)}`,
    }));
    const text = incidentText(r, 9, timeline, ctx('department'));
    expect(text.length).toBeLessThanOrEqual(4096);
    expect(text).toMatch(/… и ещё \d+ более ранних событий/);
    expect(text.endsWith(`событие 199 ${'x'.repeat(20)}`)).toBe(true);
  });
});
