import uPlot from 'uplot';
import { dayOf } from '../functions/pipeline/dates.ts';
import { formatMoney } from './format.ts';

/** Colours shared with styles.css (canvas cannot read CSS variables cheaply on every draw). */
export const COLORS = {
  batch: '#2563eb',
  batchFill: 'rgba(37, 99, 235, 0.55)',
  realtime: '#ea580c',
  realtimeFill: 'rgba(234, 88, 12, 0.6)',
  realtimeBand: 'rgba(234, 88, 12, 0.07)',
  boundary: '#334155',
  late: '#b45309',
  grid: 'rgba(100, 116, 139, 0.15)',
  axis: '#475569',
  deviation: '#7c3aed',
  before: '#a78bfa',
  threshold: '#dc2626',
  visitors: '#0f766e',
};

const utc = (ts: number) => uPlot.tzDate(new Date(ts * 1000), 'Etc/UTC');

/** The zone whose days label day ticks (the stage's reporting zone; times of day stay UTC). */
let dayZone = 'UTC';

export function setDayZone(zone: string): void {
  dayZone = zone;
}

/**
 * Time ticks in UTC, 24-hour clock: `HH:mm`, with the date at midnight and for ticks a day or more apart (a day
 * tick is the reporting zone's day that starts there).
 */
function timeTicks(u: uPlot, ticks: number[], _axis: number, _space: number, increment: number): string[] {
  const x = u.data[0] ?? [];
  const dayBuckets = x.length > 1 && (x[1] ?? 0) - (x[0] ?? 0) >= 82_800;
  return ticks.map((t) => {
    const iso = new Date(t * 1000).toISOString();
    const time = iso.slice(11, 16);
    if (increment >= 86_400 || dayBuckets) return dayOf(new Date(t * 1000), dayZone).slice(5);
    return time === '00:00' ? iso.slice(5, 10) : time;
  });
}

function axis(extra: Partial<uPlot.Axis> = {}): uPlot.Axis {
  return {
    stroke: COLORS.axis,
    grid: { stroke: COLORS.grid, width: 1 },
    ticks: { stroke: COLORS.grid, width: 1 },
    font: '11px system-ui, sans-serif',
    ...extra,
  };
}

/** Sizes a chart to its container, now and whenever the container changes. */
function fitToContainer(chart: uPlot, container: HTMLElement, height: number): () => void {
  let width = 0;
  let frame = 0;
  const resize = () => {
    const next = Math.max(240, Math.floor(container.clientWidth));
    if (next === width) return;
    width = next;
    chart.setSize({ width, height });
  };
  // Resizing inside the observer callback would change the observed box again (a "ResizeObserver loop"):
  // resize on the next frame instead, and only when the width really changed.
  const observer = new ResizeObserver(() => {
    cancelAnimationFrame(frame);
    frame = requestAnimationFrame(resize);
  });
  observer.observe(container);
  resize();
  return () => {
    cancelAnimationFrame(frame);
    observer.disconnect();
  };
}

export interface SalesChartData extends LayerMarks {
  /** Revenue per bucket served by batch (null where realtime serves it). */
  batch: (number | null)[];
  realtime: (number | null)[];
  /** Hours touched by late events, seconds (hour starts). */
  lateHours: number[];
}

export interface Chart<T> {
  update(data: T): void;
  destroy(): void;
}

/** What marks the layers on a chart over time: realtime spans shaded, the batch boundary a dashed line. */
export interface LayerMarks {
  /** Bucket starts, seconds. */
  x: number[];
  /** Realtime segments, seconds [start, end). */
  realtimeSpans: [number, number][];
  /** Batch boundary, seconds, or null. */
  boundary: number | null;
  bucketSeconds: number;
}

function drawRealtimeBands(u: uPlot, marks: LayerMarks): void {
  const { ctx } = u;
  const { top, height, left, width } = u.bbox;
  ctx.save();
  ctx.fillStyle = COLORS.realtimeBand;
  for (const [from, to] of marks.realtimeSpans) {
    const x0 = Math.max(left, u.valToPos(from, 'x', true));
    const x1 = Math.min(left + width, u.valToPos(to, 'x', true));
    if (x1 > x0) ctx.fillRect(x0, top, x1 - x0, height);
  }
  ctx.restore();
}

function drawBoundary(u: uPlot, marks: LayerMarks): void {
  if (marks.boundary === null) return;
  const { ctx } = u;
  const { top, height, left, width } = u.bbox;
  const px = uPlot.pxRatio;
  const x = u.valToPos(marks.boundary, 'x', true);
  if (x < left || x > left + width) return;
  ctx.save();
  ctx.strokeStyle = COLORS.boundary;
  ctx.lineWidth = 1.5 * px;
  ctx.setLineDash([6 * px, 4 * px]);
  ctx.beginPath();
  ctx.moveTo(x, top);
  ctx.lineTo(x, top + height);
  ctx.stroke();
  ctx.setLineDash([]);
  ctx.fillStyle = COLORS.boundary;
  ctx.font = `${11 * px}px system-ui, sans-serif`;
  const label = 'batch boundary';
  const textWidth = ctx.measureText(label).width;
  const tx = x + 4 * px + textWidth > left + width ? x - 4 * px - textWidth : x + 4 * px;
  ctx.fillText(label, tx, top + 12 * px);
  ctx.restore();
}

/** The time axis of a layered chart: day buckets start at the reporting zone's midnight, not UTC's: tick each. */
function layeredTimeAxis(marks: () => LayerMarks): uPlot.Axis {
  return axis({
    values: timeTicks,
    splits: (_u, _axis, min, max, increment) => {
      const current = marks();
      if (current.bucketSeconds >= 82_800) return current.x.filter((x) => x >= min && x <= max);
      const first = Math.ceil(min / increment) * increment;
      const count = Math.max(0, Math.floor((max - first) / increment) + 1);
      return Array.from({ length: count }, (_, i) => first + i * increment);
    },
  });
}

const money = (_u: uPlot, v: number | null) => (v === null ? '—' : formatMoney(v.toFixed(2)));

const bucketLabel: uPlot.Series = {
  label: 'Bucket (UTC)',
  value: (_u, v) => (v === null ? '—' : new Date(v * 1000).toISOString().slice(0, 16).replace('T', ' ')),
};

/** A bar series in a layer's colours (batch blue, realtime orange). */
function layerBars(label: string, layer: 'batch' | 'realtime', value?: uPlot.Series['value']): uPlot.Series {
  const bars = uPlot.paths.bars?.({ size: [0.8, 48], gap: 1 });
  return {
    label,
    stroke: layer === 'batch' ? COLORS.batch : COLORS.realtime,
    fill: layer === 'batch' ? COLORS.batchFill : COLORS.realtimeFill,
    width: 1,
    ...(bars ? { paths: bars } : {}),
    points: { show: false },
    ...(value ? { value } : {}),
  };
}

/**
 * Revenue per bucket as bars, blue where batch serves the bucket and orange where realtime does; realtime
 * segments shaded, the batch boundary a dashed line, hours with late events marked by amber ticks on the axis.
 */
export function salesChart(container: HTMLElement, initial: SalesChartData): Chart<SalesChartData> {
  let current = initial;
  const drawMarks = (u: uPlot) => {
    drawBoundary(u, current);
    const { ctx } = u;
    const { top, height, left, width } = u.bbox;
    const px = uPlot.pxRatio;
    ctx.save();
    ctx.fillStyle = COLORS.late;
    for (const hour of current.lateHours) {
      const x0 = u.valToPos(hour, 'x', true);
      const x1 = u.valToPos(hour + 3600, 'x', true);
      const xc = Math.min(Math.max((x0 + x1) / 2, left), left + width);
      if (hour + 3600 < (u.scales['x']?.min ?? 0) || hour > (u.scales['x']?.max ?? 0)) continue;
      const y = top + height;
      ctx.beginPath();
      ctx.moveTo(xc, y - 9 * px);
      ctx.lineTo(xc - 5 * px, y);
      ctx.lineTo(xc + 5 * px, y);
      ctx.closePath();
      ctx.fill();
    }
    ctx.restore();
  };
  const opts: uPlot.Options = {
    width: Math.max(240, container.clientWidth),
    height: 280,
    tzDate: utc,
    padding: [12, 20, 0, 0],
    cursor: { drag: { x: false, y: false }, points: { show: false } },
    legend: { show: true, live: true },
    scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.1 : 1] } },
    axes: [
      layeredTimeAxis(() => current),
      axis({
        size: 70,
        values: (_u, ticks) => ticks.map((v) => formatMoney(v.toFixed(v >= 100 || v === 0 ? 0 : 2))),
      }),
    ],
    series: [
      bucketLabel,
      layerBars('Revenue · batch', 'batch', money),
      layerBars('Revenue · realtime', 'realtime', money),
    ],
    hooks: { drawClear: [(u) => drawRealtimeBands(u, current)], draw: [drawMarks] },
  };
  const chart = new uPlot(opts, [initial.x, initial.batch, initial.realtime], container);
  const stop = fitToContainer(chart, container, 280);
  return {
    update(data) {
      current = data;
      chart.setData([data.x, data.batch, data.realtime]);
    },
    destroy() {
      stop();
      chart.destroy();
    },
  };
}

export interface DeviationChartData {
  /** Run times, seconds. */
  x: number[];
  /** Largest absolute deviation after corrections, percent. */
  after: number[];
  before: number[];
  /** The alert threshold, percent. */
  threshold: number;
}

/** Deviation per reconciliation run (after and before corrections) against the alert threshold. */
export function deviationChart(container: HTMLElement, data: DeviationChartData): Chart<DeviationChartData> {
  const thresholdSeries = (d: DeviationChartData) => d.x.map(() => d.threshold);
  const opts: uPlot.Options = {
    width: Math.max(240, container.clientWidth),
    height: 200,
    tzDate: utc,
    padding: [12, 20, 0, 0],
    cursor: { drag: { x: false, y: false } },
    scales: {
      x: { time: true },
      y: {
        range: (u, _min, max) => {
          const threshold = (u.data[3]?.[0] as number | undefined) ?? 0;
          return [0, Math.max(max, threshold) * 1.25 || 1];
        },
      },
    },
    axes: [
      axis({ values: timeTicks }),
      axis({ size: 56, values: (_u, ticks) => ticks.map((v) => `${+v.toFixed(2)} %`) }),
    ],
    series: [
      {
        label: 'Run (UTC)',
        value: (_u, v) =>
          v === null ? '—' : new Date(v * 1000).toISOString().slice(0, 16).replace('T', ' '),
      },
      {
        label: 'After corrections',
        stroke: COLORS.deviation,
        width: 2,
        points: { show: true, size: 6, fill: COLORS.deviation },
        value: (_u, v) => (v === null ? '—' : `${v.toFixed(4)} %`),
      },
      {
        label: 'Before',
        stroke: COLORS.before,
        width: 1,
        dash: [4, 3],
        points: { show: true, size: 4 },
        value: (_u, v) => (v === null ? '—' : `${v.toFixed(4)} %`),
      },
      {
        label: 'Threshold',
        stroke: COLORS.threshold,
        width: 1.5,
        dash: [8, 4],
        points: { show: false },
        value: (_u, v) => (v === null ? '—' : `${v.toFixed(2)} %`),
      },
    ],
  };
  const chart = new uPlot(opts, [data.x, data.after, data.before, thresholdSeries(data)], container);
  const stop = fitToContainer(chart, container, 200);
  return {
    update(next) {
      chart.setData([next.x, next.after, next.before, thresholdSeries(next)]);
    },
    destroy() {
      stop();
      chart.destroy();
    },
  };
}

export interface ModelChartData {
  /** Bucket starts, seconds. */
  x: number[];
  /** The measure per bucket (money: in the chart's currency); a ratio is null where its denominator is 0. */
  y: (number | null)[];
  label: string;
}

/** Any declared model's measure over the range, one bar per bucket (the sales chart's colours, no layer bands). */
export function modelChart(container: HTMLElement, data: ModelChartData): Chart<ModelChartData> {
  const bars = uPlot.paths.bars?.({ size: [0.8, 64] });
  const make = (d: ModelChartData) =>
    new uPlot(
      {
        width: Math.max(240, container.clientWidth),
        height: 200,
        tzDate: utc,
        padding: [12, 20, 0, 0],
        cursor: { drag: { x: false, y: false }, points: { show: false } },
        scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.1 : 1] } },
        axes: [axis({ values: timeTicks }), axis({ size: 70 })],
        series: [
          {
            label: 'Bucket (UTC)',
            value: (_u, v) =>
              v === null ? '—' : new Date(v * 1000).toISOString().slice(0, 16).replace('T', ' '),
          },
          {
            label: d.label,
            stroke: COLORS.batch,
            fill: COLORS.batchFill,
            width: 1,
            ...(bars ? { paths: bars } : {}),
            points: { show: false },
          },
        ],
      },
      [d.x, d.y],
      container,
    );
  let chart = make(data);
  let stop = fitToContainer(chart, container, 200);
  return {
    update(next) {
      // The measure's label is part of the series: a new measure is a new chart.
      stop();
      chart.destroy();
      chart = make(next);
      stop = fitToContainer(chart, container, 200);
    },
    destroy() {
      stop();
      chart.destroy();
    },
  };
}

export interface BehaviourChartData extends LayerMarks {
  /** Sessions started per bucket, where batch serves it (null where realtime does) and where realtime does. */
  batch: (number | null)[];
  realtime: (number | null)[];
  /** Distinct visitors per bucket (a distinct measure: buckets do not add up to the range's visitors). */
  visitors: (number | null)[];
}

/** Sessions per bucket as bars in their layer's colours, visitors as a line; layers marked as on the sales chart. */
export function behaviourChart(
  container: HTMLElement,
  initial: BehaviourChartData,
): Chart<BehaviourChartData> {
  let current = initial;
  const count = (_u: uPlot, v: number | null) => (v === null ? '—' : String(v));
  const chart = new uPlot(
    {
      width: Math.max(240, container.clientWidth),
      height: 220,
      tzDate: utc,
      padding: [12, 20, 0, 0],
      cursor: { drag: { x: false, y: false }, points: { show: false } },
      legend: { show: true, live: true },
      scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.1 : 1] } },
      axes: [layeredTimeAxis(() => current), axis({ size: 56 })],
      series: [
        bucketLabel,
        layerBars('Sessions · batch', 'batch', count),
        layerBars('Sessions · realtime', 'realtime', count),
        { label: 'Visitors', stroke: COLORS.visitors, width: 2, points: { show: false }, value: count },
      ],
      hooks: { drawClear: [(u) => drawRealtimeBands(u, current)], draw: [(u) => drawBoundary(u, current)] },
    },
    [initial.x, initial.batch, initial.realtime, initial.visitors],
    container,
  );
  const stop = fitToContainer(chart, container, 220);
  return {
    update(data) {
      current = data;
      chart.setData([data.x, data.batch, data.realtime, data.visitors]);
    },
    destroy() {
      stop();
      chart.destroy();
    },
  };
}
