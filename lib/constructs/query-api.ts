import { CfnOutput, Duration, RemovalPolicy } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import * as apigw from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpIamAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { listBalances } from '../../functions/pipeline/datasets.ts';
import { metricRoutePaths } from '../../functions/serving/metric-model.ts';
import type { ApiAuthMode } from '../stage-config.ts';

/**
 * Every route the query function serves (see functions/query-sales/handler.ts): the fixed ones plus
 * `/metrics/<model>`, `/metrics/<model>/windows` and `/metrics/<model>/top` for every minute model and `/<balance>`
 * for every balance declared now
 * (`TWINFLOW_DATASETS_DIR` or `datasets/`). test/infra checks this equals the handler's route table.
 */
export function queryRoutes(): string[] {
  return [
    '/sales',
    '/sales/windows',
    ...metricRoutePaths(),
    ...listBalances().flatMap((b) => [`/${b.name}`, `/${b.name}/discrepancies`]),
    '/datasets',
    '/health',
    '/reconciliation',
    '/alerts',
    '/ops/summary',
    '/dashboard',
  ];
}

/** The routes of the declared datasets when this module was loaded. */
export const QUERY_ROUTES: readonly string[] = queryRoutes();

export interface QueryApiProps {
  readonly function: lambda.IFunction;
  /** `iam` (default everywhere): SigV4-signed requests only. `none`: open, for throwaway stages. */
  readonly authMode: ApiAuthMode;
  readonly corsOrigins: readonly string[];
  readonly throttling: { readonly rateLimit: number; readonly burstLimit: number };
  readonly logRetentionDays: number;
  readonly retainData: boolean;
}

/**
 * The serving layer's HTTP API (API Gateway v2, payload 2.0): read-only GET routes to the query function,
 * IAM-authorised by default, throttled on the default stage, with JSON access logs.
 */
export class QueryApi extends Construct {
  readonly api: apigw.HttpApi;
  readonly stage: apigw.HttpStage;
  readonly url: string;

  constructor(scope: Construct, id: string, props: QueryApiProps) {
    super(scope, id);
    const accessLogs = new logs.LogGroup(this, 'AccessLogs', {
      retention: props.logRetentionDays as logs.RetentionDays,
      removalPolicy: props.retainData ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
    });

    this.api = new apigw.HttpApi(this, 'HttpApi', {
      description: 'Twinflow serving layer: merged batch + realtime sales views',
      createDefaultStage: false,
      defaultAuthorizer: props.authMode === 'iam' ? new HttpIamAuthorizer() : new apigw.HttpNoneAuthorizer(),
      corsPreflight:
        props.corsOrigins.length > 0
          ? {
              allowOrigins: [...props.corsOrigins],
              allowMethods: [apigw.CorsHttpMethod.GET, apigw.CorsHttpMethod.OPTIONS],
              allowHeaders: ['authorization', 'content-type', 'x-amz-date', 'x-amz-security-token'],
              maxAge: Duration.hours(1),
            }
          : undefined,
    });

    this.stage = this.api.addStage('DefaultStage', {
      stageName: '$default',
      autoDeploy: true,
      throttle: { rateLimit: props.throttling.rateLimit, burstLimit: props.throttling.burstLimit },
      accessLogSettings: {
        destination: new apigw.LogGroupLogDestination(accessLogs),
        format: AccessLogFormat.custom(
          JSON.stringify({
            requestId: '$context.requestId',
            ip: '$context.identity.sourceIp',
            caller: '$context.identity.caller',
            requestTime: '$context.requestTime',
            routeKey: '$context.routeKey',
            status: '$context.status',
            responseLength: '$context.responseLength',
            integrationLatency: '$context.integrationLatency',
            integrationError: '$context.integrationErrorMessage',
          }),
        ),
      },
    });

    const integration = new HttpLambdaIntegration('QueryIntegration', props.function);
    for (const path of queryRoutes()) {
      this.api.addRoutes({ path, methods: [apigw.HttpMethod.GET], integration });
    }

    this.url = this.stage.url;
    new CfnOutput(this, 'Url', { value: this.url, description: 'Twinflow query API base URL' });
  }
}
