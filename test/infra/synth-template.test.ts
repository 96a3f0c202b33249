import { beforeAll, describe, expect, it } from 'vitest';
import { QUERY_ROUTES } from '../../lib/constructs/query-api.ts';
import { synthTemplate, type TemplateJson } from '../../lib/synth.ts';

let template: TemplateJson;

beforeAll(() => {
  template = synthTemplate('dev');
});

const ofType = (type: string) =>
  Object.entries(template.Resources).filter(([, resource]) => resource.Type === type);

/** Asset hashes and S3 keys change with every code edit; the wiring is what the snapshot guards. */
function normalize(value: unknown): unknown {
  return JSON.parse(
    JSON.stringify(value)
      .replace(/[0-9a-f]{64}(\.zip|\.json)?/g, '<asset-hash>$1')
      .replace(/"S3Key":"[^"]+"/g, '"S3Key":"<asset-key>"'),
  );
}

describe('synthTemplate', () => {
  it('returns storage and compute as one template the local runtime can read', () => {
    // A queue and a DLQ, and one mapping, per shipped stream (orders, clicks, inventory).
    expect(ofType('AWS::SQS::Queue')).toHaveLength(6);
    expect(ofType('AWS::Lambda::EventSourceMapping')).toHaveLength(3);
    // Schedules: run-batch, compact-realtime, reconcile-views and evaluate-alerts.
    expect(ofType('AWS::Events::Rule')).toHaveLength(4);
    expect(ofType('AWS::ApiGatewayV2::Route')).toHaveLength(QUERY_ROUTES.length);
  });

  it('resolves cross-stack imports to the storage resources they point at', () => {
    expect(JSON.stringify(template)).not.toContain('Fn::ImportValue');
    const sources = ofType('AWS::Lambda::EventSourceMapping').map(
      ([, mapping]) => mapping.Properties?.['EventSourceArn'],
    );
    const queues = ofType('AWS::SQS::Queue')
      .filter(([, queue]) => queue.Properties?.['RedrivePolicy'])
      .map(([queueId]) => ({ 'Fn::GetAtt': [queueId, 'Arn'] }));
    expect(queues.map(({ 'Fn::GetAtt': [id] }) => id).sort()).toEqual([
      'ClicksQueueEC57A6EC',
      'InventoryQueue4D3B3B9B',
      'OrdersQueueC538DD4C',
    ]);
    expect(sources).toEqual(expect.arrayContaining(queues));
    expect(sources).toHaveLength(queues.length);
  });

  it('applies config overrides', () => {
    const tuned = synthTemplate('dev', { stream: { batchSize: 42 } });
    const [, mapping] = Object.entries(tuned.Resources).find(
      ([, resource]) => resource.Type === 'AWS::Lambda::EventSourceMapping',
    )!;
    expect(mapping.Properties?.['BatchSize']).toBe(42);
  });

  it('matches the reviewed snapshot (asset hashes normalized)', () => {
    expect(normalize(template)).toMatchSnapshot();
  });
});
