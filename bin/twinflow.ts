import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { stageConfig } from '../lib/stage-config.ts';
import { addTwinflowStage } from '../lib/twinflow-app.ts';

// The only place that reads deployment config: `cdk synth -c stage=prod`.
const app = new App();
const stage = String(app.node.tryGetContext('stage') ?? 'dev');
const config = stageConfig(stage);
const account = process.env['CDK_DEFAULT_ACCOUNT'];
const region = process.env['CDK_DEFAULT_REGION'];

addTwinflowStage(app, config, account && region ? { account, region } : undefined);
// cdk-nag v3 runs as a policy validation plugin: any unacknowledged AwsSolutions finding fails `cdk synth`.
// Acknowledgments live next to the construct that causes them, each with its reason.
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
