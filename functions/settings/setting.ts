import { InvalidInputError } from '../pipeline/errors.ts';

/**
 * One operational setting (a threshold, a gate, a window), defined once: its names in every layer, its default
 * and what values it accepts. The function's `env.ts`, the CLI flag, the stage config's validation, the CDK
 * environment and the core's own checks all read the same definition, so they accept and refuse the same
 * values, with the same words: `<subject> must be <rule>, got <value>`, where the subject is what the reader
 * wrote (the env variable, the flag, `section.key` of the stage config, the core's name).
 */
export interface Setting<T> {
  /** How the core names it in its messages (`threshold`). */
  readonly name: string;
  /** The environment variable the function reads at cold start (`DEVIATION_THRESHOLD`). */
  readonly env: string;
  /** Where a stage sets it (`reconcile.deviationThreshold`); absent = not per stage, the function uses the default. */
  readonly stage?: string;
  /** The CLI flag with its value name (`--threshold <fraction>`), when a command takes one. */
  readonly flag?: string;
  readonly default: T;
  /** What it does, in a few words (the flag's help). */
  readonly description: string;
  /** What a valid value is, in words (`a whole number 0..31`). */
  readonly rule: string;
  /** The value a text (environment variable, flag) stands for, checked. @throws InvalidInputError naming `subject`. */
  parse(text: string, subject?: string): T;
  /** `value`, checked. @throws InvalidInputError naming `subject`. */
  check(value: T, subject?: string): T;
  /** The text that stands for `value` (what CDK puts in the environment). */
  render(value: T): string;
}

/** Settings a function reads, by the name its code uses for each value. */
export type SettingGroup = Readonly<Record<string, Setting<unknown>>>;

/** The values of a group's settings, typed. */
export type SettingValues<G extends SettingGroup> = {
  -readonly [K in keyof G]: G[K] extends Setting<infer T> ? T : never;
};

/** `--lookback-days` → `lookback-days`: the parameter an InvalidInputError names. */
function parameterOf(subject: string): string {
  return subject.replace(/^--/, '');
}

/** The one refusal wording of every layer. */
export function refuse(subject: string, rule: string, got: string): never {
  throw new InvalidInputError(`${subject} must be ${rule}, got ${got}`, parameterOf(subject));
}

export interface NumberSettingSpec {
  readonly name: string;
  readonly env: string;
  readonly stage?: string;
  readonly flag?: string;
  readonly default: number;
  readonly description: string;
  /** Whole numbers only. */
  readonly integer?: boolean;
  /** Words the rule uses for the kind of number (`fraction`); default `number`. */
  readonly noun?: string;
  readonly min?: number;
  /** `min` itself is refused (`> 0` instead of `≥ 0`). */
  readonly minExclusive?: boolean;
  readonly max?: number;
  /** Said after the range, in parentheses (`0.1 = 10 %`). */
  readonly example?: string;
}

/** A number setting; its range also makes its `rule`, so the words cannot drift from the check. */
export interface NumberSetting extends Setting<number> {
  accepts(value: number): boolean;
}

function numberRule(spec: NumberSettingSpec): string {
  const { min, max, example } = spec;
  let rule: string;
  if (spec.integer && min !== undefined && max !== undefined && !spec.minExclusive) {
    rule = `a whole number ${min}..${max}`;
  } else {
    const bounds = [
      min === undefined ? undefined : `${spec.minExclusive ? '>' : '≥'} ${min}`,
      max === undefined ? undefined : `≤ ${max}`,
    ].filter((bound) => bound !== undefined);
    rule = `${spec.integer ? 'a whole number' : `a ${spec.noun ?? 'number'}`}${bounds.length ? ` ${bounds.join(' and ')}` : ''}`;
  }
  return example ? `${rule} (${example})` : rule;
}

/** A value as a message shows it: numbers as written, anything else as JSON. */
export function shown(value: unknown): string {
  return typeof value === 'number' ? String(value) : (JSON.stringify(value) ?? String(value));
}

const DECIMAL = /^[+-]?(?:\d+\.?\d*|\.\d+)$/;

export function numberSetting(spec: NumberSettingSpec): NumberSetting {
  const rule = numberRule(spec);
  const accepts = (value: number): boolean =>
    typeof value === 'number' &&
    Number.isFinite(value) &&
    (!spec.integer || Number.isInteger(value)) &&
    (spec.min === undefined || (spec.minExclusive ? value > spec.min : value >= spec.min)) &&
    (spec.max === undefined || value <= spec.max);
  const setting: NumberSetting = {
    name: spec.name,
    env: spec.env,
    ...(spec.stage === undefined ? {} : { stage: spec.stage }),
    ...(spec.flag === undefined ? {} : { flag: spec.flag }),
    default: spec.default,
    description: spec.description,
    rule,
    accepts,
    parse(text, subject = spec.name) {
      const value = Number(text.trim());
      if (!DECIMAL.test(text.trim()) || !accepts(value)) refuse(subject, rule, JSON.stringify(text));
      return value;
    },
    check(value, subject = spec.name) {
      if (!accepts(value)) refuse(subject, rule, shown(value));
      return value;
    },
    render: (value) => String(value),
  };
  if (!accepts(spec.default))
    throw new Error(`setting ${spec.env}: its default ${spec.default} is not ${rule}`);
  return setting;
}

/** Reads a group of settings from an environment: unset or blank = the default; anything else is checked. */
export function settingsFromEnv<G extends SettingGroup>(group: G, env: NodeJS.ProcessEnv): SettingValues<G> {
  const values: Record<string, unknown> = {};
  for (const [key, setting] of Object.entries(group)) {
    const raw = env[setting.env];
    values[key] = raw === undefined || raw.trim() === '' ? setting.default : setting.parse(raw, setting.env);
  }
  return values as SettingValues<G>;
}
