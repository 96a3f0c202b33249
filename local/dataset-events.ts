/**
 * Events for any declared dataset, generated from its field declarations alone (no code per dataset): ids,
 * integers within min/max (at least 1 where `positive` asks it of the record), decimals at their scale, currencies
 * from the stage's list, enum values and timestamps spread over the reporting day. Optionally a share of duplicates
 * (a producer retry: an earlier event's key again, arriving later) and of invalid records (one field broken each,
 * so validation gives one reason). Deterministic per seed. Orders, clicks, inventory and stock_counts keep their own realistic generators (order-, click- and inventory-generator.ts); this one knows only the declaration.
 */

import type { Dataset, FieldDeclaration } from '../functions/pipeline/datasets.ts';
import { UTC } from '../functions/pipeline/dates.ts';
import { InvalidInputError } from '../functions/pipeline/errors.ts';
import { dayShapedInstants, seededRandom } from './order-generator.ts';

/** A field's value as a producer sends it: ids, decimals, currencies, enums and timestamps as strings. */
export type EventValue = string | number | null;
export type DatasetEvent = Record<string, EventValue>;

/** What a generated record is meant to be: a new event, a retry of an earlier event's key, or invalid. */
export type GeneratedKind = 'event' | 'duplicate' | 'invalid';

export interface GeneratedRecord {
  event: DatasetEvent;
  kind: GeneratedKind;
}

export interface DatasetEventsInput {
  /** The reporting day whose events these are (a day of `timeZone`). */
  day: string;
  /** Records in all: events, duplicates and invalid ones. */
  count: number;
  seed?: number;
  /** The reporting time zone (default UTC). */
  timeZone?: string;
  /** Share of the records that repeat an earlier event's key, 0..1. */
  duplicateShare?: number;
  /** Share of the records made invalid on purpose, 0..1. */
  invalidShare?: number;
  /** The stage's accepted currencies (empty: every code; then a currency field's default, else USD). */
  currencies?: readonly string[];
}

/** How many of each kind `count` records hold: exact, so a test or a demo knows what batch must count. */
export interface PlannedCounts {
  events: number;
  duplicates: number;
  invalid: number;
}

function share(value: number | undefined, what: string): number {
  const s = value ?? 0;
  if (!(s >= 0 && s <= 1)) throw new InvalidInputError(`${what} share must be 0..1, got ${value}`, what);
  return s;
}

/** The exact split of `count` records; a duplicate needs an event before it, so a day with any has one. */
export function plannedCounts(input: Pick<DatasetEventsInput, 'count' | 'duplicateShare' | 'invalidShare'>) {
  const { count } = input;
  if (!Number.isInteger(count) || count < 0) {
    throw new InvalidInputError(`count must be a whole number >= 0, got ${count}`, 'count');
  }
  const duplicateShare = share(input.duplicateShare, 'duplicates');
  const invalidShare = share(input.invalidShare, 'malformed');
  if (duplicateShare + invalidShare > 1) {
    throw new InvalidInputError('duplicate and malformed shares add up to more than 1', 'duplicates');
  }
  const invalid = Math.round(count * invalidShare);
  const duplicates = Math.min(Math.round(count * duplicateShare), Math.max(0, count - invalid - 1));
  return { events: count - invalid - duplicates, duplicates, invalid } satisfies PlannedCounts;
}

/** An id field's values are `<name>-<n>`: `warehouse_id` → `warehouse-3`. */
function idStem(field: string): string {
  return field.replace(/_id$/, '').replaceAll('_', '-');
}

/** Skewed towards small numbers, like popularity: a few hot products, warehouses, users. */
function popular(random: () => number, size: number): number {
  return 1 + Math.floor(random() ** 2 * size);
}

function integerIn(random: () => number, min: number, max: number): number {
  return min + Math.floor(random() * (max - min + 1));
}

const MAX_INTEGER = 999_999_999;

/** Mostly small quantities next to 1 (or the nearest bound), now and then anywhere in the declared range. */
function integerValue(random: () => number, field: IntegerField): number {
  // Validation reads at most 9 digits.
  const min = Math.max(
    -MAX_INTEGER,
    field.min ?? (field.max !== undefined ? Math.min(0, field.max - 100) : 0),
  );
  const max = Math.min(MAX_INTEGER, field.max ?? min + 100);
  if (random() < 0.05) return integerIn(random, min, max);
  const anchor = Math.min(max, Math.max(min, 1));
  return integerIn(random, Math.max(min, anchor - 9), Math.min(max, anchor + 9));
}

type IntegerField = Extract<FieldDeclaration, { type: 'integer' }>;

/**
 * Whether `positive: {unless: …}` lets this record's integer be 0 or less: one of the named enum fields has one of
 * its listed values (inventory: a quantity may be negative on an adjustment only).
 */
function isExempt(field: IntegerField, event: DatasetEvent): boolean {
  const unless = field.positive?.unless ?? {};
  return Object.entries(unless).some(([other, values]) => values.includes(String(event[other])));
}

/**
 * `positive` from the generator's side: a record the rule binds gets an integer of 1 or more (drawn like any other
 * integer, from 1 up); an exempt one keeps its draw, anywhere in [min, max]. `except` is a field left as it is (the
 * one an invalid record breaks).
 */
function honourPositive(
  random: () => number,
  fields: readonly [string, FieldDeclaration][],
  event: DatasetEvent,
  except?: string,
): void {
  for (const [name, field] of fields) {
    if (name === except || field.type !== 'integer' || !field.positive) continue;
    const value = event[name];
    if (typeof value !== 'number' || value >= 1 || isExempt(field, event)) continue;
    event[name] = integerValue(random, { ...field, min: Math.max(1, field.min ?? 1) });
  }
}

/**
 * An integer that breaks `positive` on purpose (0 or less on a record the rule binds), or undefined where it cannot
 * (the record is exempt, or the declared min leaves no such value).
 */
function notPositive(random: () => number, field: IntegerField, event: DatasetEvent): number | undefined {
  if (!field.positive || isExempt(field, event)) return undefined;
  const min = Math.max(-MAX_INTEGER, field.min ?? -MAX_INTEGER);
  if (min > 0) return undefined;
  return integerIn(random, Math.max(min, -9), 0);
}

/** Integer units of 10^-scale → their decimal text (`-1999`, scale 2 → `-19.99`). */
function decimalText(units: number, scale: number): string {
  const digits = String(Math.abs(units)).padStart(scale + 1, '0');
  const whole = scale === 0 ? digits : `${digits.slice(0, -scale)}.${digits.slice(-scale)}`;
  return units < 0 ? `-${whole}` : whole;
}

/**
 * A decimal at the field's scale within its bounds: mostly within the first 500 of the range (prices, weights),
 * now and then anywhere. Drawn as whole units of the finest digits a double holds exactly, padded to the scale.
 */
function decimalValue(random: () => number, field: Extract<FieldDeclaration, { type: 'decimal' }>): string {
  // Validation reads at most 15 digits, `scale` of them after the point.
  const largest = 10 ** (15 - field.scale) - 10 ** -field.scale;
  const min = Math.max(-largest, field.min ?? 0);
  const max = Math.min(largest, field.max ?? min + 1000);
  const typicalMax = random() < 0.05 ? max : Math.min(max, min + 500);
  let exact = field.scale;
  while (exact > 0 && (Math.abs(min) + Math.abs(max)) * 10 ** exact > Number.MAX_SAFE_INTEGER) exact -= 1;
  const unit = 10 ** exact;
  const units = integerIn(random, Math.ceil(min * unit), Math.floor(typicalMax * unit));
  const text = decimalText(units, exact);
  const padding = field.scale - exact;
  if (padding === 0) return text;
  return `${text}${exact === 0 ? '.' : ''}${'0'.repeat(padding)}`;
}

/** A text that is not one of the enum's values. */
function notOneOf(values: readonly string[]): string {
  let text = 'not-declared';
  while (values.includes(text)) text += '-x';
  return text;
}

/** One field broken so that validation rejects it whatever the source (JSON, CSV or Parquet text). */
export function brokenValue(field: FieldDeclaration): string {
  switch (field.type) {
    case 'id':
      return 'x'.repeat(129);
    case 'integer':
      return 'lots';
    case 'decimal':
      return 'abc';
    case 'currency':
      return 'ZZZ';
    case 'timestamp':
      return 'yesterday';
    case 'enum':
      return notOneOf(field.values);
  }
}

/** A field that is not required (`required: false`) is left out of about one record in four. */
function isOmitted(random: () => number, field: FieldDeclaration): boolean {
  return 'required' in field && field.required === false && random() < 0.25;
}

interface FieldContext {
  random: () => number;
  /** The record's number in the day (1, 2, …): key ids are built from it, so keys are unique per day and seed. */
  sequence: number;
  eventTime: Date;
}

/**
 * Random valid events for `ds` over `input.day`, ascending by arrival (a duplicate arrives after the event it
 * repeats; an invalid record takes its own place in the day), each marked with what it is meant to be.
 * `plannedCounts(input)` says exactly how many of each kind come.
 */
export function* datasetEventsForDay(ds: Dataset, input: DatasetEventsInput): Generator<GeneratedRecord> {
  const planned = plannedCounts(input);
  const seed = input.seed ?? 42;
  const timeZone = input.timeZone ?? UTC;
  const values = seededRandom(seed);
  const kinds = seededRandom(seed ^ 0x2545f491);
  const fields = Object.entries(ds.fields);
  const keyIdPrefix = `${input.day.replaceAll('-', '')}s${seed}`;
  const currencies = input.currencies ?? [];

  const fieldValue = (name: string, field: FieldDeclaration, context: FieldContext): EventValue => {
    const { random, sequence, eventTime } = context;
    switch (field.type) {
      case 'id':
        // A key is unique per record; so is an id only the stream requires (it names the send: an event id).
        return ds.key.includes(name) || field.required === 'stream'
          ? `${idStem(name)}-${keyIdPrefix}-${sequence}`
          : `${idStem(name)}-${popular(random, 50)}`;
      case 'integer':
        return integerValue(random, field);
      case 'decimal':
        return decimalValue(random, field);
      case 'currency': {
        const fallback = field.default ?? 'USD';
        const accepted = currencies.length > 0 ? currencies : [fallback];
        const usual = accepted.includes(fallback) ? fallback : (accepted[0] ?? fallback);
        return accepted.length > 1 && random() < 0.2
          ? (accepted[Math.floor(random() * accepted.length)] ?? usual)
          : usual;
      }
      case 'timestamp':
        // Another timestamp of the event (created, shipped …) lies up to an hour before it.
        return name === ds.eventTime
          ? eventTime.toISOString()
          : new Date(eventTime.getTime() - Math.floor(random() * 3_600_000)).toISOString();
      case 'enum':
        return field.values[Math.floor(random() * field.values.length)] ?? null;
    }
  };

  const newEvent = (sequence: number, eventTime: Date): DatasetEvent => {
    const context = { random: values, sequence, eventTime };
    const event: DatasetEvent = {};
    for (const [name, field] of fields) {
      event[name] = isOmitted(values, field) ? null : fieldValue(name, field, context);
    }
    honourPositive(values, fields, event);
    return event;
  };

  /** Recent events a retry may repeat (producers retry soon after the first send). */
  const recent: DatasetEvent[] = [];
  const left = { ...planned };
  let sequence = 0;
  let broken = 0;
  for (const arrival of dayShapedInstants(
    input.day,
    input.count,
    seededRandom(seed ^ 0x5bd1e995),
    timeZone,
  )) {
    // The day curve rounds per hour and may offer a few instants more than asked for.
    if (left.events + left.duplicates + left.invalid === 0) return;
    // Selection sampling: every kind's exact count, spread at random over the day.
    const roll = kinds() * (left.events + left.duplicates + left.invalid);
    let kind: GeneratedKind =
      roll < left.invalid ? 'invalid' : roll < left.invalid + left.duplicates ? 'duplicate' : 'event';
    if (kind === 'duplicate' && recent.length === 0) kind = 'event';
    left[kind === 'event' ? 'events' : kind === 'duplicate' ? 'duplicates' : 'invalid'] -= 1;
    if (kind === 'duplicate') {
      const original = recent[Math.floor(kinds() * recent.length)] as DatasetEvent;
      // The same key, sent again later the same day; the earliest copy is the one every layer keeps.
      const retry = { ...original };
      if (!ds.key.includes(ds.eventTime)) retry[ds.eventTime] = arrival.toISOString();
      yield { event: retry, kind };
      continue;
    }
    sequence += 1;
    const event = newEvent(sequence, arrival);
    if (kind === 'invalid') {
      const [name, field] = fields[broken++ % fields.length] as [string, FieldDeclaration];
      // A positive integer is broken by its rule where the record is bound by it, else like any other field.
      const ruleBroken = field.type === 'integer' ? notPositive(values, field, event) : undefined;
      event[name] = ruleBroken ?? brokenValue(field);
      // Only that field is broken: a broken enum may end an exemption, so the integers it exempted follow the rule.
      honourPositive(values, fields, event, name);
      yield { event, kind };
      continue;
    }
    recent.push(event);
    if (recent.length > 64) recent.shift();
    yield { event, kind };
  }
}
