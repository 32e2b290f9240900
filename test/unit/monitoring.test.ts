/** The shipped dashboard and alert rules chart and alert on metrics the service really exposes. */
import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { createMetrics } from '../../src/lib/metrics.js';

const names = (text: string): string[] => [
  ...new Set([...text.matchAll(/\bamo_[a-z_]+/g)].map((m) => m[0].replace(/_(bucket|sum|count)$/, ''))),
];

describe('monitoring files', () => {
  const registered = new Set(
    createMetrics({ defaultMetrics: false })
      .registry.getMetricsAsArray()
      .map((m) => m.name),
  );

  it('when the alert rules name a metric, then the service registers it, and each rule has an expression and a summary', () => {
    const text = readFileSync('docs/monitoring/alerts.yml', 'utf8');
    const doc = parse(text) as {
      groups: Array<{ rules: Array<{ alert: string; expr: string; annotations: { summary: string } }> }>;
    };
    const rules = doc.groups.flatMap((g) => g.rules);
    expect(rules.map((r) => r.alert)).toEqual([
      'AmoCrmUnreachable',
      'NoWebhookInWorkingHours',
      'TimerLagHigh',
      'DeadLettersGrowing',
      'OperatorActionNeeded',
    ]);
    for (const r of rules)
      expect([r.alert, r.expr.length > 0, r.annotations.summary.length > 0]).toEqual([r.alert, true, true]);
    expect(names(text).filter((n) => !registered.has(n))).toEqual([]);
  });

  it('when the dashboard charts a metric, then the service registers it', () => {
    const dash = JSON.parse(readFileSync('docs/monitoring/grafana-dashboard.json', 'utf8')) as {
      panels: Array<{ targets: Array<{ expr: string }> }>;
    };
    const exprs = dash.panels.flatMap((p) => p.targets.map((t) => t.expr)).join('\n');
    expect(names(exprs).length).toBeGreaterThanOrEqual(10);
    expect(names(exprs).filter((n) => !registered.has(n))).toEqual([]);
  });
});
