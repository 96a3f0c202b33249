import {
  type AlertsResponse,
  ApiError,
  type BalanceResponse,
  type DiscrepanciesResponse,
  getJson,
  type HealthResponse,
  type LevelJson,
  type OpsSummary,
  type ReconciliationTrend,
  type RuleAlert,
  type SalesResponse,
  type WindowsResponse,
} from './api.ts';
import {
  type BehaviourChartData,
  behaviourChart,
  type Chart,
  type DeviationChartData,
  deviationChart,
  type LayerMarks,
  type ModelChartData,
  modelChart,
  type SalesChartData,
  salesChart,
  setDayZone,
} from './charts.ts';
import {
  chartCurrency,
  formatAge,
  formatCount,
  formatRatio,
  formatRevenue,
  formatSigned,
  formatUtc,
  fromCents,
  toCents,
} from './format.ts';
import {
  bucketStarts,
  DEFAULT_GRANULARITY,
  fitGranularity,
  type Granularity,
  isAllowed,
  type Preset,
  parseLocalInput,
  presetRange,
  type TimeRange,
  toLocalInput,
} from './range.ts';

/** Realtime older than this is shown in the warning colour (the stream's target is seconds). */
const FRESHNESS_WARN_SECONDS = 120;
const LIVE_REFRESH_MS = 5_000;
const RANGE_REFRESH_MS = 30_000;
const OPS_MAX_MS = 31 * 86_400_000;
const TOP_PRODUCTS = 10;
const TREND_DAYS = 7;

interface Selection {
  preset: Preset | 'custom';
  granularity: Granularity;
  custom: TimeRange | undefined;
}

const selection: Selection = { preset: '24h', granularity: DEFAULT_GRANULARITY['24h'], custom: undefined };
const errors = new Map<string, string>();
let sales: Chart<SalesChartData> | undefined;
let deviation: Chart<DeviationChartData> | undefined;
let lastSales: SalesChartData | undefined;
let lateHours: number[] = [];
let rangeSeq = 0;
/** The stage's reporting time zone (GET /health `time_zone`): day buckets and day labels are its days. */
let reportingZone = 'UTC';
let liveBusy = false;

// ---- DOM helpers (text only: product ids and rejection reasons are untrusted input) -----------------------

function byTestId<T extends HTMLElement = HTMLElement>(id: string): T {
  const element = document.querySelector<T>(`[data-testid="${id}"]`);
  if (!element) throw new Error(`missing element ${id}`);
  return element;
}

function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const element = document.getElementById(id) as T | null;
  if (!element) throw new Error(`missing element #${id}`);
  return element;
}

function el(
  tag: string,
  props: { class?: string; testid?: string; title?: string; colspan?: number } = {},
  ...children: (Node | string)[]
): HTMLElement {
  const element = document.createElement(tag);
  if (props.class) element.className = props.class;
  if (props.testid) element.dataset['testid'] = props.testid;
  if (props.title) element.title = props.title;
  if (props.colspan) element.setAttribute('colspan', String(props.colspan));
  element.append(...children);
  return element;
}

function setText(id: string, text: string): void {
  byTestId(id).textContent = text;
}

function stateRow(colspan: number, text: string): HTMLElement {
  return el('tr', {}, el('td', { class: 'state', colspan }, text));
}

// ---- Errors: every failed call is shown until the same call succeeds ------------------------------------------

function renderErrors(): void {
  const banner = byId('errors');
  banner.replaceChildren(
    ...[...errors.values()].map((message) => el('p', {}, el('strong', {}, 'API error '), message)),
  );
  banner.hidden = errors.size === 0;
}

function setError(key: string, error: unknown): void {
  if (error === null) errors.delete(key);
  else errors.set(key, error instanceof Error ? error.message : String(error));
  renderErrors();
}

/** A panel whose first load failed says so instead of "Loading…" forever (the banner says why). */
function markUnavailable(panel: string): void {
  const section = document.querySelector(`[aria-labelledby="${panel}-title"], .card.${panel}`);
  if (!section) return;
  for (const node of Array.from(section.querySelectorAll('.state'))) {
    if (node.textContent?.startsWith('Loading')) node.textContent = 'Unavailable: see the error above';
  }
  for (const node of Array.from(section.querySelectorAll('.value'))) {
    if (node.textContent === '…') node.textContent = '—';
  }
}

async function guarded<T>(key: string, task: () => Promise<T>, panel?: string): Promise<T | undefined> {
  try {
    const result = await task();
    setError(key, null);
    return result;
  } catch (error) {
    setError(key, error);
    if (panel) markUnavailable(panel);
    return undefined;
  }
}

// ---- Range selection ---------------------------------------------------------------------------------------

function currentRange(): TimeRange {
  if (selection.preset === 'custom' && selection.custom) return selection.custom;
  const preset = selection.preset === 'custom' ? '24h' : selection.preset;
  return presetRange(preset, selection.granularity, new Date(), reportingZone);
}

function renderControls(range: TimeRange): void {
  for (const button of Array.from(document.querySelectorAll<HTMLButtonElement>('[data-preset]'))) {
    button.setAttribute('aria-pressed', String(button.dataset['preset'] === selection.preset));
  }
  byId('custom').hidden = selection.preset !== 'custom';
  const select = byId<HTMLSelectElement>('granularity');
  for (const option of Array.from(select.options)) {
    option.disabled = !isAllowed(option.value as Granularity, range);
  }
  select.value = selection.granularity;
}

function isoParam(date: Date): string {
  return date.toISOString().replace('.000Z', 'Z');
}

// ---- Sales over the range --------------------------------------------------------------------------------------

function sourceAt(ms: number, segments: SalesResponse['segments']): 'batch' | 'realtime' | undefined {
  return segments.find((s) => Date.parse(s.start) <= ms && ms < Date.parse(s.end))?.source;
}

type Segments = SalesResponse['segments'];

/** A layered chart's marks for an answer over `starts`: its realtime segments and batch boundary. */
function layerMarks(
  body: { segments: Segments; batch_boundary: string | null },
  starts: number[],
): LayerMarks {
  return {
    x: starts.map((ms) => ms / 1000),
    realtimeSpans: body.segments
      .filter((s) => s.source === 'realtime')
      .map((s) => [Date.parse(s.start) / 1000, Date.parse(s.end) / 1000]),
    boundary: body.batch_boundary ? Date.parse(body.batch_boundary) / 1000 : null,
    bucketSeconds: (starts[1] ?? 0) / 1000 - (starts[0] ?? 0) / 1000,
  };
}

/** Values per bucket as two series, one per layer serving the bucket (null in the other). */
function byLayer(
  starts: number[],
  valueAt: (start: number) => number,
  segments: Segments,
  range: TimeRange,
): { batch: (number | null)[]; realtime: (number | null)[] } {
  const batch: (number | null)[] = [];
  const realtime: (number | null)[] = [];
  for (const start of starts) {
    const value = valueAt(start);
    const source = sourceAt(Math.max(start, range.start.getTime()), segments);
    batch.push(source === 'realtime' ? null : value);
    realtime.push(source === 'realtime' ? value : null);
  }
  return { batch, realtime };
}

function segmentsText(segments: Segments): string {
  return segments.map((s) => `${s.source} ${formatUtc(s.start)} → ${formatUtc(s.end)}`).join('  ·  ');
}

function chartData(body: SalesResponse, range: TimeRange, granularity: Granularity): SalesChartData {
  // One currency per chart: amounts in different currencies cannot share an axis.
  const currency = chartCurrency(body.totals.revenue_by_currency);
  const amountOf = (row: SalesResponse['rows'][number]) =>
    currency === undefined ? 0 : Number(row.revenue_by_currency[currency] ?? 0);
  const revenue = new Map(body.rows.map((row) => [Date.parse(row.window_start), amountOf(row)]));
  const starts = bucketStarts(range, granularity, body.query.tz);
  return {
    ...layerMarks(body, starts),
    ...byLayer(starts, (start) => revenue.get(start) ?? 0, body.segments, range),
    lateHours,
  };
}

function renderSales(body: SalesResponse, range: TimeRange, granularity: Granularity): void {
  setText('total-orders', formatCount(body.totals.orders));
  setText('total-units', formatCount(body.totals.units));
  setText('total-revenue', formatRevenue(body.totals.revenue_by_currency));
  const label = byTestId('range-label');
  label.textContent =
    `${formatUtc(range.start)} → ${formatUtc(range.end)} · by ${granularity}` +
    (granularity === 'day' ? ` (days of ${body.query.tz})` : '');
  label.dataset['tz'] = body.query.tz;
  label.dataset['start'] = range.start.toISOString();
  label.dataset['end'] = range.end.toISOString();
  label.dataset['granularity'] = granularity;
  setText(
    'boundary',
    body.batch_boundary
      ? `batch published up to ${formatUtc(body.batch_boundary)}`
      : 'batch has not published yet',
  );
  setText('segments', segmentsText(body.segments));
  lastSales = chartData(body, range, granularity);
  const container = byId('sales-chart');
  container.dataset['buckets'] = String(lastSales.x.length);
  container.dataset['revenue'] = JSON.stringify(body.totals.revenue_by_currency);
  container.dataset['currency'] = chartCurrency(body.totals.revenue_by_currency) ?? '';
  const empty = body.rows.length === 0;
  if (!sales) {
    container.replaceChildren();
    sales = salesChart(container, lastSales);
  } else {
    sales.update(lastSales);
  }
  container.querySelector('.overlay')?.remove();
  if (empty) container.append(el('p', { class: 'overlay state' }, 'No sales in this range'));
}

function renderTopProducts(body: SalesResponse): void {
  // Ranked by orders: revenue in different currencies has no common order.
  const byProduct = new Map<string, { orders: number; cents: Map<string, bigint> }>();
  for (const row of body.rows) {
    const id = row.product_id ?? '(all)';
    const entry = byProduct.get(id) ?? { orders: 0, cents: new Map<string, bigint>() };
    entry.orders += row.orders;
    for (const [code, amount] of Object.entries(row.revenue_by_currency)) {
      entry.cents.set(code, (entry.cents.get(code) ?? 0n) + toCents(amount));
    }
    byProduct.set(id, entry);
  }
  const top = [...byProduct]
    .sort(([a, x], [b, y]) => y.orders - x.orders || a.localeCompare(b))
    .slice(0, TOP_PRODUCTS);
  const body_ = byTestId('top-products').querySelector('tbody');
  if (!body_) return;
  if (top.length === 0) {
    body_.replaceChildren(stateRow(4, 'No products sold in this range'));
    return;
  }
  const max = top[0]?.[1].orders || 1;
  body_.replaceChildren(
    ...top.map(([id, entry], i) => {
      const bar = el('span', { class: 'bar' });
      bar.style.width = `${Math.max(2, (entry.orders / max) * 100)}%`;
      return el(
        'tr',
        { testid: `top-product-${i}` },
        el('td', { class: 'rank' }, String(i + 1)),
        el('td', { class: 'product' }, el('span', { class: 'pid', testid: `top-product-${i}-id` }, id), bar),
        el('td', { class: 'num' }, formatCount(entry.orders)),
        el(
          'td',
          { class: 'num', testid: `top-product-${i}-revenue` },
          formatRevenue(
            Object.fromEntries([...entry.cents].sort().map(([code, cents]) => [code, fromCents(cents)])),
          ),
        ),
      );
    }),
  );
}

// ---- Operations: quarantine, DLQ, late events ------------------------------------------------------------------

function renderOps(body: OpsSummary): void {
  setText(
    'ops-range',
    `${body.range.days[0] ?? ''} → ${body.range.days.at(-1) ?? ''} (days of ${reportingZone})`,
  );
  setText('quarantine-count', formatCount(body.quarantine.records));
  setText(
    'quarantine-sources',
    Object.entries(body.quarantine.by_source)
      .map(([source, count]) => `${source} ${formatCount(count)}`)
      .join(' · ') || 'nothing rejected',
  );
  const dlq = byTestId('dlq-count');
  dlq.textContent = body.dlq.messages === null ? '—' : formatCount(body.dlq.messages);
  dlq.classList.toggle('bad', (body.dlq.messages ?? 0) > 0);
  setText(
    'dlq-detail',
    body.dlq.as_of
      ? `as of reconciliation ${formatUtc(body.dlq.as_of)}`
      : 'no reconciliation run has reported it',
  );
  byTestId('quarantine-count').classList.toggle('warn', body.quarantine.records > 0);
  setText('late-count', formatCount(body.late.events));

  const reasons = byTestId('reasons');
  const top = body.quarantine.top_reasons;
  const maxCount = top[0]?.count ?? 1;
  reasons.replaceChildren(
    ...(top.length === 0
      ? [el('li', { class: 'state' }, 'No rejected records in these days')]
      : top.map((entry, i) => {
          const bar = el('span', { class: 'bar warnbar' });
          bar.style.width = `${Math.max(2, (entry.count / maxCount) * 100)}%`;
          return el(
            'li',
            { testid: `reason-${i}` },
            el('span', { class: 'reason', title: entry.reason }, entry.reason),
            el('span', { class: 'count' }, formatCount(entry.count)),
            bar,
          );
        })),
  );

  const late = byTestId('late-hours');
  late.replaceChildren(
    ...(body.late.hours.length === 0
      ? [el('li', { class: 'state' }, 'No late events in these days')]
      : body.late.hours.map((hour) =>
          el(
            'li',
            { testid: 'late-hour' },
            el('i', { class: 'sw late' }),
            `${formatUtc(hour.hour_start)} – ${hour.hour_start.slice(11, 13)}:59`,
            el('span', { class: 'count' }, `${formatCount(hour.late)} late`),
          ),
        )),
  );
  // Kafka-ingested datasets: records on the topic the consumer group has not committed, per partition.
  byTestId('kafka-lag-section').hidden = body.kafka_lag.length === 0;
  byTestId('kafka-lag').replaceChildren(
    ...body.kafka_lag.map((doc) =>
      el(
        'li',
        {
          testid: `kafka-lag-${doc.dataset}`,
          title: `group ${doc.group}, measured ${formatUtc(doc.measured_at)}`,
        },
        `${doc.dataset} · ${doc.topic}`,
        el('span', { class: `count${doc.total > 0 ? ' warn' : ''}` }, `${formatCount(doc.total)} behind`),
        el(
          'span',
          { class: 'meta' },
          doc.partitions.map((p) => `p${p.partition} ${formatCount(p.lag)}`).join(' · '),
        ),
      ),
    ),
  );
  lateHours = body.late.hours.map((hour) => Date.parse(hour.hour_start) / 1000);
  if (sales && lastSales) {
    lastSales = { ...lastSales, lateHours };
    sales.update(lastSales);
  }
}

// ---- Reconciliation ---------------------------------------------------------------------------------------------

function percent(fraction: string | null | undefined): number {
  const value = Number(fraction ?? 0);
  return Number.isFinite(value) ? value * 100 : 0;
}

function renderReconciliationUnavailable(reason: string): void {
  setText('deviation-latest', '—');
  setText('deviation-detail', '');
  setText('deviation-threshold', '—');
  setText('recon-meta', 'reconciliation not available');
  deviation?.destroy();
  deviation = undefined;
  byId('deviation-chart').replaceChildren(
    el('p', { class: 'state', testid: 'recon-unavailable' }, `Reconciliation not available: ${reason}`),
  );
  byTestId('alerts').replaceChildren(el('li', { class: 'state' }, 'No alerts to show'));
}

function renderReconciliation(trend: ReconciliationTrend): void {
  setText('recon-meta', `last ${trend.days} days · ${trend.runs.length} runs`);
  const latest = trend.latest;
  const container = byId('deviation-chart');
  if (!latest || trend.runs.length === 0) {
    setText('deviation-latest', '—');
    setText('deviation-detail', 'no reconciliation run yet');
    setText('deviation-threshold', '—');
    deviation?.destroy();
    deviation = undefined;
    container.replaceChildren(el('p', { class: 'state' }, 'No reconciliation runs in these days'));
    byTestId('alerts').replaceChildren(el('li', { class: 'state' }, 'No alerts'));
    return;
  }
  const latestValue = byTestId('deviation-latest');
  latestValue.textContent = formatRatio(latest.max_abs_deviation.after);
  latestValue.classList.toggle('bad', percent(latest.max_abs_deviation.after) > percent(latest.threshold));
  setText(
    'deviation-detail',
    `${latest.status} · run ${formatUtc(latest.now)} · before corrections ${formatRatio(latest.max_abs_deviation.before)}`,
  );
  setText('deviation-threshold', formatRatio(latest.threshold));
  const data = {
    x: trend.runs.map((run) => Date.parse(run.now) / 1000),
    after: trend.runs.map((run) => percent(run.max_abs_deviation.after)),
    before: trend.runs.map((run) => percent(run.max_abs_deviation.before)),
    threshold: percent(latest.threshold),
  };
  if (!deviation) {
    container.replaceChildren();
    deviation = deviationChart(container, data);
  } else {
    deviation.update(data);
  }
  const alertCount = trend.runs.reduce((sum, run) => sum + run.alerts, 0);
  const alerts = byTestId('alerts');
  const items = latest.alerts.map((alert) =>
    el(
      'li',
      { testid: 'alert', class: 'alert' },
      el('span', { class: 'badge bad' }, formatRatio(alert.max_abs_deviation)),
      el(
        'span',
        {},
        [alert.where.day, alert.where.hour && `hour ${alert.where.hour}`, alert.where.product_id]
          .filter(Boolean)
          .join(' · '),
      ),
      el('span', { class: 'msg' }, alert.message),
    ),
  );
  alerts.replaceChildren(
    ...(items.length > 0 ? items : [el('li', { class: 'state' }, 'No alerts in the latest run')]),
    ...(alertCount > items.length
      ? [el('li', { class: 'state' }, `${alertCount} alerts in the last ${trend.days} days`)]
      : []),
  );
}

// ---- Live panels: windows and freshness, every 5 s ---------------------------------------------------------------

function renderWindows(body: WindowsResponse): void {
  const table = byTestId('windows');
  table.dataset['at'] = body.at;
  const tbody = table.querySelector('tbody');
  if (!tbody) return;
  tbody.replaceChildren(
    ...body.windows.map((w) =>
      el(
        'tr',
        { testid: `window-${w.minutes}` },
        el('td', {}, `${w.minutes} min`),
        el('td', { class: 'num', testid: `window-${w.minutes}-orders` }, formatCount(w.orders)),
        el('td', { class: 'num', testid: `window-${w.minutes}-units` }, formatCount(w.units)),
        el(
          'td',
          { class: 'num', testid: `window-${w.minutes}-revenue` },
          formatRevenue(w.revenue_by_currency),
        ),
      ),
    ),
  );
  setText('windows-updated', `updated ${formatUtc(body.generated_at, true)}`);
}

function renderFreshness(body: HealthResponse): void {
  if (body.time_zone !== reportingZone) {
    reportingZone = body.time_zone;
    setDayZone(reportingZone);
  }
  const card = byId('freshness-card');
  const value = byTestId('freshness');
  if (!body.realtime_freshness) {
    value.textContent = 'no data';
    setText('freshness-detail', 'no realtime events today or yesterday');
    card.dataset['state'] = 'stale';
    return;
  }
  // Server clock on both sides: a skewed laptop clock cannot fake a stale or a fresh stream.
  const ageSeconds = (Date.parse(body.generated_at) - Date.parse(body.realtime_freshness)) / 1000;
  value.textContent = formatAge(ageSeconds);
  value.dataset['seconds'] = String(Math.round(ageSeconds));
  card.dataset['state'] = ageSeconds > FRESHNESS_WARN_SECONDS ? 'warn' : 'ok';
  setText(
    'freshness-detail',
    `newest event minute ${formatUtc(body.realtime_freshness)} · warns past ${FRESHNESS_WARN_SECONDS} s`,
  );
}

async function refreshLive(): Promise<void> {
  if (liveBusy) return;
  liveBusy = true;
  try {
    await Promise.all([
      guarded(
        'windows',
        async () => renderWindows(await getJson<WindowsResponse>('sales/windows')),
        'windows',
      ),
      guarded('health', async () => renderFreshness(await getJson<HealthResponse>('health')), 'kpis'),
      guarded('trending', refreshTrending, 'behaviour'),
      guarded('stock', refreshStock, 'stock'),
    ]);
  } finally {
    liveBusy = false;
  }
}

// ---- Stock: levels vs reorder points, open alerts, count discrepancies (every 5 s) ---------------------------------

/** The balance the panel shows (inventory's); the panel shows only when the API serves `GET /<balance>`. */
const STOCK = {
  balance: 'stock',
  value: 'on_hand',
  threshold: 'reorder_point',
  measure: 'net_change',
} as const;
const STOCK_ROWS = 15;
const DISCREPANCY_ROWS = 10;

/** Unknown until the first answer; `absent` when the deployment has no such route (then never asked again). */
let stockRoute: 'unknown' | 'served' | 'absent' = 'unknown';

function numberOr(value: unknown, fallback: number): number {
  return typeof value === 'number' && Number.isFinite(value) ? value : fallback;
}

/** The level against its point: a bar filled to on_hand on a scale of twice the point, the point marked. */
function stockGauge(onHand: number, point: number | null): HTMLElement {
  if (point === null) return el('span', { class: 'meta' }, 'no point');
  const scale = Math.max(point * 2, onHand, 1);
  const gauge = el('span', {
    class: 'gauge',
    title: `${formatCount(onHand)} on hand · point ${formatCount(point)}`,
  });
  const fill = el('span', { class: 'fill' });
  fill.style.width = `${Math.min(100, Math.max(0, (onHand / scale) * 100))}%`;
  const mark = el('span', { class: 'mark' });
  mark.style.left = `${(point / scale) * 100}%`;
  gauge.append(fill, mark);
  return gauge;
}

/** "counted 2026-11-20 04:00 UTC: 10" then "−6 since · batch −3 · realtime −3" (the layers the movements came from). */
function sinceCount(level: LevelJson): HTMLElement {
  const opening = level.opening;
  const counted =
    opening.source === null || opening.at === null
      ? 'never counted: 0'
      : `${opening.source === 'batch_close' ? 'batch close' : 'counted'} ${formatUtc(opening.at)}: ${formatCount(numberOr(opening[STOCK.value], 0))}`;
  const bySource = new Map<string, number>();
  for (const segment of level.movements.segments) {
    bySource.set(segment.source, (bySource.get(segment.source) ?? 0) + numberOr(segment[STOCK.measure], 0));
  }
  const layers = [...bySource]
    .filter(([, change]) => change !== 0)
    .map(([source, change]) => `${source} ${formatSigned(change)}`);
  const net = formatSigned(numberOr(level.movements[STOCK.measure], 0));
  return el(
    'td',
    { class: 'since' },
    el('span', {}, counted),
    el('span', { class: 'meta' }, [`${net} since`, ...layers].join(' · ')),
  );
}

function renderStockLevels(body: BalanceResponse): void {
  const levels = body.levels;
  const below = levels.filter((level) => level['below_threshold'] === true).length;
  const withPoint = levels.filter((level) => typeof level[STOCK.threshold] === 'number').length;
  const summary = byTestId('stock-summary');
  summary.textContent =
    levels.length === 0
      ? 'no stock counted or moved yet'
      : `${formatCount(below)} of ${formatCount(levels.length)} below reorder point` +
        (withPoint < levels.length ? ` (${formatCount(withPoint)} have one)` : '') +
        ` · as of ${formatUtc(body.as_of, true)}`;
  summary.classList.toggle('bad', below > 0);
  const table = byTestId('stock-levels');
  table.dataset['below'] = String(below);
  table.dataset['levels'] = String(levels.length);
  const tbody = table.querySelector('tbody');
  if (!tbody) return;
  if (levels.length === 0) {
    tbody.replaceChildren(stateRow(6, 'No stock levels yet: nothing counted or moved'));
    return;
  }
  // The API lists the levels below their point first, most below first.
  tbody.replaceChildren(
    ...levels.slice(0, STOCK_ROWS).map((level, i) => {
      const onHand = numberOr(level[STOCK.value], 0);
      const point = typeof level[STOCK.threshold] === 'number' ? (level[STOCK.threshold] as number) : null;
      const low = level['below_threshold'] === true;
      const row = el(
        'tr',
        { testid: `stock-${i}`, class: low ? 'low' : '' },
        el('td', {}, el('span', { class: 'pid', testid: `stock-${i}-product` }, String(level['product_id']))),
        el('td', { testid: `stock-${i}-warehouse` }, String(level['warehouse_id'])),
        el('td', { class: 'num', testid: `stock-${i}-on-hand` }, formatCount(onHand)),
        el('td', { class: 'num', testid: `stock-${i}-point` }, point === null ? '—' : formatCount(point)),
        el('td', { class: 'gauge-cell' }, stockGauge(onHand, point)),
        sinceCount(level),
      );
      row.dataset['below'] = String(low);
      return row;
    }),
    ...(levels.length > STOCK_ROWS
      ? [stateRow(6, `${formatCount(levels.length - STOCK_ROWS)} more levels: twinflow stock lists them all`)]
      : []),
  );
}

/** The key an alert was raised for: its dimension values. */
function alertKey(alert: RuleAlert): string {
  return Object.entries(alert.where)
    .filter(([name]) => name !== 'day')
    .map(([, value]) => value)
    .join(' · ');
}

function renderStockAlerts(body: AlertsResponse): void {
  const rules = body.rules.length;
  setText(
    'stock-alert-rules',
    `${formatCount(rules)} rule${rules === 1 ? '' : 's'} declared` +
      (rules > 0
        ? ` (${body.rules.map((r) => `${r.name}: ${r.watches} ${r.condition} ${r.threshold}`).join(', ')})`
        : ''),
  );
  const recentResolved = body.recent.filter(
    (a) => a['kind'] === 'rule' && typeof a['resolved_at'] === 'string',
  );
  const table = byTestId('stock-alerts');
  table.dataset['open'] = String(body.open.length);
  const tbody = table.querySelector('tbody');
  if (!tbody) return;
  const now = Date.parse(body.generated_at);
  tbody.replaceChildren(
    ...(body.open.length === 0
      ? [stateRow(5, 'No open alerts')]
      : body.open.map((alert, i) =>
          el(
            'tr',
            { testid: `stock-alert-${i}`, class: 'low', title: alert.message },
            el('td', {}, alert.rule),
            el('td', { testid: `stock-alert-${i}-key` }, el('span', { class: 'pid' }, alertKey(alert))),
            el(
              'td',
              { class: 'num', testid: `stock-alert-${i}-value` },
              `${formatCount(alert.value)} ${alert.condition === 'below' ? '<' : '>'} ${formatCount(alert.threshold)}`,
            ),
            el('td', { class: 'num', testid: `stock-alert-${i}-raised` }, formatUtc(alert.raised_at)),
            el(
              'td',
              { class: 'num', testid: `stock-alert-${i}-age` },
              formatAge((now - Date.parse(alert.raised_at)) / 1000),
            ),
          ),
        )),
  );
  setText(
    'stock-alerts-resolved',
    recentResolved.length > 0 ? `${formatCount(recentResolved.length)} resolved since yesterday` : '',
  );
}

function renderDiscrepancies(body: DiscrepanciesResponse): void {
  const summary = byTestId('discrepancy-summary');
  summary.textContent =
    body.day === ''
      ? 'no count day compared yet'
      : `day ${body.day}: ${formatCount(body.mismatched)} of ${formatCount(body.counts)} counts differ, ` +
        `net ${formatSigned(body.net_discrepancy)} units`;
  const table = byTestId('discrepancies');
  table.dataset['day'] = body.day;
  const tbody = table.querySelector('tbody');
  if (!tbody) return;
  const rows = body.rows.filter((row) => row.discrepancy !== 0);
  tbody.replaceChildren(
    ...(rows.length === 0
      ? [
          stateRow(
            5,
            body.day === '' ? 'No counts compared with the books yet' : 'Every count matched the books',
          ),
        ]
      : rows.map((row, i) =>
          el(
            'tr',
            { testid: `discrepancy-${i}`, title: `counted ${formatUtc(row.counted_at, true)}` },
            el(
              'td',
              {},
              el('span', { class: 'pid', testid: `discrepancy-${i}-product` }, String(row['product_id'])),
            ),
            el('td', {}, String(row['warehouse_id'])),
            el('td', { class: 'num', testid: `discrepancy-${i}-counted` }, formatCount(row.counted)),
            el('td', { class: 'num', testid: `discrepancy-${i}-book` }, formatCount(row.book)),
            el(
              'td',
              {
                class: `num ${row.discrepancy < 0 ? 'shrink' : 'found'}`,
                testid: `discrepancy-${i}-discrepancy`,
                title: row.discrepancy < 0 ? 'shrinkage: units missing' : 'units found',
              },
              formatSigned(row.discrepancy),
            ),
          ),
        )),
  );
}

async function refreshStock(): Promise<void> {
  if (stockRoute === 'absent') return;
  let levels: BalanceResponse;
  try {
    levels = await getJson<BalanceResponse>(STOCK.balance);
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) {
      stockRoute = 'absent';
      byTestId('stock').hidden = true;
      return;
    }
    throw error;
  }
  stockRoute = 'served';
  byTestId('stock').hidden = false;
  const [alerts, discrepancies] = await Promise.all([
    getJson<AlertsResponse>('alerts'),
    getJson<DiscrepanciesResponse>(`${STOCK.balance}/discrepancies`, { limit: String(DISCREPANCY_ROWS) }),
  ]);
  renderStockLevels(levels);
  renderStockAlerts(alerts);
  renderDiscrepancies(discrepancies);
  setText('stock-updated', `updated ${formatUtc(levels.generated_at, true)}`);
}

// ---- Models: every declared model, one charted ------------------------------------------------------------------

interface ModelSummary {
  name: string;
  grain: 'minute' | 'day';
  dimensions: string[];
  measures: string[];
  measure_kinds: Record<string, string>;
  /** Declared ratios (absent from an API older than them). */
  ratios?: { name: string; numerator: string; denominator: string }[];
}

interface DatasetsBody {
  datasets: { name: string; models: ModelSummary[] }[];
}

type MetricBody = {
  query: { tz: string };
  rows: ({ window_start: string } & Record<string, unknown>)[];
  totals: Record<string, unknown>;
};

let models: { dataset: string; model: ModelSummary }[] | undefined;
let modelPanel: Chart<ModelChartData> | undefined;

/** What a model serves under `name`: a measure's kind, or `ratio`. */
function kindOf(model: ModelSummary, name: string): string {
  if (model.ratios?.some((r) => r.name === name)) return 'ratio';
  return model.measure_kinds[name] ?? 'count';
}

/**
 * A measure or ratio of a row or total as a number to chart (money: its chart currency; a ratio: null where its
 * denominator is 0) and as text for the table (a ratio exactly as served, `0.250000`).
 */
function measureOf(
  values: Record<string, unknown>,
  measure: string,
  kind: string,
): { value: number | null; text: string } {
  if (kind === 'ratio') {
    const ratio = values[measure];
    return typeof ratio === 'string' ? { value: Number(ratio), text: ratio } : { value: null, text: 'n/a' };
  }
  if (kind !== 'money') {
    const value = Number(values[measure] ?? 0);
    return { value, text: formatCount(value) };
  }
  const byCurrency = (values[`${measure}_by_currency`] ?? {}) as Record<string, string>;
  const currency = chartCurrency(byCurrency);
  return {
    value: currency === undefined ? 0 : Number(byCurrency[currency] ?? 0),
    text: formatRevenue(byCurrency),
  };
}

let modelsLoading: Promise<{ dataset: string; model: ModelSummary }[]> | undefined;

/** The declared minute models (GET /datasets), read once; a failed read is retried by the next refresh. */
function loadModels(): Promise<{ dataset: string; model: ModelSummary }[]> {
  modelsLoading ??= readModels().catch((error: unknown) => {
    modelsLoading = undefined;
    throw error;
  });
  return modelsLoading;
}

async function readModels(): Promise<{ dataset: string; model: ModelSummary }[]> {
  const body = await getJson<DatasetsBody>('datasets');
  const all = body.datasets.flatMap((ds) =>
    ds.models.filter((m) => m.grain === 'minute').map((model) => ({ dataset: ds.name, model })),
  );
  models = all;
  const served = new Set(all.map((m) => m.model.name));
  behaviourOn = served.has(FUNNEL_MODEL) && served.has(SESSIONS_MODEL);
  byTestId('behaviour').hidden = !behaviourOn;
  // The live refresh skipped trending until the panel was known to exist.
  if (behaviourOn) void guarded('trending', refreshTrending, 'behaviour');
  const modelSelect = byId<HTMLSelectElement>('model-select');
  modelSelect.replaceChildren(
    ...all.map(({ dataset, model }) => new Option(`${model.name} (${dataset})`, model.name)),
  );
  fillMeasures();
  return all;
}

function selectedModel(): ModelSummary | undefined {
  const name = byId<HTMLSelectElement>('model-select').value;
  return models?.find((m) => m.model.name === name)?.model;
}

function fillMeasures(): void {
  const model = selectedModel();
  byId<HTMLSelectElement>('measure-select').replaceChildren(
    ...(model?.measures ?? []).map((measure) => new Option(measure, measure)),
    ...(model?.ratios ?? []).map((r) => new Option(`${r.name} (${r.numerator} / ${r.denominator})`, r.name)),
  );
}

/** A model's answer over the range by day (for its totals), requested once however many panels show them. */
type RangeTotals = (model: string) => Promise<MetricBody>;

function rangeTotals(range: TimeRange): RangeTotals {
  const params = { start: isoParam(range.start), end: isoParam(range.end), granularity: 'day' };
  const requests = new Map<string, Promise<MetricBody>>();
  return (model) => {
    let request = requests.get(model);
    if (!request) {
      request = getJson<MetricBody>(`metrics/${model}`, params);
      requests.set(model, request);
    }
    return request;
  };
}

async function renderModels(
  range: TimeRange,
  granularity: Granularity,
  current: () => boolean,
  totalsOf: RangeTotals,
): Promise<void> {
  const all = await loadModels();
  const params = { start: isoParam(range.start), end: isoParam(range.end) };
  const totals = await Promise.all(all.map(({ model }) => totalsOf(model.name)));
  const model = selectedModel();
  const measure = byId<HTMLSelectElement>('measure-select').value;
  const chartBody = model
    ? await getJson<MetricBody>(`metrics/${model.name}`, { ...params, granularity })
    : undefined;
  if (!current()) return;
  const tbody = byTestId('models').querySelector('tbody') as HTMLElement;
  tbody.replaceChildren(
    ...all.map(({ dataset, model: m }, i) => {
      const row = document.createElement('tr');
      row.dataset['model'] = m.name;
      const cells = [
        dataset,
        m.name,
        m.dimensions.join(', '),
        m.measures.join(', '),
        [...m.measures, ...(m.ratios ?? []).map((r) => r.name)]
          .map((name) => `${name} ${measureOf(totals[i]?.totals ?? {}, name, kindOf(m, name)).text}`)
          .join(' · '),
      ];
      for (const [index, text] of cells.entries()) {
        const cell = document.createElement('td');
        cell.textContent = text;
        if (index === 4) cell.className = 'num';
        row.append(cell);
      }
      return row;
    }),
  );
  if (!model || !chartBody) return;
  const kind = kindOf(model, measure);
  const byStart = new Map(
    chartBody.rows.map((row) => [Date.parse(row.window_start), measureOf(row, measure, kind).value]),
  );
  const starts = bucketStarts(range, granularity, chartBody.query.tz);
  const data: ModelChartData = {
    x: starts.map((ms) => ms / 1000),
    // A bucket with no row has no events: 0 for a measure, no value for a ratio.
    y: starts.map((ms) => (byStart.has(ms) ? (byStart.get(ms) ?? null) : kind === 'ratio' ? null : 0)),
    label: `${model.name} · ${measure}`,
  };
  const container = byId('model-chart');
  container.dataset['model'] = model.name;
  container.dataset['measure'] = measure;
  container.dataset['buckets'] = String(data.x.length);
  const total = measureOf(chartBody.totals, measure, kind);
  container.dataset['total'] = kind === 'ratio' ? total.text : String(total.value);
  if (modelPanel) modelPanel.update(data);
  else {
    container.replaceChildren();
    modelPanel = modelChart(container, data);
  }
}

// ---- User behaviour: the clicks dataset's funnel, sessions and trending products ---------------------------------

/** The models the panel reads (contracts of the clicks dataset); the panel shows only when the API serves both. */
const FUNNEL_MODEL = 'funnel_minute';
const SESSIONS_MODEL = 'sessions_minute';
const FUNNEL_STEPS = [
  ['product_views', 'Product views'],
  ['add_to_carts', 'Added to cart'],
  ['checkouts', 'Checkouts'],
  ['purchases', 'Purchases'],
] as const;
const FUNNEL_RATIOS = [
  ['view_to_cart', 'view → cart'],
  ['cart_to_purchase', 'cart → purchase'],
  ['view_to_purchase', 'view → purchase'],
] as const;
const TRENDING = { measure: 'add_to_carts', minutes: 15, limit: 10 } as const;

type TopBody = { top: Record<string, unknown>[]; start: string; end: string; generated_at: string };

let behaviourOn = false;
let behaviourPanel: Chart<BehaviourChartData> | undefined;

/** A served 6-place ratio as a percentage; null (denominator 0) as n/a. */
function ratioText(value: unknown): string {
  return formatRatio(typeof value === 'string' ? value : null);
}

function renderFunnel(totals: Record<string, unknown>): void {
  const views = Number(totals['product_views'] ?? 0);
  byTestId('funnel').replaceChildren(
    ...FUNNEL_STEPS.map(([measure, label]) => {
      const count = Number(totals[measure] ?? 0);
      const bar = el('span', { class: 'bar' });
      bar.style.width = `${views > 0 ? Math.max(1, (count / views) * 100) : 0}%`;
      return el(
        'li',
        { testid: `funnel-${measure}` },
        el('span', {}, label),
        el('span', { class: 'count', testid: `funnel-${measure}-count` }, formatCount(count)),
        bar,
      );
    }),
  );
  byTestId('funnel-ratios').replaceChildren(
    ...FUNNEL_RATIOS.map(([ratio, label]) => {
      const chip = el(
        'span',
        { class: 'badge', testid: `ratio-${ratio}` },
        `${label} ${ratioText(totals[ratio])}`,
      );
      chip.dataset['value'] = String(totals[ratio] ?? null);
      return chip;
    }),
  );
}

function renderSessions(
  body: MetricBody & Pick<SalesResponse, 'segments' | 'batch_boundary'>,
  range: TimeRange,
  granularity: Granularity,
): void {
  const totals = body.totals;
  const sessions = Number(totals['sessions'] ?? 0);
  setText('sessions', formatCount(sessions));
  setText('visitors', formatCount(Number(totals['unique_users'] ?? 0)));
  setText('bounce-rate', ratioText(totals['bounce_rate']));
  setText('bounce-detail', `${formatCount(Number(totals['bounced_sessions'] ?? 0))} single-event sessions`);
  setText('session-conversion', ratioText(totals['session_conversion']));
  setText('conversion-detail', `${formatCount(Number(totals['converted_sessions'] ?? 0))} with a purchase`);
  setText('behaviour-segments', segmentsText(body.segments));
  const rows = new Map(body.rows.map((row) => [Date.parse(row.window_start), row]));
  const starts = bucketStarts(range, granularity, body.query.tz);
  const data: BehaviourChartData = {
    ...layerMarks(body, starts),
    ...byLayer(starts, (start) => Number(rows.get(start)?.['sessions'] ?? 0), body.segments, range),
    visitors: starts.map((start) => Number(rows.get(start)?.['unique_users'] ?? 0)),
  };
  const container = byId('behaviour-chart');
  container.dataset['buckets'] = String(starts.length);
  container.dataset['sessions'] = JSON.stringify(data.batch.map((v, i) => v ?? data.realtime[i] ?? 0));
  container.dataset['visitors'] = JSON.stringify(data.visitors);
  if (behaviourPanel) behaviourPanel.update(data);
  else {
    container.replaceChildren();
    behaviourPanel = behaviourChart(container, data);
  }
}

async function renderBehaviour(
  range: TimeRange,
  granularity: Granularity,
  current: () => boolean,
  totalsOf: RangeTotals,
): Promise<void> {
  if (!behaviourOn) return;
  const params = { start: isoParam(range.start), end: isoParam(range.end) };
  const [funnel, sessions] = await Promise.all([
    totalsOf(FUNNEL_MODEL),
    getJson<MetricBody & Pick<SalesResponse, 'segments' | 'batch_boundary'>>(`metrics/${SESSIONS_MODEL}`, {
      ...params,
      granularity,
    }),
  ]);
  if (!current()) return;
  renderFunnel(funnel.totals);
  renderSessions(sessions, range, granularity);
}

function renderTrending(body: TopBody): void {
  const table = byTestId('trending');
  table.dataset['start'] = body.start;
  table.dataset['end'] = body.end;
  const tbody = table.querySelector('tbody');
  if (!tbody) return;
  // Products seen in the window but never added to cart rank last with 0: they are not trending.
  const trending = body.top.filter((row) => Number(row[TRENDING.measure] ?? 0) > 0);
  const max = Number(trending[0]?.[TRENDING.measure] ?? 0) || 1;
  tbody.replaceChildren(
    ...(trending.length === 0
      ? [stateRow(5, `Nothing added to cart in the last ${TRENDING.minutes} minutes`)]
      : trending.map((row, i) => {
          const carts = Number(row[TRENDING.measure] ?? 0);
          const bar = el('span', { class: 'bar' });
          bar.style.width = `${Math.max(2, (carts / max) * 100)}%`;
          return el(
            'tr',
            { testid: `trending-${i}` },
            el('td', { class: 'rank' }, String(i + 1)),
            el(
              'td',
              { class: 'product' },
              el('span', { class: 'pid', testid: `trending-${i}-id` }, String(row['product_id'])),
              bar,
            ),
            el('td', { class: 'num', testid: `trending-${i}-carts` }, formatCount(carts)),
            el('td', { class: 'num' }, formatCount(Number(row['product_views'] ?? 0))),
            el('td', { class: 'num', testid: `trending-${i}-view-to-cart` }, ratioText(row['view_to_cart'])),
          );
        })),
  );
  setText('trending-updated', `updated ${formatUtc(body.generated_at, true)}`);
}

async function refreshTrending(): Promise<void> {
  if (!behaviourOn) return;
  const { measure, minutes, limit } = TRENDING;
  renderTrending(
    await getJson<TopBody>(`metrics/${FUNNEL_MODEL}/top`, {
      measure,
      minutes: String(minutes),
      limit: String(limit),
    }),
  );
}

// ---- The range panels --------------------------------------------------------------------------------------------

async function refreshRange(): Promise<void> {
  const seq = ++rangeSeq;
  const range = currentRange();
  selection.granularity = fitGranularity(selection.granularity, range);
  renderControls(range);
  const granularity = selection.granularity;
  const current = () => seq === rangeSeq;
  document.body.classList.add('loading');
  const params = { start: isoParam(range.start), end: isoParam(range.end) };
  const opsStart = new Date(Math.max(range.start.getTime(), range.end.getTime() - OPS_MAX_MS));
  // The Models and User behaviour panels both total funnel_minute over the range: one request.
  const totals = rangeTotals(range);
  await Promise.all([
    guarded(
      'sales',
      async () => {
        const body = await getJson<SalesResponse>('sales', { ...params, granularity });
        if (current()) renderSales(body, range, granularity);
      },
      'sales',
    ),
    guarded(
      'top products',
      async () => {
        const body = await getJson<SalesResponse>('sales', {
          ...params,
          granularity: 'day',
          group_by: 'product',
        });
        if (current()) renderTopProducts(body);
      },
      'products',
    ),
    guarded(
      'ops',
      async () => {
        const body = await getJson<OpsSummary>('ops/summary', { start: isoParam(opsStart), end: params.end });
        if (current()) renderOps(body);
      },
      'ops',
    ),
    guarded('models', () => renderModels(range, granularity, current, totals), 'models'),
    guarded(
      'behaviour',
      async () => {
        await loadModels();
        await renderBehaviour(range, granularity, current, totals);
      },
      'behaviour',
    ),
    guarded(
      'reconciliation',
      async () => {
        try {
          const body = await getJson<ReconciliationTrend>('reconciliation', { days: String(TREND_DAYS) });
          if (current()) renderReconciliation(body);
        } catch (error) {
          if (error instanceof ApiError && error.status === 404) {
            renderReconciliationUnavailable('this deployment has no GET /reconciliation route');
            return;
          }
          throw error;
        }
      },
      'recon',
    ),
  ]);
  if (current()) {
    document.body.classList.remove('loading');
    setText('updated', `updated ${formatUtc(new Date(), true)}`);
  }
}

// ---- Wiring --------------------------------------------------------------------------------------------------------

function bindControls(): void {
  for (const button of Array.from(document.querySelectorAll<HTMLButtonElement>('[data-preset]'))) {
    button.addEventListener('click', () => {
      const preset = button.dataset['preset'] as Preset | 'custom';
      if (preset === 'custom') {
        const range = currentRange();
        byId<HTMLInputElement>('custom-start').value = toLocalInput(range.start);
        byId<HTMLInputElement>('custom-end').value = toLocalInput(range.end);
        selection.preset = 'custom';
        selection.custom = range;
        renderControls(range);
        return;
      }
      selection.preset = preset;
      selection.granularity = DEFAULT_GRANULARITY[preset];
      void refreshRange();
    });
  }
  byId<HTMLFormElement>('controls').addEventListener('submit', (event) => {
    event.preventDefault();
    const start = parseLocalInput(byId<HTMLInputElement>('custom-start').value);
    const end = parseLocalInput(byId<HTMLInputElement>('custom-end').value);
    if (!start || !end || end <= start) {
      setError('range', 'custom range: give a start and an end after it (UTC)');
      return;
    }
    setError('range', null);
    selection.preset = 'custom';
    selection.custom = { start, end };
    void refreshRange();
  });
  byId<HTMLSelectElement>('granularity').addEventListener('change', (event) => {
    selection.granularity = (event.target as HTMLSelectElement).value as Granularity;
    void refreshRange();
  });
  const rechartModel = () => {
    const range = currentRange();
    const seq = rangeSeq;
    void guarded(
      'models',
      () => renderModels(range, selection.granularity, () => seq === rangeSeq, rangeTotals(range)),
      'models',
    );
  };
  byId<HTMLSelectElement>('model-select').addEventListener('change', () => {
    fillMeasures();
    rechartModel();
  });
  byId<HTMLSelectElement>('measure-select').addEventListener('change', rechartModel);
}

window.addEventListener('error', (event) => setError('page', `page error: ${event.message}`));
window.addEventListener('unhandledrejection', (event) =>
  setError('page', `page error: ${String(event.reason)}`),
);

bindControls();
void refreshRange();
void refreshLive();
setInterval(() => void refreshLive(), LIVE_REFRESH_MS);
setInterval(() => {
  if (selection.preset !== 'custom') void refreshRange();
}, RANGE_REFRESH_MS);
