/** R11/R12 reports: what the composition root, the webhook path and the Telegram bot use. */
export { activityPlans, activityRecords, recordLeadActivity } from './activity.js';
export { computeReport, rankDepartment, type DepartmentReport, type ManagerStats, type Ranking } from './compute.js';
export { loadWeightFactors, createRankingStore, type WeightFactor } from './ranking-store.js';
export { createReports, type ReportRequest, type Reports, type ReportsDeps } from './reports.js';
export { dueReports, type DueReport } from './schedule.js';
export { escapeHtml, splitMessage, TELEGRAM_MESSAGE_LIMIT } from './templates.js';
