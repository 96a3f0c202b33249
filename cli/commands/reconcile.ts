import { SQSClient } from '@aws-sdk/client-sqs';
import { type Command, Option } from 'commander';
import { InvalidInputError } from '../../functions/pipeline/errors.ts';
import { consoleLog, silentLog } from '../../functions/pipeline/ports.ts';
import { lakeAlertSink } from '../../functions/reconcile/alert-sinks.ts';
import { sqsDlqProbe } from '../../functions/reconcile/dlq-probe.ts';
import { reconcile } from '../../functions/reconcile/reconcile.ts';
import type { ReconciliationRun } from '../../functions/reconcile/run-record.ts';
import {
  MAX_TREND_DAYS,
  type ReconciliationTrend,
  reconciliationTrend,
} from '../../functions/reconcile/trend.ts';
import { deviationThreshold, reconcileLookbackDays } from '../../functions/settings/settings.ts';
import { cliEnv, lakeOption, openCliStore, settingOption, tzOption } from '../cli-env.ts';

const INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})$/;

function parseNow(value: string): Date {
  const parsed = new Date(value);
  if (!INSTANT.test(value) || Number.isNaN(parsed.getTime())) {
    throw new InvalidInputError(
      `--now must be an ISO-8601 instant with a zone (2026-11-21T03:00:00Z), got "${value}"`,
      'now',
    );
  }
  return parsed;
}

function wholeNumber(flag: string, min: number, max: number) {
  return (value: string) => {
    if (!/^\d{1,3}$/.test(value) || Number(value) < min || Number(value) > max) {
      throw new InvalidInputError(
        `${flag} must be a whole number ${min}..${max}, got "${value}"`,
        flag.slice(2),
      );
    }
    return Number(value);
  };
}

const percent = (ratio: string | null) =>
  ratio === null ? 'n/a (batch 0)' : `${(Number(ratio) * 100).toFixed(2)} %`;

/** A readable summary of a run: per day totals and deviating hours, corrections, alerts. */
export function formatRun(run: ReconciliationRun, key: string, location: string): string {
  const lines = [
    `reconciliation ${run.run_id} as of ${run.now} (threshold ${percent(run.threshold)}): ${run.status.toUpperCase()}`,
    `max deviation before corrections ${percent(run.max_abs_deviation.before)}, after ${percent(run.max_abs_deviation.after)}`,
  ];
  for (const day of run.days) {
    const t = day.after.totals;
    lines.push(
      '',
      `${day.day}  batch ${t.batch.orders} orders, ${t.batch.units} units, ${t.batch.revenue}` +
        `  realtime ${t.realtime.orders} orders, ${t.realtime.units} units, ${t.realtime.revenue}`,
      `  deviation orders ${percent(t.deviation.orders)}, units ${percent(t.deviation.units)}, revenue ${percent(t.deviation.revenue)}` +
        ` (day max ${percent(day.before.max_abs_deviation)} before, ${percent(day.after.max_abs_deviation)} after)`,
    );
    for (const hour of day.after.hours.filter((h) => Number(h.max_abs_deviation) !== 0)) {
      lines.push(
        `  hour ${hour.hour}: orders ${hour.realtime.orders}/${hour.batch.orders} (${percent(hour.deviation.orders)}),` +
          ` revenue ${hour.realtime.revenue}/${hour.batch.revenue} (${percent(hour.deviation.revenue)})`,
      );
    }
    for (const product of day.after.products.slice(0, 5)) {
      lines.push(`  product ${product.product_id}: max deviation ${percent(product.max_abs_deviation)}`);
    }
    lines.push(`  why: ${day.explanation.summary}`);
  }
  for (const skipped of run.skipped_days) lines.push(`${skipped.day}  skipped: ${skipped.reason}`);
  if (run.corrections.length > 0) {
    lines.push('', 'corrections:');
    for (const c of run.corrections) {
      lines.push(
        `  ${c.kind} ${c.day}${'hour' in c ? ` hour ${c.hour}` : ''}${'hours' in c ? ` hours ${c.hours.join(', ')}` : ''}: ${c.status} — ${c.reason}; ${c.detail}`,
      );
    }
  }
  if (run.alerts.length > 0) {
    lines.push('', 'alerts:');
    for (const a of run.alerts) lines.push(`  ${a.alert_id}: ${a.message}`);
  }
  lines.push('', `record ${key} (lake ${location})`);
  return lines.join('\n');
}

/** A readable trend: one line per run. */
export function formatTrend(trend: ReconciliationTrend): string {
  if (trend.runs.length === 0) return `no reconciliation runs since ${trend.since}`;
  const lines = [
    `reconciliation runs since ${trend.since}:`,
    'now                       status     before      after       corrections alerts',
  ];
  for (const run of trend.runs) {
    lines.push(
      `${run.now.padEnd(25)} ${run.status.padEnd(10)} ${percent(run.max_abs_deviation.before).padEnd(11)} ` +
        `${percent(run.max_abs_deviation.after).padEnd(11)} ${String(run.corrections).padEnd(11)} ${run.alerts}`,
    );
  }
  return lines.join('\n');
}

export function register(program: Command): void {
  const command = program
    .command('reconcile')
    .description('compare batch and realtime views, correct what changed or is missing, alert on deviation')
    .option('--now <ISO>', 'logical time of the run (default: the current time)')
    .addOption(settingOption(reconcileLookbackDays))
    .addOption(settingOption(deviationThreshold))
    .option(
      '--dlq-url <url>',
      'orders DLQ whose depth explains missing orders (default: reported as unknown)',
    )
    .option('--json', 'print the run record as JSON', false)
    .option('--verbose', 'structured logs on stderr', false)
    .addOption(lakeOption())
    .addOption(tzOption())
    .action(async (options) => {
      const store = openCliStore(options.lake);
      const dlq = options.dlqUrl
        ? sqsDlqProbe(new SQSClient({ endpoint: cliEnv.sqsEndpoint, region: cliEnv.region }), options.dlqUrl)
        : undefined;
      const { record, key } = await reconcile(
        {
          now: options.now === undefined ? new Date() : parseNow(options.now),
          lookbackDays: options.lookbackDays,
          threshold: options.threshold,
        },
        {
          store,
          clock: () => new Date(),
          log: options.verbose ? consoleLog : silentLog,
          timeZone: options.tz,
          // Locally an alert is a file the dashboard reads plus a log line on stderr.
          alerts: lakeAlertSink(store, consoleLog),
          ...(dlq ? { dlq } : {}),
        },
      );
      console.log(options.json ? JSON.stringify(record, null, 2) : formatRun(record, key, store.location));
    });

  command
    .command('trend')
    .description('the recent reconciliation runs (what GET /reconciliation?days=N returns)')
    .addOption(
      new Option('--days <n>', 'days of runs to show')
        .default(7)
        .argParser(wholeNumber('--days', 1, MAX_TREND_DAYS)),
    )
    .option('--now <ISO>', 'the last day to show (default: today)')
    .option('--json', 'print the trend as JSON', false)
    .addOption(lakeOption())
    .addOption(tzOption())
    .action(async (options, trend: Command) => {
      // Flags `reconcile` also has (--lake, --json, --now) may have been parsed by it: take them from there too.
      const pick = (name: string): unknown =>
        trend.getOptionValueSource(name) === 'cli'
          ? options[name]
          : (trend.parent?.opts()[name] ?? options[name]);
      const store = openCliStore(String(pick('lake')));
      const now = pick('now');
      const result = await reconciliationTrend(store, {
        days: options.days,
        timeZone: String(pick('tz')),
        ...(now === undefined ? {} : { now: parseNow(String(now)) }),
      });
      console.log(pick('json') ? JSON.stringify(result, null, 2) : formatTrend(result));
    });
}
