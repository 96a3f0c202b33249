import { Duration } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import type { ScheduleExpression } from '../stage-config.ts';

export interface ScheduledJobProps {
  readonly function: lambda.IFunction;
  /** EventBridge expression in UTC, e.g. `cron(0 2 * * ? *)` or `rate(1 hour)`. */
  readonly schedule: ScheduleExpression;
  readonly description: string;
  /** Delivery retries when Lambda cannot be invoked (throttled, unavailable). */
  readonly retryAttempts?: number;
  /** Give up delivering an event older than this; the next run catches up. */
  readonly maxEventAge?: Duration;
}

/**
 * Runs a function on an EventBridge schedule. The scheduled event's `time` is the job's logical time, so a
 * fixture can replay any run; jobs are idempotent, which makes retried deliveries safe.
 */
export class ScheduledJob extends Construct {
  readonly rule: events.Rule;

  constructor(scope: Construct, id: string, props: ScheduledJobProps) {
    super(scope, id);
    this.rule = new events.Rule(this, 'Rule', {
      description: props.description,
      schedule: events.Schedule.expression(props.schedule),
    });
    this.rule.addTarget(
      new targets.LambdaFunction(props.function, {
        retryAttempts: props.retryAttempts ?? 4,
        maxEventAge: props.maxEventAge ?? Duration.hours(1),
      }),
    );
  }
}
