import { type AlertDeclaration, declaredTable, listAlertRules, listBalances } from '../pipeline/datasets.ts';
import { dayOf, UTC } from '../pipeline/dates.ts';
import { PreconditionFailedError } from '../pipeline/errors.ts';
import { shortHash } from '../pipeline/ids.ts';
import { lake } from '../pipeline/lake-layout.ts';
import { getJson, type ObjectStore, putJson } from '../pipeline/object-store.ts';
import type { CoreDeps } from '../pipeline/ports.ts';
import { computeLevels } from '../serving/balances.ts';
import { servedModel } from '../serving/metric-model.ts';
import { readMergedRange } from '../serving/metric-query.ts';
import { readTable } from '../serving/reference-tables.ts';

/**
 * The alert rules the datasets declare (`alerts:` in a dataset folder), evaluated by the engine: a balance rule
 * watches each key's level (e.g. inventory's stock against the reorder points), a model rule a count or sum measure
 * over the last N minutes (e.g. orders per hour). Each key of a rule is armed until its condition holds, then fires
 * exactly one alert and stays firing until the condition no longer holds (re-armed). The state lives in the lake
 * (`state/alerts/<rule>.json`, written with optimistic concurrency) and is written before the alert is delivered,
 * so a restart, a redelivered micro-batch or two evaluations at once never raise a crossing twice.
 */

/** An alert a rule raised: in the lake under `alerts/dt=D/<alert_id>.json`, on SNS in AWS. */
export interface RuleAlert {
  alert_id: string;
  kind: 'rule';
  rule: string;
  dataset: string;
  description?: string;
  /** The key's dimension values (a balance's; empty for a model rule), and the day it was raised. */
  where: Record<string, string> & { day: string };
  condition: 'below' | 'above';
  /** The value that crossed, and what it crossed. */
  value: number;
  threshold: number;
  /** What the value is: `stock.on_hand`, `sales_minute.orders over 60 minutes`. */
  measure: string;
  raised_at: string;
  /** When the condition stopped holding (the key re-armed), or null while open. */
  resolved_at: string | null;
  message: string;
}

/** Where rule alerts go besides the lake: SNS in AWS. */
export interface RuleAlertSink {
  publish(alert: RuleAlert): Promise<void>;
}

interface KeyState {
  /** Crossings so far: part of the next alert's id, so a retried crossing has the same id. */
  generation: number;
  firing: boolean;
  /** The open (or last) alert, as raised. */
  alert?: RuleAlert;
  /** Whether the open alert was delivered (lake + sinks); false after a crash in between: delivered on the next run. */
  delivered?: boolean;
  changed_at: string;
}

interface RuleState {
  rule: string;
  keys: Record<string, KeyState>;
  updated_at: string;
}

/** One observed value of a rule's key. */
interface Observation {
  key: Record<string, string>;
  value: number;
  threshold: number;
}

const keyId = (key: Record<string, string>) => JSON.stringify(Object.entries(key));

const holds = (rule: AlertDeclaration, value: number, threshold: number) =>
  rule.below !== undefined ? value < threshold : value > threshold;

/** What a rule's keys are at now: each key's value and threshold (keys without a threshold are not watched). */
async function observe(rule: AlertDeclaration, deps: CoreDeps): Promise<Observation[]> {
  const limit = (rule.below ?? rule.above) as number | string;
  if (rule.balance !== undefined) {
    const balance = listBalances().find((b) => b.name === rule.balance);
    if (!balance) throw new Error(`alert ${rule.name}: no balance ${rule.balance}`);
    const [{ levels }, table] = await Promise.all([
      computeLevels(balance, { filters: {} }, deps),
      typeof limit === 'string' ? readTable(deps.store, declaredTable(limit)) : undefined,
    ]);
    // A key the table lists but nothing counted or moved is at 0 (as GET /<balance> serves it).
    const seen = new Set(levels.map((level) => JSON.stringify(level.key)));
    const unmoved = [...(table?.values() ?? [])]
      .filter((row) => !seen.has(JSON.stringify(row.key)))
      .map((row) => ({ key: row.key, value: 0 }));
    return [...levels, ...unmoved].flatMap((level) => {
      const threshold = table ? table.get(JSON.stringify(level.key))?.value : (limit as number);
      if (threshold === undefined) return [];
      const key = Object.fromEntries(balance.dimensions.map((d, i) => [d, level.key[i] as string]));
      return [{ key, value: level.value, threshold }];
    });
  }
  const model = servedModel(rule.model as string);
  const now = deps.clock().getTime();
  // The last N whole minutes plus the current one so far.
  const end = Math.floor(now / 60_000) * 60_000 + 60_000;
  const filters = rule.where ?? {};
  const merged = await readMergedRange(
    {
      model,
      start: new Date(end - (rule.minutes as number) * 60_000),
      end: new Date(end),
      granularity: 'minute',
      filters,
      groupBy: [],
      timeZone: deps.timeZone ?? UTC,
    },
    deps,
  );
  const measure = model.measures.find((m) => m.name === rule.measure);
  const value =
    measure?.kind === 'money'
      ? // In units of the currency the rule names (money is summed in cents, exactly).
        Number(
          merged.rows.reduce(
            (sum, row) =>
              sum + (row.money[measure.name]?.get(filters[measure.currency as string] as string) ?? 0n),
            0n,
          ),
        ) / 100
      : merged.rows.reduce((sum, row) => sum + (row.values[rule.measure as string] ?? 0), 0);
  return [{ key: filters, value, threshold: limit as number }];
}

function measureOf(rule: AlertDeclaration): string {
  if (rule.balance !== undefined) {
    const balance = listBalances().find((b) => b.name === rule.balance);
    return `${rule.balance}.${balance?.value ?? 'level'}`;
  }
  const where = Object.entries(rule.where ?? {}).map(([d, v]) => `${d}=${v}`);
  return `${rule.model}.${rule.measure}${where.length > 0 ? ` (${where.join(', ')})` : ''} over ${rule.minutes} minutes`;
}

function newAlert(
  rule: AlertDeclaration,
  o: Observation,
  generation: number,
  now: Date,
  zone: string,
): RuleAlert {
  const id = keyId(o.key);
  const condition = rule.below !== undefined ? 'below' : 'above';
  const where = Object.entries(o.key)
    .map(([d, v]) => `${d.replace(/_id$/, '')} ${v}`)
    .join(', ');
  return {
    alert_id: `${rule.name}-${shortHash(rule.name, id)}-${generation}`,
    kind: 'rule',
    rule: rule.name,
    dataset: rule.dataset,
    ...(rule.description !== undefined ? { description: rule.description } : {}),
    where: { ...o.key, day: dayOf(now, zone) },
    condition,
    value: o.value,
    threshold: o.threshold,
    measure: measureOf(rule),
    raised_at: now.toISOString(),
    resolved_at: null,
    message: `${rule.name}: ${measureOf(rule)} is ${o.value}, ${condition} ${o.threshold}${where ? ` (${where})` : ''}`,
  };
}

/** Applies observations to a rule's state: which keys fire (new alerts) and which re-arm (resolved alerts). */
function transition(
  rule: AlertDeclaration,
  state: RuleState,
  observations: readonly Observation[],
  now: Date,
  zone: string,
): { fired: RuleAlert[]; resolved: RuleAlert[]; changed: boolean } {
  const fired: RuleAlert[] = [];
  const resolved: RuleAlert[] = [];
  let changed = false;
  // Only keys that ever fired have a state: every other key is armed.
  for (const o of observations) {
    const id = keyId(o.key);
    const current = state.keys[id] ?? { generation: 0, firing: false, changed_at: '' };
    const condition = holds(rule, o.value, o.threshold);
    if (condition === current.firing) continue;
    const next: KeyState = { ...current, firing: condition, changed_at: now.toISOString() };
    if (condition) {
      next.alert = newAlert(rule, o, current.generation, now, zone);
      next.delivered = false;
      fired.push(next.alert);
    } else {
      next.generation = current.generation + 1;
      if (current.alert) {
        next.alert = { ...current.alert, resolved_at: now.toISOString() };
        resolved.push(next.alert);
      }
    }
    state.keys[id] = next;
    changed = true;
  }
  return { fired, resolved, changed };
}

export interface EvaluationResult {
  rule: string;
  keys: number;
  firing: number;
  fired: RuleAlert[];
  resolved: RuleAlert[];
}

/**
 * Evaluates one rule now: observe, apply to the state (a conditional write, retried when another evaluation wrote
 * first), then deliver what fired — each alert once: written to the lake (skipped, with its sinks, if it already
 * exists) and published, then marked delivered. A delivery that failed is retried by the next evaluation.
 */
export async function evaluateRule(
  rule: AlertDeclaration,
  deps: CoreDeps & { sinks?: readonly RuleAlertSink[] },
): Promise<EvaluationResult> {
  const { store } = deps;
  const zone = deps.timeZone ?? UTC;
  const observations = await observe(rule, deps);
  const key = lake.alertState(rule.name);
  let state: RuleState;
  let fired: RuleAlert[] = [];
  let resolved: RuleAlert[] = [];
  for (let attempt = 1; ; attempt++) {
    const found = await getJson<RuleState>(store, key);
    state = found?.value ?? { rule: rule.name, keys: {}, updated_at: '' };
    const now = deps.clock();
    const applied = transition(rule, state, observations, now, zone);
    fired = applied.fired;
    resolved = applied.resolved;
    const undelivered = Object.values(state.keys).some((k) => k.firing && k.delivered === false);
    if (!applied.changed && !undelivered) break;
    state.updated_at = now.toISOString();
    try {
      if (applied.changed) {
        await putJson(store, key, state, found ? { ifMatch: found.etag } : { ifNoneMatch: true });
      }
      break;
    } catch (error) {
      if (!(error instanceof PreconditionFailedError) || attempt >= 10) throw error;
      await new Promise((resolve) => setTimeout(resolve, 5 * attempt + Math.random() * 20));
    }
  }
  // Deliver every firing alert not delivered yet (this run's, or one a crash left undelivered).
  const toDeliver = Object.entries(state.keys).filter(
    ([, k]) => k.firing && k.delivered === false && k.alert,
  );
  for (const [, k] of toDeliver) await deliver(store, k.alert as RuleAlert, deps);
  for (const alert of resolved) await putJson(store, lake.alert(alert.where.day, alert.alert_id), alert);
  if (toDeliver.length > 0)
    await markDelivered(
      store,
      key,
      toDeliver.map(([id]) => id),
    );
  for (const alert of fired)
    deps.log.warn('alert raised', { alertId: alert.alert_id, message: alert.message });
  for (const alert of resolved)
    deps.log.info('alert resolved', { alertId: alert.alert_id, message: alert.message });
  return {
    rule: rule.name,
    keys: observations.length,
    firing: Object.values(state.keys).filter((k) => k.firing).length,
    fired,
    resolved,
  };
}

/** Writes the alert to the lake and publishes it, unless an earlier delivery already wrote it. */
async function deliver(store: ObjectStore, alert: RuleAlert, deps: { sinks?: readonly RuleAlertSink[] }) {
  const key = lake.alert(alert.where.day, alert.alert_id);
  if (await store.head(key)) return;
  for (const sink of deps.sinks ?? []) await sink.publish(alert);
  await putJson(store, key, alert);
}

async function markDelivered(store: ObjectStore, key: string, ids: readonly string[]) {
  for (let attempt = 1; attempt <= 10; attempt++) {
    const found = await getJson<RuleState>(store, key);
    if (!found) return;
    for (const id of ids) {
      const k = found.value.keys[id];
      if (k?.firing && k.delivered === false) k.delivered = true;
    }
    try {
      await putJson(store, key, found.value, { ifMatch: found.etag });
      return;
    } catch (error) {
      if (!(error instanceof PreconditionFailedError)) throw error;
    }
  }
}

/** The rules to evaluate: every declared one, or those of some datasets (a consumer: its own dataset's balances). */
export function alertRulesOf(options: { datasets?: readonly string[]; balancesOnly?: boolean } = {}) {
  return listAlertRules().filter(
    (rule) =>
      (options.datasets === undefined || options.datasets.includes(rule.dataset)) &&
      (!options.balancesOnly || rule.balance !== undefined),
  );
}

/** Evaluates rules one after the other; a rule that fails is logged and reported, the others still run. */
export async function evaluateAlerts(
  rules: readonly AlertDeclaration[],
  deps: CoreDeps & { sinks?: readonly RuleAlertSink[] },
): Promise<{ results: EvaluationResult[]; failed: { rule: string; error: string }[] }> {
  const results: EvaluationResult[] = [];
  const failed: { rule: string; error: string }[] = [];
  for (const rule of rules) {
    try {
      results.push(await evaluateRule(rule, deps));
    } catch (error) {
      deps.log.error('alert rule failed', { rule: rule.name, error: (error as Error).message });
      failed.push({ rule: rule.name, error: (error as Error).message });
    }
  }
  return { results, failed };
}

/** The open alerts of every declared rule (from their state), newest first. */
export async function openAlerts(store: ObjectStore): Promise<RuleAlert[]> {
  const open: RuleAlert[] = [];
  for (const rule of listAlertRules()) {
    const state = (await getJson<RuleState>(store, lake.alertState(rule.name)))?.value;
    for (const k of Object.values(state?.keys ?? {})) if (k.firing && k.alert) open.push(k.alert);
  }
  return open.sort((a, b) => (a.raised_at < b.raised_at ? 1 : a.raised_at > b.raised_at ? -1 : 0));
}

/** What `GET /alerts` serves: the declared rules, the open alerts, and the alerts raised or resolved lately. */
export interface AlertsResponse {
  rules: {
    name: string;
    dataset: string;
    description?: string;
    watches: string;
    condition: 'below' | 'above';
    threshold: number | string;
  }[];
  open: RuleAlert[];
  /** Every alert (rule alerts and reconciliation's) of today and yesterday in the reporting zone, newest first. */
  recent: Record<string, unknown>[];
  generated_at: string;
}

export async function listAlerts(deps: CoreDeps, limit: number): Promise<AlertsResponse> {
  const zone = deps.timeZone ?? UTC;
  const now = deps.clock();
  const days = [dayOf(new Date(now.getTime() - 86_400_000), zone), dayOf(now, zone)];
  const recent: Record<string, unknown>[] = [];
  for (const day of days) {
    for (const info of await deps.store.list(`${lake.alertsRoot}dt=${day}/`)) {
      const found = await getJson<Record<string, unknown>>(deps.store, info.key);
      if (found) recent.push(found.value);
    }
  }
  const time = (a: Record<string, unknown>) => String(a['resolved_at'] ?? a['raised_at'] ?? '');
  recent.sort((a, b) => (time(a) < time(b) ? 1 : time(a) > time(b) ? -1 : 0));
  return {
    rules: listAlertRules().map((rule) => ({
      name: rule.name,
      dataset: rule.dataset,
      ...(rule.description !== undefined ? { description: rule.description } : {}),
      watches: measureOf(rule),
      condition: rule.below !== undefined ? 'below' : 'above',
      threshold: (rule.below ?? rule.above) as number | string,
    })),
    open: (await openAlerts(deps.store)).slice(0, limit),
    recent: recent.slice(0, limit),
    generated_at: now.toISOString(),
  };
}
