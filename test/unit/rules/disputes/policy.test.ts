import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { compileDisputes, DisputesSchema } from '../../../../src/rules/disputes/config.js';
import {
  checkDecision,
  checkDispute,
  countViolations,
  decisionOverdue,
  violationRef,
  type LedgerEntry,
  type ViolationState,
} from '../../../../src/rules/disputes/policy.js';
import { disputeTexts } from '../../../../src/rules/disputes/texts.js';

const cfg = compileDisputes(DisputesSchema.parse({ disputeWithin: 'PT12H', decideWithin: 'P1D' }));
const AT = Date.parse('2026-12-01T10:00:00Z');
const entry = (state: ViolationState, extra: Partial<LedgerEntry> = {}): LedgerEntry => ({
  ref: 'x',
  id: 'handoff_stale:1:2',
  state,
  rule: 'R4',
  type: 'handoff_stale',
  leadId: 1,
  userId: 7,
  department: 'Отдел 1',
  at: new Date(AT).toISOString(),
  reason: 'r',
  history: [],
  ...extra,
});

describe('violation disputes: who may contest and decide, and when', () => {
  it('when the manager contests within the time, then it is allowed; after it, by someone else or twice, refused', () => {
    expect(checkDispute(entry('open'), 7, cfg, AT + 12 * 3600_000)).toEqual({
      ok: true,
      deadlineMs: AT + 12 * 3600_000,
    });
    expect(checkDispute(entry('open'), 7, cfg, AT + 12 * 3600_000 + 1)).toMatchObject({ ok: false, why: 'late' });
    expect(checkDispute(entry('open'), 8, cfg, AT)).toMatchObject({ ok: false, why: 'not_yours' });
    expect(checkDispute(entry('open', { userId: undefined }), 7, cfg, AT)).toMatchObject({ why: 'not_yours' });
    for (const s of ['disputed', 'upheld', 'withdrawn', 'cured'] as const)
      expect(checkDispute(entry(s), 7, cfg, AT)).toMatchObject({ ok: false, why: 'not_open' });
    expect(checkDispute(entry('open'), 7, { ...cfg, enabled: false }, AT)).toMatchObject({ why: 'disabled' });
  });

  it('when someone decides, then only a head of the violation’s department may, never the manager it is about', () => {
    expect(checkDecision(entry('disputed'), 1, ['Отдел 1'])).toEqual({ ok: true });
    expect(checkDecision(entry('disputed'), 1, ['Отдел 2'])).toEqual({ ok: false, why: 'not_head' });
    // A head of the department whose own violation it is still may not decide it.
    expect(checkDecision(entry('disputed'), 7, ['Отдел 1'])).toEqual({ ok: false, why: 'own' });
    expect(checkDecision(entry('open'), 1, ['Отдел 1'])).toEqual({ ok: false, why: 'not_disputed' });
    expect(checkDecision(entry('withdrawn'), 1, ['Отдел 1'])).toEqual({ ok: false, why: 'not_disputed' });
  });

  it('when a dispute waits longer than decideWithin, then it is overdue; a decided one never is', () => {
    const disputed = entry('disputed', {
      history: [{ state: 'disputed', at: new Date(AT).toISOString(), by: 'a', via: 'telegram', note: 'n' }],
    });
    expect(decisionOverdue(disputed, cfg, AT + 24 * 3600_000)).toBe(false);
    expect(decisionOverdue(disputed, cfg, AT + 24 * 3600_000 + 1)).toBe(true);
    expect(decisionOverdue({ ...disputed, state: 'upheld' }, cfg, AT + 48 * 3600_000)).toBe(false);
  });

  it('when counted, then withdrawn violations are out of the count and contested ones are shown', () => {
    expect(countViolations(['open', 'disputed', 'upheld', 'withdrawn', 'cured', 'withdrawn'])).toEqual({
      counted: 4,
      disputed: 4,
      withdrawn: 2,
    });
  });

  it('when refs are made, then they are 16 hex digits, the same for the same id and different for different ids', () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), (a, b) => {
        expect(violationRef(a)).toMatch(/^[0-9a-f]{16}$/);
        expect(violationRef(a)).toBe(violationRef(a));
        if (a !== b) expect(violationRef(a)).not.toBe(violationRef(b));
      }),
    );
  });

  it('when refused late, then the text names the configured time, not a default', () => {
    expect(disputeTexts.refused('late', cfg, '01.12.2026 22:00')).toBe(
      'Срок оспаривания истёк 01.12.2026 22:00: нарушение можно оспорить в течение 12 ч после того, как оно записано.',
    );
    expect(disputeTexts.digestWaiting(3, 1, cfg)).toBe('⚖️ Споры ждут решения: 3, из них дольше 1 день: 1');
  });
});
