import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { PublishCommandInput, SNSClient } from '@aws-sdk/client-sns';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { describe, expect, it } from 'vitest';
import { lake } from '../../functions/pipeline/lake-layout.ts';
import type { LogPort } from '../../functions/pipeline/ports.ts';
import { fanOutAlerts, lakeAlertSink, snsAlertSink } from '../../functions/reconcile/alert-sinks.ts';
import { sqsDlqProbe } from '../../functions/reconcile/dlq-probe.ts';
import { reconcile } from '../../functions/reconcile/reconcile.ts';
import type { ReconciliationAlert } from '../../functions/reconcile/run-record.ts';
import { testDeps } from '../support/lake.ts';
import { useLocalSqs } from '../support/local-aws.ts';
import { useTempDirs } from '../support/temp-dir.ts';
import { makeOrders, NOW, publishBatch, reconcileDeps, streamIn } from './lake-builder.ts';

const tempDir = useTempDirs();
const sqs = useLocalSqs();

/** A real alert from a day whose stream missed 10 of 40 orders. */
async function realAlert(): Promise<{ alert: ReconciliationAlert; dir: string }> {
  const dir = tempDir();
  const deps = testDeps(dir, NOW);
  const orders = makeOrders(40, { hours: [14] });
  await publishBatch(dir, deps, orders);
  await streamIn(deps, orders.slice(0, 30), 15);
  const rdeps = reconcileDeps(deps.store);
  await reconcile({ now: NOW }, rdeps);
  const alert = rdeps.alerts.published[0];
  if (!alert) throw new Error('expected an alert');
  return { alert, dir };
}

describe('alert sinks and the DLQ probe', () => {
  it('SNS gets a subject saying where and how much, and the alert as the message', async () => {
    const { alert } = await realAlert();
    const sent: PublishCommandInput[] = [];
    const client = { send: async (command: { input: PublishCommandInput }) => sent.push(command.input) };

    await snsAlertSink(client as unknown as SNSClient, 'arn:aws:sns:us-east-1:123456789012:alerts').publish(
      alert,
    );

    expect(sent).toHaveLength(1);
    expect(sent[0]?.TopicArn).toBe('arn:aws:sns:us-east-1:123456789012:alerts');
    expect(sent[0]?.Subject).toBe(
      `Twinflow batch/realtime deviation ${(Number(alert.how_much.max_abs_deviation) * 100).toFixed(1)}% on 2026-11-20 hour 14 product ${alert.where.product_id}`,
    );
    expect(sent[0]?.Subject?.length).toBeLessThanOrEqual(100);
    expect(JSON.parse(sent[0]?.Message ?? '')).toEqual(alert);
  });

  it('the lake sink writes the alert file the dashboard reads and logs a warning; fan-out reaches both sinks', async () => {
    const { alert, dir } = await realAlert();
    const warnings: string[] = [];
    const log: LogPort = { info: () => {}, error: () => {}, warn: (message) => warnings.push(message) };
    let failing = 0;
    const broken = {
      publish: async () => {
        failing += 1;
        throw new Error('SNS unavailable');
      },
    };

    const publishing = fanOutAlerts(broken, lakeAlertSink(testDeps(dir).store, log)).publish(alert);

    await expect(publishing).rejects.toThrow('SNS unavailable');
    expect(failing).toBe(1);
    const stored = JSON.parse(
      readFileSync(path.join(dir, lake.alert(alert.where.day, alert.alert_id)), 'utf8'),
    );
    expect(stored).toEqual(alert);
    expect(warnings).toEqual(['reconciliation alert']);
  });

  it('the DLQ probe reads ApproximateNumberOfMessages from SQS', async () => {
    const { dlqUrl } = await sqs.queueWithDlq();
    for (const body of ['{"a":1}', '{"a":2}', '{"a":3}']) {
      await sqs.client.send(new SendMessageCommand({ QueueUrl: dlqUrl, MessageBody: body }));
    }

    expect(await sqsDlqProbe(sqs.client, dlqUrl).approximateMessages()).toBe(3);
  });
});
