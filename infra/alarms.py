"""The stack's alarms and its dashboard: what tells an operator that a flow is failing, and where to look.

Every alarm notifies the alarm topic (ALARM_TOPIC, encrypted by
infra/hardening.py, e-mailed to the stack's AlarmEmail) when it fires and when
it clears, and reads missing data as fine: a queue nobody used is not broken.

Two places build them. The queues' alarms (a message in a dead-letter queue,
a message waiting too long) and the API's 5xx rate are part of the template
built from infra/resources.py (infra/cloudformation.py), so they deploy with
the resources they watch, even as a stack of their own. The functions' alarms,
the log volume alarm and the dashboard need Chalice's functions: `add_alarms`
is the packaging's alarms step (infra/package.py).
"""
import json

from infra import identity
from infra.resources import RESOURCES, Queue
from infra.stage import Stage, dlq_name

ALARM_TOPIC = "AlarmTopic"
ALARM_PERIOD = 300


def alarm(name: str, description: str, namespace: str, metric: str, dimensions: dict, statistic: str,
          threshold: float, comparison: str = "GreaterThanThreshold") -> dict:
    return {"Type": "AWS::CloudWatch::Alarm", "Properties": {
        "AlarmName": name, "AlarmDescription": description,
        "Namespace": namespace, "MetricName": metric,
        "Dimensions": [{"Name": k, "Value": v} for k, v in dimensions.items()],
        "Statistic": statistic, "Period": ALARM_PERIOD, "EvaluationPeriods": 1, "Threshold": threshold,
        "ComparisonOperator": comparison, "TreatMissingData": "notBreaching",
        "AlarmActions": [{"Ref": ALARM_TOPIC}], "OKActions": [{"Ref": ALARM_TOPIC}],
    }}


def queue_alarms(stage: Stage, logical_id: str, queue: Queue) -> dict:
    """A work queue's: a message in its dead-letter queue, and a message waiting too long in it."""
    name = stage.resource_name(logical_id)
    prefix = f"{stage.app_name}-{stage.name}"
    oldest = stage.settings.oldest_message_alarm_seconds
    return {
        f"{logical_id}DlqAlarm": alarm(
            f"{prefix}-{logical_id}-dlq-not-empty", f"Messages in {dlq_name(name)}: each failed "
            f"{queue.max_receive_count} times; read them, fix the cause, redrive",
            "AWS/SQS", "ApproximateNumberOfMessagesVisible", {"QueueName": dlq_name(name)}, "Maximum", 0),
        f"{logical_id}AgeAlarm": alarm(
            f"{prefix}-{logical_id}-oldest-message", f"A message has waited over "
            f"{oldest} s in {name}: its consumer is failing or too slow",
            "AWS/SQS", "ApproximateAgeOfOldestMessage", {"QueueName": name}, "Maximum", oldest),
    }


def api_errors_alarm(stage: Stage) -> dict:
    """The share of API requests answered 5xx over the stage's threshold."""
    rate = stage.settings.api_5xx_rate_alarm
    # 5XXError is 0 or 1 per request, so its average is the share of requests that failed.
    return {"Api5xxAlarm": alarm(
        f"{stage.app_name}-{stage.name}-api-5xx-rate", f"Over {rate:.0%} of API requests answered 5xx",
        "AWS/ApiGateway", "5XXError", {"ApiName": stage.api_name, "Stage": stage.api_stage_name}, "Average", rate)}


def add_alarms(template: dict, stage: Stage, functions: dict[str, str]) -> None:
    """The packaging's alarms step: the workers' errors, the log volume, the dashboard.

    `functions` maps the template's function logical ids to Chalice's names (cloudformation.functions)."""
    add_worker_alarms(template, stage, functions)
    add_log_volume_alarm(template, stage)
    add_dashboard(template, stage, functions)


def add_worker_alarms(template: dict, stage: Stage, functions: dict[str, str]) -> None:
    for logical_id, function in functions.items():
        if function == "api_handler":  # its failures are the API's 5xx, alarmed on their rate
            continue
        if function == identity.AUTHORIZER:  # it "fails" with Unauthorized for every refused token: a 401
            continue
        template["Resources"][f"{logical_id}ErrorsAlarm"] = alarm(
            f"{stage.lambda_function_name(function)}-errors",
            f"{function} raised: a batch it could not process at all, or an upload it could not read",
            "AWS/Lambda", "Errors", {"FunctionName": {"Ref": logical_id}}, "Sum", 0)


def add_log_volume_alarm(template: dict, stage: Stage) -> None:
    """Log lines processed per hour over the stage's threshold: the upload caps bound one upload, not many."""
    from chalicelib.metrics import DIMENSION, NAMESPACE  # the EMF the worker writes (LogLinesProcessed)
    threshold = stage.settings.log_lines_per_hour_alarm
    volume = alarm(f"{stage.app_name}-{stage.name}-log-lines-per-hour",
                   f"Over {threshold:,} log lines processed in an hour (at $0.67-0.80 per million): "
                   "the uploads behind it are in GET /log-batches (a loop writing to the input bucket?)",
                   NAMESPACE, "LogLinesProcessed", {DIMENSION: stage.environment.get("STAGE", stage.name)}, "Sum",
                   threshold)
    volume["Properties"]["Period"] = 3600
    template["Resources"]["LogLinesPerHourAlarm"] = volume


def add_dashboard(template: dict, stage: Stage, functions: dict[str, str]) -> None:
    """One page for the flows: queues, dead letters, workers, the API."""
    queues = [stage.resource_name(lid) for lid, r in RESOURCES.items() if isinstance(r, Queue)]
    workers = [stage.lambda_function_name(f) for f in functions.values() if f != "api_handler"]
    api = {"ApiName": stage.api_name, "Stage": stage.api_stage_name}

    def widget(title, metrics, stat="Maximum", x=0, y=0):
        return {"type": "metric", "x": x, "y": y, "width": 12, "height": 6, "properties": {
            "title": title, "region": "${AWS::Region}", "stat": stat, "period": 60, "view": "timeSeries",
            "metrics": metrics}}

    def per(namespace, metric, dimension, values, **options):
        return [[namespace, metric, dimension, value, options] if options else [namespace, metric, dimension, value]
                for value in values]

    body = {"widgets": [
        widget("Messages waiting (work queues)", per("AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName",
                                                     queues), x=0, y=0),
        widget("Dead-letter queues (should be 0)", per("AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName",
                                                       [dlq_name(q) for q in queues]), x=12, y=0),
        widget("Oldest message age (s)", per("AWS/SQS", "ApproximateAgeOfOldestMessage", "QueueName", queues),
               x=0, y=6),
        widget("Worker errors", per("AWS/Lambda", "Errors", "FunctionName", workers), stat="Sum", x=12, y=6),
        widget("Worker duration p99 (ms)", per("AWS/Lambda", "Duration", "FunctionName", workers), stat="p99",
               x=0, y=12),
        widget("API latency (ms)", [["AWS/ApiGateway", "Latency", *sum(api.items(), ()), {"stat": "p50"}],
                                    ["AWS/ApiGateway", "Latency", *sum(api.items(), ()), {"stat": "p99"}]],
               x=12, y=12),
        widget("API requests and errors", [["AWS/ApiGateway", m, *sum(api.items(), ())]
                                           for m in ("Count", "4XXError", "5XXError")], stat="Sum", x=0, y=18),
    ]}
    template["Resources"]["FlowsDashboard"] = {"Type": "AWS::CloudWatch::Dashboard", "Properties": {
        "DashboardName": f"{stage.app_name}-{stage.name}",
        "DashboardBody": {"Fn::Sub": json.dumps(body)},
    }}
