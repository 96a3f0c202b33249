/**
 * `npm run bench` — every benchmark in sequence, each in its own process (a fresh DuckDB and heap, so one
 * figure's memory never skews the next), then one table on stdout and `bench/results.json`: each figure with the
 * command that reproduces it, its parameters, the measured value and the targets (the user's spec and ours).
 * Numbers are reported, not asserted: a benchmark is not a timed test.
 *
 *   npx tsx bench/run-all.ts [--quick] [--only batch,stream,e2e,query,consistency,datasets,clicks,kafka,…]
 *
 * --only takes step names or their tags: alerts (alert-latency: an inventory movement → its low_stock alert open
 * in GET /alerts on twinflow start; e2e picks it too); datasets (orders next to the stock_moves fixture and clicks,
 * same generator, alternately); clicks (its three steps: e2e-clicks — events/s through ingest-clicks and event →
 * visible in /metrics/funnel_minute on twinflow start; query-clicks — a day of funnel_minute and sessions_minute
 * over HTTP; clicks-sessions — the realtime-vs-batch sessions bound); e2e, query and consistency also pick their
 * clicks step; kafka (kafka-ingest: orders through twinflow start --ingest sqs, then --ingest kafka, same
 * settings — event → visible p50/p99 and a burst's events/s per path, Kafka ÷ SQS; e2e picks it too; skipped, not
 * failed, without kcat); stream picks speed-100x too (8 consumers at their maximum against the local S3, batches
 * of 100 and 10,000, compaction folding the day or in tiers; 3 × 2 minutes, quick 3 × 20 s).
 * --quick: CI-sized (no 10M batch, 10 s sustained stream, 20 s of e2e latency, 5 alert crossings instead of 20, a
 * smaller query lake and 3 first-call samples over HTTP; for clicks 10 s of latency and a 2,000-click burst, a
 * 30k-click day to query, a 20k-click day of sessions compacted every 2 hours; for kafka-ingest 10 s of latency
 * and a 2,000-order burst per path, about 90 s). Query figures: GET /sales (and
 * /metrics/<model>) over HTTP on the local runtime (adapter, worker, local S3: what `npm start` serves), then the
 * core in process (its share).
 * Progress and each benchmark's own output go to stderr; stdout carries only the final table.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const RESULTS = path.join(ROOT, 'bench', 'results');

interface Step {
  name: string;
  /** Other names `--only` selects the step by. */
  tags?: string[];
  script: string;
  args: string[];
  /** The JSON file the script writes. */
  output: string;
}

/** One row of the table: what was measured, how, and against which targets. */
export interface Figure {
  area: string;
  figure: string;
  measured: string;
  userSpec: string;
  ours: string;
  command: string;
  parameters: Record<string, unknown>;
  /** The raw number behind `measured` (ms, events/s or percent), for trend tooling. */
  value: number | null;
  unit: string;
  /** Why the benchmark did not measure (e.g. a tool it needs is not installed): not a failure of the run. */
  skipped?: string;
}

function steps(quick: boolean): Step[] {
  const out = (file: string) => path.join('bench', 'results', file);
  return [
    {
      name: 'batch',
      script: 'bench/batch.ts',
      args: ['--orders', quick ? '100000,1000000' : '100000,1000000,10000000', '--out', out('batch.json')],
      output: out('batch.json'),
    },
    {
      name: 'stream',
      script: 'bench/stream-handler.ts',
      args: ['--seconds', quick ? '10' : '60'],
      output: out('stream.json'),
    },
    {
      name: 'e2e',
      script: 'bench/e2e-latency.ts',
      args: ['--rate', '10', '--seconds', quick ? '20' : '60'],
      output: out('e2e-latency.json'),
    },
    {
      name: 'alert-latency',
      tags: ['e2e', 'alerts'],
      script: 'bench/alert-latency.ts',
      args: ['--samples', quick ? '5' : '20', '--out', out('alert-latency.json')],
      output: out('alert-latency.json'),
    },
    {
      name: 'query',
      script: 'bench/query.ts',
      args: [
        ...(quick
          ? ['--orders-per-day', '10000', '--runs', '50', '--first-runs', '10', '--http-first-runs', '3']
          : []),
        '--out',
        out('query.json'),
      ],
      output: out('query.json'),
    },
    {
      name: 'consistency',
      script: 'bench/consistency.ts',
      args: ['--orders', quick ? '20000' : '100000', '--out', out('consistency.json')],
      output: out('consistency.json'),
    },
    {
      name: 'datasets',
      script: 'bench/datasets.ts',
      args: ['--events', quick ? '100000' : '1000000', '--runs', '3', '--out', out('datasets.json')],
      output: out('datasets.json'),
    },
    {
      name: 'e2e-clicks',
      tags: ['e2e', 'clicks'],
      script: 'bench/e2e-latency.ts',
      args: [
        ...['--dataset', 'clicks', '--rate', '50', '--seconds', quick ? '10' : '45'],
        ...['--burst', quick ? '2000' : '10000', '--out', out('e2e-latency-clicks.json')],
      ],
      output: out('e2e-latency-clicks.json'),
    },
    {
      name: 'kafka-ingest',
      tags: ['e2e', 'kafka'],
      script: 'bench/kafka-ingest.ts',
      args: [
        ...['--rate', '10', '--seconds', quick ? '10' : '45', '--burst', quick ? '2000' : '10000'],
        ...['--out', out('kafka-ingest.json')],
      ],
      output: out('kafka-ingest.json'),
    },
    {
      name: 'fan-out',
      tags: ['batch'],
      script: 'bench/fan-out.ts',
      args: quick
        ? [
            '--orders',
            '200000',
            '--files',
            '8',
            '--workers',
            '1,2',
            '--buckets',
            '4',
            '--out',
            out('fan-out.json'),
          ]
        : [
            '--orders',
            '20000000',
            '--files',
            '40',
            '--workers',
            '1,2,4',
            '--buckets',
            '16',
            '--out',
            out('fan-out.json'),
          ],
      output: out('fan-out.json'),
    },
    {
      name: 'speed-100x',
      tags: ['stream'],
      script: 'bench/speed-100x.ts',
      args: [
        ...['--consumers', '8', '--seconds', quick ? '20' : '120', '--compact-every', quick ? '5' : '10'],
        ...['--fold-every', quick ? '10' : '60', '--out', out('speed-100x.json')],
      ],
      output: out('speed-100x.json'),
    },
    {
      name: 'batch-vs-duckdb',
      tags: ['batch'],
      script: 'bench/batch-vs-duckdb.ts',
      args: ['--orders', quick ? '1000000' : '1000000,10000000', '--out', out('batch-vs-duckdb.json')],
      output: out('batch-vs-duckdb.json'),
    },
    {
      name: 'cli-replay',
      tags: ['cli', 'replay'],
      script: 'bench/cli-replay.ts',
      args: [
        ...[
          '--runs',
          quick ? '5' : '10',
          '--orders',
          quick ? '100000' : '1000000',
          '--small-orders',
          quick ? '5000' : '20000',
        ],
        ...['--out', out('cli-replay.json')],
      ],
      output: out('cli-replay.json'),
    },
    {
      name: 'query-clicks',
      tags: ['query', 'clicks'],
      script: 'bench/query.ts',
      args: [
        '--dataset',
        'clicks',
        ...(quick
          ? ['--events-per-day', '30000', '--runs', '20', '--first-runs', '3', '--http-first-runs', '1']
          : ['--events-per-day', '200000', '--runs', '100', '--first-runs', '10', '--http-first-runs', '3']),
        '--out',
        out('query-clicks.json'),
      ],
      output: out('query-clicks.json'),
    },
    {
      name: 'clicks-sessions',
      tags: ['consistency', 'clicks'],
      script: 'bench/clicks-sessions.ts',
      args: [
        ...['--events-per-day', quick ? '20000' : '100000', '--compact-every', quick ? '120' : '60'],
        ...['--out', out('clicks-sessions.json')],
      ],
      output: out('clicks-sessions.json'),
    },
  ];
}

const commandOf = (step: Step) => `npx tsx ${step.script} ${step.args.join(' ')}`.trim();

/** Runs one benchmark script with tsx in a child process; its stdout and stderr go to our stderr. */
function run(step: Step): Promise<{ code: number | null; ms: number }> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', step.script, ...step.args], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.pipe(process.stderr, { end: false });
    child.stderr.pipe(process.stderr, { end: false });
    child.on('exit', (code) => resolve({ code, ms: performance.now() - t0 }));
  });
}

const round = (value: number, places = 0) => Number(value.toFixed(places));
const ms = (value: number) => (value >= 10_000 ? `${round(value / 1000, 1)} s` : `${round(value, 1)} ms`);
const rate = (value: number, what: string) => `${Math.round(value).toLocaleString('en-US')} ${what}/s`;

// The result shapes below are the benchmark scripts' JSON files, read loosely: a renamed field shows as "n/a".
type Json = Record<string, unknown>;
const num = (value: unknown): number => (typeof value === 'number' ? value : Number.NaN);
const obj = (value: unknown): Json => (value && typeof value === 'object' ? (value as Json) : {});

function batchFigures(result: Json, command: string): Figure[] {
  const figures = (result['figures'] as Json[] | undefined) ?? [];
  return figures.map((f) => {
    const orders = num(f['orders']);
    const endToEnd = num(f['endToEndMs']);
    return {
      area: 'batch',
      figure: `${orders.toLocaleString('en-US')} orders, one day → views (end to end)`,
      measured: `${ms(endToEnd)} · ${rate(num(f['ordersPerSecond']), 'orders')} · ${f['overheadRatio']}× raw DuckDB (${ms(num(f['rawDuckdbMs']))})`,
      userSpec: orders === 100_000 ? '< 5 min' : '—',
      ours: orders === 100_000 ? '< 2 s' : orders === 10_000_000 ? '< 60 s' : '—',
      command: String(f['command'] ?? command),
      parameters: { orders, store: 'local directory lake' },
      value: endToEnd,
      unit: 'ms',
    };
  });
}

function streamFigures(result: Json, command: string): Figure[] {
  const handler = obj(result['handler']);
  const figures: Figure[] = Object.entries(handler).map(([size, h]) => {
    const r = obj(h);
    return {
      area: 'speed',
      figure: `ingest-orders handler, ${Number(size).toLocaleString('en-US')}-event micro-batch (warm median)`,
      measured: `${ms(num(r['warmMedianMs']))} · ${rate(num(r['eventsPerSecond']), 'events')} (first ${ms(num(r['coldMs']))})`,
      userSpec: '—',
      ours: 'thousands of events/s',
      command,
      parameters: { events: Number(size), runs: r['runs'] },
      value: num(r['warmMedianMs']),
      unit: 'ms',
    };
  });
  const sustained = obj(result['sustained']);
  if (Object.keys(sustained).length > 0) {
    figures.push({
      area: 'speed',
      figure: 'sustained through local-aws-sqs + consumer core',
      measured: `${rate(num(sustained['eventsPerSecond']), 'events')} over ${sustained['seconds']} s (${num(sustained['consumed']).toLocaleString('en-US')} events, batch size ${sustained['batchSize']})`,
      userSpec: '10–100 events/s',
      ours: 'thousands of events/s',
      command,
      parameters: { seconds: sustained['seconds'], batchSize: sustained['batchSize'] },
      value: num(sustained['eventsPerSecond']),
      unit: 'events/s',
    });
  }
  return figures;
}

function e2eFigures(result: Json, command: string): Figure[] {
  const latency = obj(result['latencyMs']);
  const window = Number(result['batchingWindow']);
  const dataset = String(result['dataset'] ?? 'orders');
  const route = String(result['route'] ?? 'GET /sales');
  const figures: Figure[] = [
    {
      area: 'speed',
      figure: `event → queryable in ${route} (twinflow start, ${result['rate']} ${dataset}/s, ${window} s batching window)`,
      measured: `p50 ${ms(num(latency['p50']))} · p99 ${ms(num(latency['p99']))} · max ${ms(num(latency['max']))} (${result['visible']}/${result['counted'] ?? result['sent']} visible)`,
      userSpec: '< 10 s',
      ours: `p99 < window + 1 s = ${window + 1} s`,
      command,
      parameters: { dataset, rate: result['rate'], seconds: result['seconds'], batchingWindow: window },
      value: num(latency['p99']),
      unit: 'ms',
    },
  ];
  const burst = obj(result['burst']);
  if (Object.keys(burst).length > 0) {
    const invocation = obj(burst['invocationMs']);
    figures.push({
      area: 'speed',
      figure: `ingest-${dataset} on twinflow start: ${num(burst['events']).toLocaleString('en-US')} events at once (batch ${result['batchSize']}, concurrency ${result['maxConcurrency']})`,
      measured:
        `${rate(num(burst['eventsPerSecond']), 'events')} overall, ${rate(num(burst['drainEventsPerSecond']), 'events')} draining ` +
        `(${burst['invocations']} invocations, p50 ${ms(num(invocation['p50']))})`,
      userSpec: '10–100 events/s',
      ours: 'thousands of events/s',
      command,
      parameters: {
        dataset,
        events: burst['events'],
        batchSize: result['batchSize'],
        maxConcurrency: result['maxConcurrency'],
      },
      value: num(burst['eventsPerSecond']),
      unit: 'events/s',
    });
  }
  return figures;
}

/** The SQS path and the Kafka path of one run, side by side: latency, then the burst's events/s, with Kafka ÷ SQS. */
function kafkaIngestFigures(result: Json, command: string): Figure[] {
  const window = Number(result['batchingWindow']);
  if (typeof result['skipped'] === 'string') {
    return [
      {
        area: 'speed',
        figure: 'orders through the Kafka path next to the SQS path (twinflow start --ingest kafka)',
        measured: `skipped: ${result['skipped']}`,
        userSpec: '—',
        ours: '—',
        command,
        parameters: {},
        value: null,
        unit: '',
        skipped: String(result['skipped']),
      },
    ];
  }
  const paths = obj(result['paths']);
  const ratios = obj(result['kafkaOverSqs']);
  const versus = (name: string, key: string, what: string) =>
    name === 'kafka' && typeof ratios[key] === 'number' ? ` — ${ratios[key]}× sqs ${what}` : '';
  const figures: Figure[] = [];
  for (const name of ['sqs', 'kafka']) {
    const p = obj(paths[name]);
    const latency = obj(p['latencyMs']);
    const batch = obj(p['batchSize']);
    figures.push({
      area: 'speed',
      figure: `${name} path: order → queryable in GET /sales (twinflow start --ingest ${name}, ${result['rate']} orders/s, ${window} s batching window)`,
      measured:
        `p50 ${ms(num(latency['p50']))} · p99 ${ms(num(latency['p99']))} · max ${ms(num(latency['max']))} ` +
        `(${p['visible']}/${p['sent']} visible, ${p['invocations']} invocations of mean ${batch['mean']})` +
        versus(name, 'latencyP99', 'p99'),
      userSpec: '< 10 s',
      ours: `p99 < window + 1 s = ${window + 1} s`,
      command,
      parameters: {
        ingest: name,
        rate: result['rate'],
        seconds: result['seconds'],
        batchingWindow: window,
        batchSize: result['batchSize'],
        ...(p['partitions'] !== undefined ? { partitions: p['partitions'] } : {}),
      },
      value: num(latency['p99']),
      unit: 'ms',
    });
  }
  for (const name of ['sqs', 'kafka']) {
    const p = obj(paths[name]);
    const burst = obj(p['burst']);
    if (Object.keys(burst).length === 0) continue;
    figures.push({
      area: 'speed',
      figure: `${name} path: ingest-orders, ${num(burst['events']).toLocaleString('en-US')} orders at once (batch ${result['batchSize']}, concurrency ${result['maxConcurrency']}${p['partitions'] !== undefined ? `, ${p['partitions']} partitions` : ''})`,
      measured:
        `${rate(num(burst['eventsPerSecond']), 'events')} overall, ${rate(num(burst['drainEventsPerSecond']), 'events')} draining ` +
        `(${burst['invocations']} invocations, p50 ${ms(num(obj(burst['invocationMs'])['p50']))})` +
        versus(name, 'eventsPerSecond', 'events/s'),
      userSpec: '10–100 events/s',
      ours: 'thousands of events/s',
      command,
      parameters: {
        ingest: name,
        events: burst['events'],
        batchSize: result['batchSize'],
        maxConcurrency: result['maxConcurrency'],
      },
      value: num(burst['eventsPerSecond']),
      unit: 'events/s',
    });
  }
  return figures;
}

function alertFigures(result: Json, command: string): Figure[] {
  const latency = obj(result['latencyMs']);
  const breakdown = obj(result['breakdownMs']);
  const p50Of = (part: string) => ms(num(obj(breakdown[part])['p50']));
  const window = Number(result['batchingWindow']);
  return [
    {
      area: 'speed',
      figure: `inventory movement → low_stock alert open in GET /alerts (twinflow start, ${window} s batching window)`,
      measured:
        `p50 ${ms(num(latency['p50']))} · p99 ${ms(num(latency['p99']))} · max ${ms(num(latency['max']))} ` +
        `(${result['samples']} samples; invocation p50 ${p50Of('ingestInvocation')}, evaluation ${p50Of('evaluation')})`,
      userSpec: '—',
      ours: `p99 < window + 1 s = ${window + 1} s`,
      command,
      parameters: {
        dataset: 'inventory',
        rule: result['rule'],
        samples: result['samples'],
        batchingWindow: window,
      },
      value: num(latency['p99']),
      unit: 'ms',
    },
  ];
}

/** The query figures each dataset's bench reports: its case names, and the route they ask. */
const QUERY_PICKS: Record<
  string,
  { route: string; picks: { name: string; userSpec: string; ours: string }[] }
> = {
  orders: {
    route: 'GET /sales',
    picks: [
      { name: '1 day, batch, by hour', userSpec: '< 100 ms', ours: 'p95 < 20 ms warm' },
      { name: '1 day, today (realtime), by hour', userSpec: '< 100 ms', ours: 'p95 < 20 ms warm' },
      { name: '30 days (29 batch + today), by hour', userSpec: '—', ours: '—' },
    ],
  },
  clicks: {
    route: 'GET /metrics/',
    picks: [
      'funnel_minute 1 day, batch, by hour',
      'funnel_minute 1 day, today (realtime), by hour',
      'sessions_minute 1 day, batch, by hour',
      'sessions_minute 1 day, today (realtime), by hour',
    ].map((name) => ({ name, userSpec: '< 100 ms', ours: 'p95 < 20 ms warm' })),
  },
};

function queryFigures(result: Json, command: string): Figure[] {
  const lake = obj(result['lake']);
  const http = obj(result['http']);
  const dataset = String(result['dataset'] ?? 'orders');
  const { route, picks: pick } = QUERY_PICKS[dataset] ?? { route: '?', picks: [] };
  const perDay = lake['ordersPerDay'] ?? lake['eventsPerDay'];
  // Over HTTP first (what the spec's "query" means: GET /sales on the local runtime), then the core alone.
  const sources = [
    {
      cases: (http['results'] as Json[] | undefined) ?? [],
      how:
        http['lake'] === 'dir'
          ? 'over HTTP, twinflow start adapter + worker, lake dir'
          : 'over HTTP, twinflow start adapter + worker + local S3',
      parameters: { transport: 'http', lake: http['lake'] },
    },
    {
      cases: (result['results'] as Json[] | undefined) ?? [],
      how: `${dataset === 'orders' ? 'querySales' : 'queryMetric'} in process`,
      parameters: { transport: 'in process' },
    },
  ];
  const figures: Figure[] = [];
  for (const source of sources) {
    for (const p of pick) {
      const found = source.cases.find((c) => c['name'] === p.name);
      if (!found) continue;
      const warm = obj(found['warm']);
      const first = obj(found['first']);
      figures.push({
        area: 'query',
        figure: `${route}${route.endsWith('/') ? '' : ' '}${p.name} (${source.how})`,
        measured: `warm p50 ${ms(num(warm['p50']))} · p95 ${ms(num(warm['p95']))}; first call p50 ${ms(num(first['p50']))} · p95 ${ms(num(first['p95']))}`,
        userSpec: p.userSpec,
        ours: p.ours,
        command: String(result['command'] ?? command),
        parameters: {
          ...source.parameters,
          dataset,
          [dataset === 'orders' ? 'ordersPerDay' : 'eventsPerDay']: perDay,
          warmRuns: warm['n'],
          firstRuns: first['n'],
        },
        value: num(warm['p95']),
        unit: 'ms',
      });
    }
  }
  const coldStart = obj(http['coldStart']);
  // The same container whatever the dataset: reported once, with the orders figures.
  if (dataset === 'orders' && Object.keys(coldStart).length > 0) {
    figures.push({
      area: 'query',
      figure:
        'query-sales container cold start on twinflow start (new worker, modules, DuckDB, 1 small query)',
      measured: `p50 ${ms(num(coldStart['p50']))} · p95 ${ms(num(coldStart['p95']))} (n=${coldStart['n']})`,
      userSpec: '—',
      ours: '—',
      command: String(result['command'] ?? command),
      parameters: { transport: 'http', lake: http['lake'], samples: coldStart['n'] },
      value: num(coldStart['p95']),
      unit: 'ms',
    });
  }
  return figures;
}

function consistencyFigures(result: Json, command: string): Figure[] {
  const f = obj(result['figure']);
  const before = obj(f['beforeCompaction']);
  return [
    {
      area: 'consistency',
      figure: 'batch vs realtime, replayed day (shuffled, redelivered, producer retries, late)',
      measured:
        `${num(f['revenueDeviationPct']).toFixed(2)} % revenue, ${num(f['ordersDeviationPct']).toFixed(2)} % orders; ` +
        `${f['rowsDiffering']}/${f['rowsCompared']} minute×product rows differ ` +
        `(before compaction: ${num(before['ordersDeviationPct']).toFixed(2)} % orders)`,
      userSpec: '< 5 %',
      ours: '0.00 %',
      command: String(f['command'] ?? command),
      parameters: {
        orders: f['orders'],
        messages: f['messages'],
        redeliveries: f['redeliveries'],
        producerRetries: f['producerRetries'],
        lateArrivals: f['lateArrivals'],
        batchSize: f['batchSize'],
      },
      value: num(f['revenueDeviationPct']),
      unit: '%',
    },
  ];
}

function datasetFigures(result: Json, command: string): Figure[] {
  const figures = (result['figures'] as Json[] | undefined) ?? [];
  const ratiosOf = (dataset: unknown) => obj(obj(result['ratios'])[String(dataset)]);
  return figures.map((f) => {
    const batch = obj(f['batch']);
    const handler = obj(f['handler']);
    const isOther = f['dataset'] !== 'orders';
    const ratios = ratiosOf(f['dataset']);
    return {
      area: 'datasets',
      figure: `${f['dataset']}: ${num(batch['events']).toLocaleString('en-US')} generated events → batch views; handler 1k / 10k`,
      measured:
        `batch ${ms(num(batch['medianMs']))} · handler ${ms(num(obj(handler['1000'])['medianMs']))} / ${ms(num(obj(handler['10000'])['medianMs']))}` +
        (isOther ? ` (${ratios['batch']}× / ${ratios['handler1k']}× / ${ratios['handler10k']}× orders)` : ''),
      userSpec: '—',
      ours: isOther ? 'same engine, same order of magnitude as orders' : '—',
      command: String(result['command'] ?? command),
      parameters: { dataset: f['dataset'], events: batch['events'], runs: result['runs'] },
      value: num(batch['medianMs']),
      unit: 'ms',
    };
  });
}

function clicksSessionsFigures(result: Json, command: string): Figure[] {
  const f = obj(result['figure']);
  const measures = ['sessions', 'bounced_sessions', 'converted_sessions', 'unique_users'];
  const signed = (v: unknown) => `${num(v) > 0 ? '+' : ''}${num(v).toFixed(2)} %`;
  const each = (c: Json) => measures.map((m) => `${m.replace('_sessions', '')} ${signed(c[m])}`).join(', ');
  const inFlight = obj(f['inFlightFrom06MaxAbsPct']);
  const last = obj(obj(f['inFlightLast'])['differencePct']);
  const atRest = obj(obj(f['atRest'])['differencePct']);
  const before = obj(obj(f['beforeCompaction'])['realtime']);
  const row = (figure: string, measured: string, userSpec: string, ours: string, value: unknown): Figure => ({
    area: 'consistency',
    figure,
    measured,
    userSpec,
    ours,
    command: String(f['command'] ?? command),
    parameters: {
      eventsPerDay: f['eventsPerDay'],
      batchSize: f['batchSize'],
      compactEveryMinutes: f['compactEveryMinutes'],
    },
    value: num(value),
    unit: '%',
  });
  return [
    row(
      `clicks sessions_minute realtime vs batch, in flight (compactions every ${f['compactEveryMinutes']} min, day so far)`,
      `max |Δ| from 06:00: ${measures.map((m) => `${m.replace('_sessions', '')} ${num(inFlight[m]).toFixed(2)} %`).join(', ')}; at 23:00: ${each(last)}`,
      'a documented bound',
      'open sessions only (bounce, conversion) + late events',
      inFlight['sessions'],
    ),
    row(
      'clicks sessions_minute realtime vs batch, whole day at rest (neighbours compacted)',
      `${each(atRest)} (before compaction: ${before['sessions']} sessions)`,
      '< 5 %',
      '0.00 %',
      atRest['sessions'],
    ),
  ];
}

function cliReplayFigures(result: Json, command: string): Figure[] {
  const cli = obj(result['cli']);
  const replay = obj(result['replay']);
  const big = obj(replay['default']);
  const small = obj(replay['batchesOf100']);
  return [
    {
      area: 'cli',
      figure: '`node cli/twinflow.js --help`, compiled CLI (median) vs through tsx',
      measured: `${cli['compiledMs']} ms (tsx: ${cli['tsxMs']} ms, ${round(num(cli['tsxMs']) / num(cli['compiledMs']), 1)}×)`,
      userSpec: '—',
      ours: '< 300 ms',
      command,
      parameters: { runs: cli['runs'] },
      value: num(cli['compiledMs']),
      unit: 'ms',
    },
    {
      area: 'speed',
      figure: `replay: a generated day file of ${big['orders']} orders through \`twinflow replay\` (default batch size), compaction included`,
      measured: `${big['seconds']} s, ${big['eventsPerSecond']} events/s (batches of 100: ${small['eventsPerSecond']} events/s; ${replay['speedup']}×)`,
      userSpec: '—',
      ours: '1M orders < 60 s',
      command,
      parameters: { orders: big['orders'], smallOrders: small['orders'] },
      value: num(big['seconds']),
      unit: 's',
    },
  ];
}

function batchVsDuckdbFigures(result: Json, command: string): Figure[] {
  return ((result['figures'] as Json[] | undefined) ?? []).flatMap((f) => {
    const engines = (f['engines'] as Json | undefined) ?? {};
    const raw = (engines['duckdb'] as Json | undefined) ?? {};
    const others: [string, string][] = [
      ['polars', 'Polars (nodejs-polars)'],
      ['pandas', 'pandas (Python subprocess)'],
    ];
    return [
      {
        area: 'batch',
        figure: `${f['orders']} CSV orders: Twinflow batch vs raw DuckDB doing the same job (validate, dedupe, minute + daily facts, Parquet)`,
        measured: `${ms(num(f['twinflowMs']))} vs ${ms(num(f['rawDuckdbMs']))}: ${f['ratio']}×${f['cpuRatio'] === undefined ? '' : ` (CPU time ${f['cpuRatio']}×)`} (Twinflow ${JSON.stringify(f['twinflowDurationsMs'])})`,
        userSpec: '—',
        ours: '≤ 1.5× raw DuckDB',
        command,
        parameters: { orders: f['orders'] },
        value: num(f['ratio']),
        unit: '×',
      },
      ...others.map(([engine, name]): Figure => {
        const e = (engines[engine] as Json | undefined) ?? {};
        const base = {
          area: 'batch',
          figure: `${f['orders']} CSV orders: ${name} doing the same job vs raw DuckDB`,
          userSpec: '—',
          ours: 'a reference (own process each, wall clock)',
          command,
          parameters: { orders: f['orders'], engine },
          unit: '×',
        };
        if (typeof e['unavailable'] === 'string' || e['ms'] === undefined) {
          const why = String(e['unavailable'] ?? 'not measured');
          return { ...base, measured: `skipped: ${why}`, value: null, skipped: why };
        }
        return {
          ...base,
          measured: `${ms(num(e['ms']))} vs ${ms(num(raw['ms']))}: ${e['ratioToRawDuckdb']}×${e['agrees'] ? '' : ' (DISAGREES with raw DuckDB)'}`,
          value: num(e['ratioToRawDuckdb']),
        };
      }),
    ];
  });
}

function speed100xFigures(result: Json, command: string): Figure[] {
  return ((result['runs'] as Json[] | undefined) ?? []).map((r) => {
    const c = (r['compaction'] as Json | undefined) ?? {};
    const q = (r['query'] as Json | undefined) ?? {};
    return {
      area: 'speed',
      figure: `speed layer at 100×: ${result['consumers']} consumers at their maximum for ${result['seconds']} s, batches of ${r['batchSize']}, compaction ${r['mode'] === 'tiers' ? 'in tiers' : 'folding the day'}`,
      measured: `${r['eventsPerSecond']} events/s, ${r['partialsPerHour']} partials/hour; compaction ${c['msFirstHalfMean']} → ${c['msSecondHalfMean']} ms (folds ${c['folds']}, mean ${c['foldMsMean']} ms; roll-ups ${c['rollUps']}, mean ${c['rollUpMsMean']} ms); realtime /sales p95 ${q['p95']} ms (≤ ${q['maxPartials']} open partials)`,
      userSpec: '—',
      ours: 'compaction time and query cost bounded as the rate grows',
      command,
      parameters: { consumers: result['consumers'], batchSize: r['batchSize'], mode: r['mode'] },
      value: num(r['eventsPerSecond']),
      unit: 'events/s',
    };
  });
}

function fanOutFigures(result: Json, command: string): Figure[] {
  const one = (result['oneFunction'] as Json | undefined) ?? {};
  const base = { orders: result['orders'], files: result['files'], buckets: result['buckets'] };
  return [
    {
      area: 'batch',
      figure: `fan-out: a day of ${result['orders']} orders in ${result['files']} files in one function`,
      measured: `${ms(num(one['ms']))}, peak RSS ${one['peakRssMb']} MB`,
      userSpec: '—',
      ours: 'the baseline of the fan-out runs',
      command,
      parameters: base,
      value: num(one['ms']),
      unit: 'ms',
    },
    ...((result['runs'] as Json[] | undefined) ?? []).map((r) => ({
      area: 'batch',
      figure: `fan-out: the same day on ${r['workers']} concurrent worker(s) (map by file, reduce by key bucket, merge)`,
      measured: `${ms(num(r['totalMs']))} (map ${ms(num(r['mapMs']))} + reduce ${ms(num(r['reduceMs']))} + merge ${ms(num(r['mergeMs']))}), worker peak RSS ${r['workerPeakRssMb']} MB, merge ${r['mergePeakRssMb']} MB${r['mergePeakTmpMb'] !== undefined ? ` (temp dir ${r['mergePeakTmpMb']} MB)` : ''}, ${r['exact'] ? 'exact' : `NOT exact (${r['differentRows']} rows differ)`}`,
      userSpec: '—',
      ours: 'exact against one function; per-worker memory bounded by the largest file / bucket',
      command,
      parameters: { ...base, workers: r['workers'] },
      value: num(r['totalMs']),
      unit: 'ms',
    })),
  ];
}

const FIGURES: Record<string, (result: Json, command: string) => Figure[]> = {
  'fan-out': fanOutFigures,
  'speed-100x': speed100xFigures,
  'batch-vs-duckdb': batchVsDuckdbFigures,
  'cli-replay': cliReplayFigures,
  datasets: datasetFigures,
  batch: batchFigures,
  stream: streamFigures,
  e2e: e2eFigures,
  'alert-latency': alertFigures,
  query: queryFigures,
  consistency: consistencyFigures,
  'e2e-clicks': e2eFigures,
  'kafka-ingest': kafkaIngestFigures,
  'query-clicks': queryFigures,
  'clicks-sessions': clicksSessionsFigures,
};

function printTable(figures: readonly Figure[]): void {
  const columns: [keyof Figure, string][] = [
    ['area', 'area'],
    ['figure', 'figure'],
    ['measured', 'measured'],
    ['userSpec', 'user spec'],
    ['ours', 'ours'],
  ];
  const widths = columns.map(([key, title]) =>
    Math.max(title.length, ...figures.map((f) => String(f[key]).length)),
  );
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join(' │ ');
  console.log(line(columns.map(([, title]) => title)));
  console.log(widths.map((w) => '─'.repeat(w)).join('─┼─'));
  for (const f of figures) console.log(line(columns.map(([key]) => String(f[key]))));
  console.log('\ncommands:');
  for (const command of new Set(figures.map((f) => f.command))) console.log(`  ${command}`);
}

async function main() {
  const { values } = parseArgs({
    options: { quick: { type: 'boolean', default: false }, only: { type: 'string' } },
  });
  const quick = values.quick ?? false;
  const only = values.only ? new Set(values.only.split(',')) : undefined;
  mkdirSync(RESULTS, { recursive: true });
  const t0 = performance.now();
  const figures: Figure[] = [];
  const runs: Record<string, { command: string; exitCode: number | null; seconds: number; result?: Json }> =
    {};
  const selected = (step: Step) => !only || [step.name, ...(step.tags ?? [])].some((name) => only.has(name));
  for (const step of steps(quick).filter(selected)) {
    const command = commandOf(step);
    console.error(`\n▶ ${step.name}: ${command}`);
    const output = path.join(ROOT, step.output);
    const before = existsSync(output) ? readFileSync(output, 'utf8') : undefined;
    const { code, ms: took } = await run(step);
    const after = existsSync(output) ? readFileSync(output, 'utf8') : undefined;
    // A failed run may leave an older result behind: only a file this run wrote counts.
    const result =
      code === 0 && after !== undefined && after !== before ? (JSON.parse(after) as Json) : undefined;
    runs[step.name] = {
      command,
      exitCode: code,
      seconds: round(took / 1000, 1),
      ...(result ? { result } : {}),
    };
    if (!result) {
      figures.push({
        area: step.name,
        figure: 'benchmark did not complete',
        measured: `exit code ${code}`,
        userSpec: '—',
        ours: '—',
        command,
        parameters: {},
        value: null,
        unit: '',
      });
      continue;
    }
    figures.push(...(FIGURES[step.name]?.(result, command) ?? []));
  }
  const totalSeconds = round((performance.now() - t0) / 1000, 1);
  const report = {
    measuredAt: new Date().toISOString(),
    mode: quick ? 'quick' : 'full',
    command: `npx tsx bench/run-all.ts${quick ? ' --quick' : ''}`,
    totalSeconds,
    machine: {
      cpus: os.cpus().length,
      cpu: os.cpus()[0]?.model,
      memoryGb: round(os.totalmem() / 2 ** 30, 1),
      node: process.version,
      // Other work on the machine skews percentiles; recorded so numbers can be compared honestly.
      loadAverage1m: round(os.loadavg()[0] ?? 0, 2),
    },
    figures,
    runs,
  };
  writeFileSync(path.join(ROOT, 'bench', 'results.json'), `${JSON.stringify(report, null, 2)}\n`);
  console.log(
    `\nTwinflow benchmarks (${report.mode}, ${totalSeconds} s, ${report.machine.cpus} CPUs, ${process.version})\n`,
  );
  printTable(figures);
  console.log('\nwrote bench/results.json');
  if (figures.some((f) => f.value === null && !f.skipped)) process.exitCode = 1;
}

await main();
