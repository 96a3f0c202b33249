import { randomUUID } from 'node:crypto';
import type { ScheduledEvent } from 'aws-lambda';
import type { InvocationOutcome } from './function-host.ts';
import { LOCAL_ACCOUNT_ID, LOCAL_REGION } from './local-resources.ts';
import type { ScaledClock } from './scaled-clock.ts';
import { nextFireTime, parseSchedule, type Schedule } from './schedule-expression.ts';
import type { SchedulePlan, ScheduleTargetPlan } from './template-plan.ts';

/**
 * Fires EventBridge schedules on the (possibly scaled) local clock. Each target gets an EventBridge-shaped
 * `Scheduled Event` whose `time` is the scheduled time on that clock, or the rule's constant `Input`. A target
 * runs one event at a time; an event older than the target's MaximumEventAgeInSeconds (scaled) is dropped, as
 * EventBridge drops it, so a fast clock cannot pile up work.
 */

export interface SchedulerOptions {
  clock: ScaledClock;
  invoke: (functionId: string, event: unknown) => Promise<InvocationOutcome>;
  onFire?: (report: FireReport) => void;
}

export interface FireReport {
  ruleId: string;
  functionId: string;
  time: string;
  outcome?: InvocationOutcome;
  dropped?: string;
}

/** The scheduled event EventBridge sends for `ruleId` at `time` (whole seconds, like EventBridge). */
export function scheduledEvent(ruleId: string, time: Date): ScheduledEvent {
  return {
    version: '0',
    id: randomUUID(),
    'detail-type': 'Scheduled Event',
    source: 'aws.events',
    account: LOCAL_ACCOUNT_ID,
    time: `${time.toISOString().slice(0, 19)}Z`,
    region: LOCAL_REGION,
    resources: [`arn:aws:events:${LOCAL_REGION}:${LOCAL_ACCOUNT_ID}:rule/${ruleId}`],
    detail: {},
  };
}

interface TargetState {
  rule: SchedulePlan;
  target: ScheduleTargetPlan;
  queue: Date[];
  running: Promise<void> | undefined;
}

export class Scheduler {
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly targets: TargetState[] = [];
  private stopped = false;

  constructor(
    private readonly rules: readonly SchedulePlan[],
    private readonly options: SchedulerOptions,
  ) {}

  /** Next fire time of each enabled rule on the local clock. */
  upcoming(): { rule: SchedulePlan; next: Date | undefined }[] {
    const now = this.options.clock.now();
    return this.rules
      .filter((r) => r.enabled)
      .map((rule) => ({ rule, next: nextFireTime(parseSchedule(rule.expression), now) }));
  }

  start(): void {
    const anchor = this.options.clock.now();
    for (const rule of this.rules) {
      if (!rule.enabled) continue;
      const schedule = parseSchedule(rule.expression);
      const states = rule.targets.map((target) => {
        const state: TargetState = { rule, target, queue: [], running: undefined };
        this.targets.push(state);
        return state;
      });
      this.arm(schedule, anchor, anchor, states);
    }
  }

  /** Fires every enabled rule once now (demo and test convenience), waiting for the invocations. */
  async fireAll(filter: (rule: SchedulePlan) => boolean = () => true): Promise<void> {
    const now = this.options.clock.now();
    await Promise.all(
      this.rules
        .filter((r) => r.enabled && filter(r))
        .flatMap((rule) => rule.targets.map((target) => this.deliver(rule, target, now))),
    );
  }

  /** Stops firing and waits for running invocations. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    for (const state of this.targets) state.queue.length = 0;
    await Promise.all(this.targets.map((s) => s.running));
  }

  private arm(schedule: Schedule, after: Date, anchor: Date, states: TargetState[]): void {
    if (this.stopped) return;
    const next = nextFireTime(schedule, after, anchor);
    if (!next) return;
    // setTimeout caps at ~24.8 days; re-arm in steps for far-away crons.
    const delay = Math.min(this.options.clock.realDelayUntil(next), 2 ** 30);
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      if (this.options.clock.now() < next) {
        this.arm(schedule, new Date(next.getTime() - 1), anchor, states);
        return;
      }
      for (const state of states) this.enqueue(state, next);
      this.arm(schedule, next, anchor, states);
    }, delay);
    this.timers.add(timer);
  }

  private enqueue(state: TargetState, time: Date): void {
    state.queue.push(time);
    if (!state.running) {
      state.running = this.drain(state).finally(() => {
        state.running = undefined;
      });
    }
  }

  private async drain(state: TargetState): Promise<void> {
    for (let time = state.queue.shift(); time && !this.stopped; time = state.queue.shift()) {
      await this.deliver(state.rule, state.target, time);
    }
  }

  private async deliver(rule: SchedulePlan, target: ScheduleTargetPlan, time: Date): Promise<void> {
    const report = { ruleId: rule.logicalId, functionId: target.functionId, time: time.toISOString() };
    const ageSeconds = (this.options.clock.now().getTime() - time.getTime()) / 1000;
    if (target.maxEventAgeSeconds !== undefined && ageSeconds > target.maxEventAgeSeconds) {
      this.options.onFire?.({ ...report, dropped: `older than ${target.maxEventAgeSeconds} s` });
      return;
    }
    const event = target.input !== undefined ? target.input : scheduledEvent(rule.logicalId, time);
    const outcome = await this.options.invoke(target.functionId, event);
    this.options.onFire?.({ ...report, outcome });
  }
}
