import { type Command, Option } from 'commander';
import { dataset } from '../../functions/pipeline/datasets.ts';
import { InvalidInputError } from '../../functions/pipeline/errors.ts';
import { revenueText } from '../../functions/pipeline/money.ts';
import { consoleLog, silentLog } from '../../functions/pipeline/ports.ts';
import type { DeviationJson, MeasuresJson } from '../../functions/reconcile/deviation.ts';
import type { ReconciliationRun } from '../../functions/reconcile/run-record.ts';
import {
  MAX_TREND_DAYS,
  type ReconciliationTrend,
  reconciliationTrend,
} from '../../functions/reconcile/trend.ts';
import { servedModel } from '../../functions/serving/metric-model.ts';
import { deviationThreshold, reconcileLookbackDays } from '../../functions/settings/settings.ts';
import { cliEnv, datasetOption, lakeOption, openCliStore, settingOption, tzOption } from '../cli-env.ts';

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
  const model = servedModel(run.model ?? 'sales_minute');
  const ratio = (deviation: DeviationJson, name: string) =>
    percent((deviation[name] ?? null) as string | null);
  const amount = (json: MeasuresJson, name: string) =>
    String(
      json[name] ??
        revenueText({ revenue_by_currency: (json[`${name}_by_currency`] ?? {}) as Record<string, string> }),
    );
  const totals = (json: MeasuresJson) =>
    model.measures
      .map((m) => (m.kind === 'money' ? amount(json, m.name) : `${json[m.name]} ${m.name}`))
      .join(', ');
  // Per hour: the first count or sum measure and the money ones.
  const hourMeasures = model.measures.filter(
    (m, i) => m.kind === 'money' || i === model.measures.findIndex((d) => d.kind !== 'money'),
  );
  if (run.model) lines.splice(1, 0, `model ${run.model} (dataset ${run.dataset})`);
  for (const day of run.days) {
    const t = day.after.totals;
    const dimension = day.after.dimension === undefined ? 'product_id' : day.after.dimension;
    lines.push(
      '',
      `${day.day}  batch ${totals(t.batch)}  realtime ${totals(t.realtime)}`,
      `  deviation ${model.measures.map((m) => `${m.name} ${ratio(t.deviation, m.name)}`).join(', ')}` +
        ` (day max ${percent(day.before.max_abs_deviation)} before, ${percent(day.after.max_abs_deviation)} after)`,
    );
    for (const hour of day.after.hours.filter((h) => Number(h.max_abs_deviation) !== 0)) {
      const parts = hourMeasures.map(
        (m) =>
          `${m.name} ${amount(hour.realtime, m.name)}/${amount(hour.batch, m.name)} (${ratio(hour.deviation, m.name)})`,
      );
      lines.push(`  hour ${hour.hour}: ${parts.join(', ')}`);
    }
    for (const row of dimension ? day.after.products.slice(0, 5) : []) {
      lines.push(
        `  ${(dimension as string).replace(/_id$/, '')} ${String(row[dimension as string])}: max deviation ${percent(row.max_abs_deviation)}`,
      );
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
    .addOption(datasetOption())
    .option(
      '--model <name>',
      "one minute model of the dataset (default: each of the dataset's minute models)",
    )
    .option(
      '--dlq-url <url>',
      "the dataset's DLQ whose depth explains missing events (default: <DATASET>_DLQ_URL, else reported as unknown)",
    )
    .option('--json', 'print the run record as JSON (a list when several models ran)', false)
    .option('--verbose', 'structured logs on stderr', false)
    .addOption(lakeOption())
    .addOption(tzOption())
    .action(async (options) => {
      const [{ lakeAlertSink }, { sqsDlqProbe }, { reconcile }] = await Promise.all([
        import('../../functions/reconcile/alert-sinks.ts'),
        import('../../functions/reconcile/dlq-probe.ts'),
        import('../../functions/reconcile/reconcile.ts'),
      ]);
      const store = await openCliStore(options.lake);
      const ds = dataset(options.dataset);
      const minuteModels = ds.models.filter((m) => m.grain === 'minute').map((m) => m.name);
      if (options.model !== undefined && !minuteModels.includes(options.model)) {
        throw new InvalidInputError(
          `--model: "${String(options.model).slice(0, 64)}" is not a minute model of ${ds.name} (${minuteModels.join(', ')})`,
          'model',
        );
      }
      const dlqUrl = options.dlqUrl ?? process.env[`${ds.name.toUpperCase()}_DLQ_URL`];
      const dlq = dlqUrl
        ? sqsDlqProbe(
            new (await import('@aws-sdk/client-sqs')).SQSClient({
              endpoint: cliEnv.sqsEndpoint,
              region: cliEnv.region,
            }),
            dlqUrl,
          )
        : undefined;
      const now = options.now === undefined ? new Date() : parseNow(options.now);
      const results = [];
      for (const model of options.model === undefined ? minuteModels : [options.model]) {
        results.push(
          await reconcile(
            { now, model, lookbackDays: options.lookbackDays, threshold: options.threshold },
            {
              store,
              clock: () => new Date(),
              log: options.verbose ? consoleLog : silentLog,
              timeZone: options.tz,
              // Locally an alert is a file the dashboard reads plus a log line on stderr.
              alerts: lakeAlertSink(store, consoleLog),
              ...(dlq ? { dlq } : {}),
            },
          ),
        );
      }
      if (options.json) {
        const records = results.map((r) => r.record);
        console.log(JSON.stringify(records.length === 1 ? records[0] : records, null, 2));
        return;
      }
      console.log(results.map(({ record, key }) => formatRun(record, key, store.location)).join('\n\n'));
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
    .option('--model <name>', 'the model whose runs to show', 'sales_minute')
    .option('--json', 'print the trend as JSON', false)
    .addOption(lakeOption())
    .addOption(tzOption())
    .action(async (options, trend: Command) => {
      // Flags `reconcile` also has (--lake, --json, --now) may have been parsed by it: take them from there too.
      const pick = (name: string): unknown =>
        trend.getOptionValueSource(name) === 'cli'
          ? options[name]
          : (trend.parent?.opts()[name] ?? options[name]);
      const store = await openCliStore(String(pick('lake')));
      const now = pick('now');
      const result = await reconciliationTrend(store, {
        days: options.days,
        model: String(pick('model')),
        timeZone: String(pick('tz')),
        ...(now === undefined ? {} : { now: parseNow(String(now)) }),
      });
      console.log(pick('json') ? JSON.stringify(result, null, 2) : formatTrend(result));
    });
}
