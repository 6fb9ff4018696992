"""Prints what template.yaml sets up for monitoring, as JSON, for tests/api/template.rs.

Read with cfn-lint's own decoder, as template_routes.py does. An intrinsic is printed
as its short form (`!Ref X`, `!GetAtt X.Arn`; anything else as compact JSON), so a test
compares plain strings. The shape:

- functions: every AWS::Serverless::Function - its binary, whether an HttpApi event
  reaches it, its environment after SAM merges Globals into it, and its log group;
- parameters: every parameter's default, as a string ("" when it has none);
- access_log: the HttpApi's access log group and its retention, the format parsed as
  JSON (it must be), and every $context variable the format names;
- alarms: every AWS::CloudWatch::Alarm - its condition, actions, the metrics it reads
  ("namespace:name"), its statistic, and the function its FunctionName dimension names;
- metric_filters: every AWS::Logs::MetricFilter - its log group, the function that group
  belongs to, the pattern (a !FindInMap resolved) and the metric it writes.
"""
import json
import re
import sys

from cfnlint.decode import decode

template, matches = decode(sys.argv[1] if len(sys.argv) > 1 else "template.yaml")
if matches:
    sys.exit("template.yaml does not parse: " + "; ".join(str(m) for m in matches))

resources = template["Resources"]


def render(value):
    """A value as a plain string: intrinsics in their short form."""
    if isinstance(value, dict) and len(value) == 1:
        (key, arg), = value.items()
        if key == "Ref":
            return f"!Ref {arg}"
        if key == "Fn::GetAtt":
            return "!GetAtt " + (".".join(arg) if isinstance(arg, list) else arg)
        if key == "Fn::FindInMap":
            return render(template["Mappings"][arg[0]][arg[1]][arg[2]])
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True, separators=(",", ":"))
    return str(value)


def ref(value):
    """The logical id a !Ref names, else None."""
    return value.get("Ref") if isinstance(value, dict) else None


def of_type(kind):
    return [(name, r) for name, r in resources.items() if r.get("Type") == kind]


# The function whose log group is /aws/lambda/${XFunction}.
log_group_owner = {}
for name, group in of_type("AWS::Logs::LogGroup"):
    sub = group.get("Properties", {}).get("LogGroupName", {})
    found = re.fullmatch(r"/aws/lambda/\$\{(\w+)\}", sub.get("Fn::Sub", "") if isinstance(sub, dict) else "")
    if found:
        log_group_owner[name] = found.group(1)

global_env = template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
functions = []
for name, function in of_type("AWS::Serverless::Function"):
    props = function.get("Properties", {})
    env = {**global_env, **props.get("Environment", {}).get("Variables", {})}
    functions.append({
        "resource": name,
        "binary": function.get("Metadata", {}).get("BuildProperties", {}).get("Binary"),
        "build": {k: v for k, v in function.get("Metadata", {}).items() if k in ("BuildMethod", "ContextPath")},
        "http": any(e.get("Type") == "HttpApi" for e in props.get("Events", {}).values()),
        "env": {k: render(v) for k, v in sorted(env.items())},
        "log_group": next((g for g, owner in log_group_owner.items() if owner == name), None),
    })

api = next(r for _, r in of_type("AWS::Serverless::HttpApi"))
settings = api.get("Properties", {}).get("AccessLogSettings", {})
access_format = settings.get("Format", "")
access_group = settings.get("DestinationArn", {}).get("Fn::GetAtt", [None])[0]
access_log = {
    "log_group": access_group,
    "retention": render(resources.get(access_group, {}).get("Properties", {}).get("RetentionInDays")),
    "single_line": "\n" not in access_format,
    "fields": {k: render(v) for k, v in json.loads(access_format).items()} if access_format else {},
    "variables": sorted(set(re.findall(r"\$context\.[A-Za-z0-9_.]*[A-Za-z0-9_]", access_format))),
}


def metric_of(metric):
    """A metric's "namespace:name", its FunctionName dimension's function, its dimensions."""
    dims = {d["Name"]: render(d["Value"]) for d in metric.get("Dimensions", [])}
    fn = next((ref(d["Value"]) for d in metric.get("Dimensions", []) if d["Name"] == "FunctionName"), None)
    return f'{render(metric.get("Namespace"))}:{metric.get("MetricName")}', fn, dims


alarms = []
for name, alarm in of_type("AWS::CloudWatch::Alarm"):
    props = alarm.get("Properties", {})
    read = [metric_of(props)] if "MetricName" in props else [
        metric_of(m["MetricStat"]["Metric"]) for m in props.get("Metrics", []) if "MetricStat" in m
    ]
    alarms.append({
        "name": name,
        "condition": alarm.get("Condition"),
        "metrics": [m for m, _, _ in read],
        "function": next((fn for _, fn, _ in read if fn), None),
        "dimensions": {k: v for _, _, dims in read for k, v in dims.items()},
        "statistic": props.get("ExtendedStatistic") or props.get("Statistic")
        or ",".join(m["MetricStat"]["Stat"] for m in props.get("Metrics", []) if "MetricStat" in m),
        "expression": next((m["Expression"] for m in props.get("Metrics", []) if "Expression" in m), None),
        "threshold": render(props.get("Threshold")),
        "alarm_actions": [render(a) for a in props.get("AlarmActions", [])],
        "ok_actions": [render(a) for a in props.get("OKActions", [])],
        "treat_missing_data": props.get("TreatMissingData"),
    })

metric_filters = []
for name, metric_filter in of_type("AWS::Logs::MetricFilter"):
    props = metric_filter.get("Properties", {})
    group = ref(props.get("LogGroupName"))
    for transformation in props.get("MetricTransformations", []):
        metric_filters.append({
            "name": name,
            "log_group": group,
            "function": log_group_owner.get(group),
            "pattern": render(props.get("FilterPattern")),
            "metric": f'{render(transformation.get("MetricNamespace"))}:{transformation.get("MetricName")}',
            "value": render(transformation.get("MetricValue")),
        })

json.dump({
    "functions": functions,
    "parameters": {name: render(p.get("Default", "")) for name, p in template.get("Parameters", {}).items()},
    "conditions": sorted(template.get("Conditions", {})),
    "globals": {
        "tracing": render(template.get("Globals", {}).get("Function", {}).get("Tracing")),
        "env": {k: render(v) for k, v in sorted(global_env.items())},
    },
    "access_log": access_log,
    "alarms": alarms,
    "metric_filters": metric_filters,
}, sys.stdout, indent=1)
