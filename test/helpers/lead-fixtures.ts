/** Per-lead states as the worker writes them, for the tests of how they are stored. */
import type { LeadState } from '../../src/rules/lead-state.js';
import type { PickupState } from '../../src/rules/types.js';

/** A lead after one stage change by its manager, as the worker folds it (src/rules/lead-state.ts). */
export const leadStateOf = (leadId: number): LeadState => ({
  leadId,
  tags: ['Авито'],
  deleted: false,
  history: [
    { at: '2025-06-07T04:00:13.000Z', statusId: 7100005, pipelineId: 7000001, fromStatusId: 7100004, byUserId: 9101 },
  ],
  updatedAt: '2025-06-07T04:00:13.000Z',
  pipelineId: 7000001,
  statusId: 7100005,
  statusSince: '2025-06-07T04:00:13.000Z',
  responsibleUserId: 9101,
  responsibleSince: '2025-06-07T04:00:13.000Z',
  lastActivityAt: '2025-06-07T04:00:13.000Z',
  lastActivityByUserId: 9101,
});

/** A running pickup clock (src/rules/types.ts). */
export const runningPickupOf = (leadId: number): PickupState => ({
  leadId,
  clock: 1,
  phase: 'running',
  department: 'Отдел продаж 1',
  assignedUserId: 9101,
  assignedAt: 1795635922782,
  deadlineAt: 1795636822782,
  missedUserIds: [],
  misses: 0,
});
