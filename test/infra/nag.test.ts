import { App, Stack, Validations } from 'aws-cdk-lib';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { describe, expect, it } from 'vitest';
import { buildStage } from '../../lib/synth.ts';
import { datasetsWithFixtures, withDatasetsDir } from './helpers.ts';

/**
 * cdk-nag v3 is a CDK policy-validation plugin (not an Aspect): `app.synth()` throws on any unacknowledged
 * finding, and acknowledgments are `Validations.of(construct).acknowledge({ id, reason })`.
 */
function findings(stage: string): string[] {
  const { app } = buildStage(stage);
  app.synth();
  const report = new AwsSolutionsChecks().validateScope(app);
  return report.violations.flatMap((violation) =>
    violation.violatingResources.map((resource) => `${violation.ruleName} at ${resource.constructPath}`),
  );
}

function acknowledgments(root: IConstruct): { path: string; id: string; reason: string }[] {
  return root.node.findAll().flatMap((construct) =>
    construct.node.metadata
      .filter((entry) => entry.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
      .flatMap((entry) =>
        Object.entries(entry.data as Record<string, string>).map(([id, reason]) => ({
          path: construct.node.path,
          id,
          reason,
        })),
      ),
  );
}

describe('cdk-nag AwsSolutions', () => {
  it.each(['dev', 'prod'])('%s has no unacknowledged findings', (stage) => {
    expect(findings(stage)).toEqual([]);
  });

  it('stays clean with datasets added (a streamed and a batch-only one): their grants are acknowledged per prefix', () => {
    const project = datasetsWithFixtures('stock_moves', 'shelf_audits');
    try {
      const found = withDatasetsDir(project.dir, () => findings('prod'));
      const { app } = withDatasetsDir(project.dir, () => buildStage('prod'));

      expect(found).toEqual([]);
      expect(app.node.findAll().some((c) => c.node.path.endsWith('IngestStockMoves/Function'))).toBe(true);
    } finally {
      project.remove();
    }
  });

  it('passes as a validation plugin during synth, with CloudFormation schema validation, as `cdk synth` runs it', () => {
    const { app } = buildStage('prod', {}, { cfnValidation: true });
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));

    expect(() => app.synth()).not.toThrow();
  });

  it('every acknowledgment names one rule finding and gives a specific reason', () => {
    const { app } = buildStage('prod');
    const acks = acknowledgments(app);

    expect(acks.length).toBeGreaterThan(0);
    for (const ack of acks) {
      expect(ack.id, ack.path).toMatch(/^(AwsSolutions-[A-Z]+\d+(\[.+\])?|Annotation::.+)$/);
      expect(ack.reason.length, `${ack.id} at ${ack.path}`).toBeGreaterThanOrEqual(40);
    }
    // Wildcard resources are acknowledged one prefix at a time, never for the whole rule.
    expect(acks.some((ack) => ack.id === 'AwsSolutions-IAM5')).toBe(false);
  });

  it('catches a non-compliant resource (the check is live)', () => {
    const app = new App();
    new sqs.Queue(new Stack(app, 'Probe'), 'Unencrypted', { encryption: sqs.QueueEncryption.UNENCRYPTED });
    app.synth();

    const rules = new AwsSolutionsChecks()
      .validateScope(app)
      .violations.map((violation) => violation.ruleName);
    expect(rules).toEqual(
      expect.arrayContaining(['AwsSolutions-SQS2', 'AwsSolutions-SQS3', 'AwsSolutions-SQS4']),
    );
  });
});
