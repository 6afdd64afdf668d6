/**
 * What an operator needs for one stage: alarms on what hurts callers (5xx rate, Lambda errors
 * and throttles, p99 duration at the app's deadline, usage-plan 429s), optionally notifying an
 * SNS topic, and one CloudWatch dashboard with the same figures.
 */
import { Aws, Duration, type Stack } from 'aws-cdk-lib';
import type * as apigateway from 'aws-cdk-lib/aws-apigateway';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sns from 'aws-cdk-lib/aws-sns';
import { resourceNames } from './names.ts';
import type { StageSettings } from './settings.ts';

export interface OperationsOptions {
  name: string;
  stage: StageSettings;
  fn: lambda.Function;
  api: apigateway.RestApi;
  accessLogs: logs.LogGroup;
  deadlineMs: number;
}

/** Namespace of the metrics imagegate derives from access logs. */
export const METRIC_NAMESPACE = 'imagegate';

export function addOperations(stack: Stack, o: OperationsOptions): Record<string, cloudwatch.Alarm> {
  const names = resourceNames(o.name);
  const stage = o.stage.stage;
  const period = Duration.minutes(5);
  const apiStage = o.api.deploymentStage;

  // API Gateway has no metric for 429s: count them from the access log (usage-plan throttle and quota).
  const filter = new logs.MetricFilter(stack, 'TooManyRequestsFilter', {
    logGroup: o.accessLogs,
    filterPattern: logs.FilterPattern.numberValue('$.status', '=', 429),
    metricNamespace: METRIC_NAMESPACE,
    metricName: 'UsagePlan429',
    metricValue: '1',
    defaultValue: 0,
    // One series per API (the access log line carries its API id).
    dimensions: { ApiId: '$.apiId' },
  });
  const tooMany = new cloudwatch.Metric({
    namespace: filter.metric().namespace,
    metricName: 'UsagePlan429',
    dimensionsMap: { ApiId: o.api.restApiId },
    statistic: 'Sum',
    period,
  });

  const metrics = {
    serverErrorRate: apiStage.metricServerError({ statistic: 'Average', period }),
    errors: o.fn.metricErrors({ period }),
    throttles: o.fn.metricThrottles({ period }),
    durationP99: o.fn.metricDuration({ statistic: 'p99', period }),
    tooMany,
  };

  const alarms: Record<string, cloudwatch.Alarm> = {
    serverErrorRate: metrics.serverErrorRate.createAlarm(stack, 'ServerErrorRateAlarm', {
      alarmName: names.alarm(stage, '5xx-rate'),
      alarmDescription: `imagegate ${stage}: more than 5% of API Gateway responses are 5xx`,
      threshold: 0.05,
      evaluationPeriods: 2,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    }),
    errors: metrics.errors.createAlarm(stack, 'LambdaErrorsAlarm', {
      alarmName: names.alarm(stage, 'lambda-errors'),
      alarmDescription: `imagegate ${stage}: the function failed (crash, timeout, out of memory)`,
      threshold: 5,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    }),
    throttles: metrics.throttles.createAlarm(stack, 'LambdaThrottlesAlarm', {
      alarmName: names.alarm(stage, 'lambda-throttles'),
      alarmDescription: `imagegate ${stage}: invocations refused for concurrency (reserved concurrency or the account limit)`,
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    }),
    durationP99: metrics.durationP99.createAlarm(stack, 'DurationP99Alarm', {
      alarmName: names.alarm(stage, 'duration-p99'),
      alarmDescription: `imagegate ${stage}: p99 duration reached the app's deadline (${o.deadlineMs} ms of a ${o.stage.timeoutSeconds} s timeout)`,
      threshold: o.deadlineMs,
      evaluationPeriods: 3,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    }),
    tooMany: tooMany.createAlarm(stack, 'TooManyRequestsAlarm', {
      alarmName: names.alarm(stage, '429s'),
      alarmDescription: `imagegate ${stage}: callers refused by the usage plan (throttle or quota)`,
      threshold: 100,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    }),
  };

  if (o.stage.alarmTopicArn) {
    const topic = sns.Topic.fromTopicArn(stack, 'AlarmTopic', o.stage.alarmTopicArn);
    for (const alarm of Object.values(alarms)) {
      alarm.addAlarmAction(new actions.SnsAction(topic));
      alarm.addOkAction(new actions.SnsAction(topic));
    }
  }

  const dashboard = new cloudwatch.Dashboard(stack, 'Dashboard', {
    // Dashboards are unique per account, not per region.
    dashboardName: names.dashboard(stage, Aws.REGION),
    defaultInterval: Duration.hours(6),
  });
  dashboard.addWidgets(
    new cloudwatch.GraphWidget({
      title: 'Requests and errors (API Gateway)',
      left: [apiStage.metricCount({ period }), apiStage.metricClientError({ period, statistic: 'Sum' }), apiStage.metricServerError({ period, statistic: 'Sum' }), tooMany],
    }),
    new cloudwatch.GraphWidget({
      title: 'Latency (API Gateway, ms)',
      left: [apiStage.metricLatency({ period, statistic: 'p50' }), apiStage.metricLatency({ period, statistic: 'p99' })],
    }),
    new cloudwatch.GraphWidget({
      title: 'Lambda duration (ms)',
      left: [o.fn.metricDuration({ period, statistic: 'p50' }), metrics.durationP99],
      leftAnnotations: [{ value: o.deadlineMs, label: 'app deadline' }, { value: o.stage.timeoutSeconds * 1000, label: 'timeout' }],
    }),
    new cloudwatch.GraphWidget({
      title: 'Lambda errors, throttles, concurrency',
      left: [metrics.errors, metrics.throttles],
      right: [o.fn.metric('ConcurrentExecutions', { period, statistic: 'Maximum' })],
    }),
    new cloudwatch.AlarmStatusWidget({ title: 'Alarms', alarms: Object.values(alarms), width: 24 }),
  );
  return alarms;
}
