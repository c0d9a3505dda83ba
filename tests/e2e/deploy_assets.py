#!/usr/bin/env python3
"""Checks behind tests/e2e/deploy_assets.sh (standard library only).

  deploy_assets.py dashboards DASHBOARD_DIR QUERIES_OUT
      Validates every dashboard JSON and writes its PromQL queries to QUERIES_OUT.
  deploy_assets.py names SRC_DIR QUERIES_FILE|RULES_JSON...
      Every metric name in every expression must be in the catalog (the catalog in the README and
      the other exported families below); the library's own counters must exist in SRC_DIR.
  deploy_assets.py exposition METRICS_FILE
      The demo's /metrics declares (# TYPE) every family the assets may use.
  deploy_assets.py alerts RULES_JSON RULE_DIR
      Prometheus loaded every alert of RULE_DIR and evaluates each without error.
  deploy_assets.py evaluate PROM_URL QUERIES_FILE RULES_JSON MIN_RATIO NAME=VALUE...
      Runs every dashboard query (variables substituted) and every alert expression;
      fails on any error, or when fewer than MIN_RATIO of the dashboard queries have data.
  deploy_assets.py query PROM_URL EXPR
      Prints the number of series EXPR returns now (with a finite value).
  deploy_assets.py alert-state PROM_URL ALERTNAME LABEL=VALUE...
      Prints the state (pending/firing) of the matching active alert, or "inactive".
"""

import json
import math
import os
import re
import sys
import urllib.parse
import urllib.request

# The metric catalog (a contract the dashboards and alerts rely on): name -> type.
CATALOG = {
    "http_requests_total": "counter",
    "bot_messages_total": "counter",
    "errors_total": "counter",
    "payment_requests_total": "counter",
    "payment_success_total": "counter",
    "subscription_created_total": "counter",
    "referral_revenue_total": "counter",
    "http_request_duration_seconds": "histogram",
    "bot_handler_duration_seconds": "histogram",
    "payment_processing_duration_seconds": "histogram",
    "panel_api_response_time": "histogram",
    "active_users": "gauge",
    "active_subscriptions": "gauge",
    "database_connections": "gauge",
    "conversion_rate": "gauge",
    "churn_rate": "gauge",
    "average_ltv": "gauge",
    "payment_system_availability": "gauge",
}
PROCESS = {
    "process_cpu_seconds_total": "counter",
    "process_resident_memory_bytes": "gauge",
    "process_virtual_memory_bytes": "gauge",
    "process_open_fds": "gauge",
    "process_max_fds": "gauge",
    "process_start_time_seconds": "gauge",
    "process_threads": "gauge",
}
HEALTH = {
    "health_check_status": "gauge",
    "health_check_duration_seconds": "histogram",
}
# The library's own counters. The first two exist from setup on; the others only once Sentry
# dropped something or a series limit was hit, so their names are checked against src/.
LIBRARY = {
    "monitoring_log_records_dropped_total": "counter",
    "monitoring_log_write_errors_total": "counter",
    "monitoring_sentry_events_dropped_total": "counter",
    "monitoring_metric_series_refused_total": "counter",
}
LIBRARY_ON_DEMAND = {"monitoring_sentry_events_dropped_total", "monitoring_metric_series_refused_total"}
PROMETHEUS = {"up": "gauge"}  # written by Prometheus itself for every target

FAMILIES = {**CATALOG, **PROCESS, **HEALTH, **LIBRARY, **PROMETHEUS}


def series_names():
    names = set()
    for name, kind in FAMILIES.items():
        if kind == "histogram":
            names.update(name + suffix for suffix in ("_bucket", "_sum", "_count"))
        else:
            names.add(name)
    return names


# Identifiers in PromQL that are not metric names when not followed by "(".
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or",
            "unless", "bool", "offset", "inf", "nan", "atan2"}


def metric_names(expr):
    """Metric names used by a PromQL expression (a lexer's approximation, enough for ours)."""
    s = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`', '""', expr)
    s = re.sub(r"\{[^}]*\}", "{}", s)
    s = re.sub(r"\[[^\]]*\]", "", s)
    s = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", s)
    s = re.sub(r"\boffset\s+-?\w+", " ", s)
    names = []
    for match in re.finditer(r"(?<![\w.:$])([A-Za-z_:][\w:]*)(\s*\()?", s):
        name, call = match.group(1), match.group(2)
        if call or name.lower() in KEYWORDS:
            continue
        names.append(name)
    return names


def fail(message):
    print(f"deploy_assets.py: FAIL: {message}", file=sys.stderr)
    sys.exit(1)


# ---------------------------------------------------------------------------- dashboards
REQUIRED_VARIABLES = ("job", "instance")
SELECTOR_MATCHERS = ('job=~"$job"', 'instance=~"$instance"')


def iter_panels(panels):
    for panel in panels:
        yield panel
        yield from iter_panels(panel.get("panels", []))  # collapsed rows nest their panels


def check_dashboards(directory, queries_out):
    files = sorted(f for f in os.listdir(directory) if f.endswith(".json"))
    if not files:
        fail(f"no dashboard JSON in {directory}")
    problems, queries, uids = [], [], {}
    for file in files:
        path = os.path.join(directory, file)
        try:
            with open(path, encoding="utf-8") as f:
                dash = json.load(f)
        except (OSError, json.JSONDecodeError) as error:
            fail(f"{path}: not valid JSON: {error}")
        where = file
        for key in ("uid", "title", "panels", "templating", "schemaVersion"):
            if key not in dash:
                problems.append(f"{where}: no '{key}'")
        uid = dash.get("uid", "")
        if uid in uids:
            problems.append(f"{where}: uid '{uid}' also used by {uids[uid]}")
        uids[uid] = file
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,40}", uid or ""):
            problems.append(f"{where}: uid '{uid}' is not a valid Grafana uid")
        variables = {v.get("name"): v for v in dash.get("templating", {}).get("list", [])}
        for name in REQUIRED_VARIABLES:
            if name not in variables:
                problems.append(f"{where}: no template variable '{name}'")
        for name, variable in variables.items():
            if variable.get("type") == "query":
                query = variable.get("query")
                text = query.get("query", "") if isinstance(query, dict) else query or ""
                inner = re.fullmatch(r"label_values\((.*),\s*\w+\)", text.strip())
                if not inner:
                    problems.append(f"{where}: variable {name}: expected label_values(...), got {text!r}")
                else:
                    queries.append({"dashboard": file, "panel": f"variable {name}", "expr": inner.group(1),
                                    "variable": True})
        ids = set()
        panels = list(iter_panels(dash.get("panels", [])))
        for panel in panels:
            title = panel.get("title", "?")
            if panel.get("id") in ids:
                problems.append(f"{where}: panel id {panel.get('id')} used twice")
            ids.add(panel.get("id"))
            grid = panel.get("gridPos", {})
            if not all(isinstance(grid.get(k), int) for k in ("h", "w", "x", "y")):
                problems.append(f"{where}: panel '{title}' has no complete gridPos")
            elif grid["x"] + grid["w"] > 24:
                problems.append(f"{where}: panel '{title}' is wider than the grid")
            if panel.get("type") == "row":
                continue
            targets = panel.get("targets", [])
            if not targets:
                problems.append(f"{where}: panel '{title}' has no query")
            for target in targets:
                expr = target.get("expr", "").strip()
                if not expr:
                    problems.append(f"{where}: panel '{title}' target {target.get('refId')} has no expr")
                    continue
                queries.append({"dashboard": file, "panel": f"{title} [{target.get('refId')}]", "expr": expr})
        for annotation in dash.get("annotations", {}).get("list", []):
            if annotation.get("expr"):
                queries.append({"dashboard": file, "panel": f"annotation {annotation.get('name')}",
                                "expr": annotation["expr"]})
    # Every selector must follow the dashboard's job and instance choice.
    for query in queries:
        if query.get("variable"):
            continue
        count = len(metric_names(query["expr"]))
        for matcher in SELECTOR_MATCHERS:
            if query["expr"].count(matcher) != count:
                problems.append(f"{query['dashboard']}: {query['panel']}: {count} selectors but "
                                f"{query['expr'].count(matcher)} with {matcher}: {query['expr']}")
    if problems:
        fail("dashboards:\n  " + "\n  ".join(problems))
    with open(queries_out, "w", encoding="utf-8") as f:
        json.dump(queries, f, indent=1)
    panels = sum(1 for q in queries if not q.get("variable"))
    print(f"dashboards: {len(files)} files valid, {panels} queries (+ variables), job/instance on every selector")


# ---------------------------------------------------------------------------- metric names
def load_expressions(path):
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    if isinstance(data, list):  # dashboard queries
        return [(f"{q['dashboard']}: {q['panel']}", q["expr"]) for q in data]
    exprs = []  # /api/v1/rules answer
    for group in data["data"]["groups"]:
        for rule in group["rules"]:
            exprs.append((f"rule {rule['name']}", rule["query"]))
    return exprs


def check_names(src_dir, paths):
    allowed = series_names()
    problems, used = [], set()
    for path in paths:
        for where, expr in load_expressions(path):
            names = metric_names(expr)
            if not names:
                problems.append(f"{where}: no metric name found in {expr!r}")
            for name in names:
                used.add(name)
                if name not in allowed:
                    problems.append(f"{where}: unknown metric '{name}' in {expr!r}")
    # The library's counters are not in the design's table by name: make sure the source
    # still spells them this way.
    sources = []
    for directory, _, files in os.walk(src_dir):
        for file in files:
            if file.endswith((".cpp", ".hpp", ".h")):
                with open(os.path.join(directory, file), encoding="utf-8", errors="replace") as f:
                    sources.append(f.read())
    source = "\n".join(sources)
    for name in LIBRARY:
        if f'"{name}"' not in source:
            problems.append(f"library counter '{name}' is not defined in {src_dir}")
    if problems:
        fail("metric names:\n  " + "\n  ".join(problems))
    print(f"metric names: {len(used)} distinct names used, all in the catalog")


def check_exposition(metrics_file):
    with open(metrics_file, encoding="utf-8") as f:
        declared = dict(re.findall(r"^# TYPE (\S+) (\S+)$", f.read(), re.MULTILINE))
    problems = []
    for name, kind in {**CATALOG, **PROCESS, **HEALTH, **LIBRARY}.items():
        if name in LIBRARY_ON_DEMAND:
            continue
        if name not in declared:
            problems.append(f"'{name}' is not exported by the demo")
        elif declared[name] != kind:
            problems.append(f"'{name}' is a {declared[name]}, the catalog says {kind}")
    if problems:
        fail("the demo's /metrics disagrees with the catalog:\n  " + "\n  ".join(problems))
    print(f"exposition: the demo declares all {len(FAMILIES) - len(LIBRARY_ON_DEMAND) - 1} families with the catalog's types")


# ---------------------------------------------------------------------------- Prometheus
def api(url, path, params=None):
    data = urllib.parse.urlencode(params).encode() if params else None
    request = urllib.request.Request(url + path, data=data)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=10) as response:
            return json.load(response)
    except urllib.error.HTTPError as error:  # 400/422 carry the error as JSON
        try:
            return json.load(error)
        except json.JSONDecodeError:
            return {"status": "error", "error": f"HTTP {error.code}"}


def has_data(answer):
    """Number of series (or the scalar) with a finite value."""
    result = answer.get("data", {}).get("result", [])
    kind = answer.get("data", {}).get("resultType")
    if kind == "scalar":
        return 1 if math.isfinite(float(result[1])) else 0
    return sum(1 for series in result if math.isfinite(float(series["value"][1])))


def substitute(expr, variables):
    for name in sorted(variables, key=len, reverse=True):  # $__rate_interval before $__range...
        expr = expr.replace("${" + name + "}", variables[name]).replace("$" + name, variables[name])
    if "$" in expr:
        fail(f"unsubstituted variable left in {expr!r}")
    return expr


def check_alerts(rules_json, rule_dir):
    with open(rules_json, encoding="utf-8") as f:
        groups = json.load(f)["data"]["groups"]
    loaded = {}
    for group in groups:
        for rule in group["rules"]:
            if rule["type"] == "alerting":
                loaded[rule["name"]] = rule
    shipped = set()
    for file in sorted(os.listdir(rule_dir)):
        if file.endswith(".yml"):
            with open(os.path.join(rule_dir, file), encoding="utf-8") as f:
                shipped.update(re.findall(r"^\s*- alert:\s*(\S+)", f.read(), re.MULTILINE))
    problems = []
    if shipped != set(loaded):
        problems.append(f"loaded alerts {sorted(loaded)} differ from shipped {sorted(shipped)}")
    for name, rule in sorted(loaded.items()):
        if rule.get("health") != "ok":
            problems.append(f"{name}: health {rule.get('health')!r}, error {rule.get('lastError')!r}")
    if problems:
        fail("alert rules in Prometheus:\n  " + "\n  ".join(problems))
    print(f"alert rules: all {len(loaded)} loaded by Prometheus and evaluated without error")


def evaluate(url, queries_file, rules_json, min_ratio, assignments):
    variables = dict(a.split("=", 1) for a in assignments)
    with open(queries_file, encoding="utf-8") as f:
        everything = json.load(f)
    queries = [q for q in everything if not q.get("variable")]
    problems, empty, with_data = [], [], 0
    # A template variable without values leaves every panel of its dashboard empty.
    for query in (q for q in everything if q.get("variable")):
        expr = substitute(query["expr"], variables)
        answer = api(url, "/api/v1/query", {"query": expr})
        if answer.get("status") != "success" or not has_data(answer):
            problems.append(f"{query['dashboard']}: {query['panel']} has no values: {expr!r} "
                            f"({answer.get('error') or 'empty'})")
    for query in queries:
        expr = substitute(query["expr"], variables)
        answer = api(url, "/api/v1/query", {"query": expr})
        if answer.get("status") != "success":
            problems.append(f"{query['dashboard']}: {query['panel']}: {answer.get('error')} in {expr!r}")
        elif has_data(answer):
            with_data += 1
        else:
            empty.append(f"{query['dashboard']}: {query['panel']}")
    alerts = load_expressions(rules_json)
    alert_data = []
    for where, expr in alerts:
        answer = api(url, "/api/v1/query", {"query": expr})
        if answer.get("status") != "success":
            problems.append(f"{where}: {answer.get('error')} in {expr!r}")
        elif has_data(answer):
            alert_data.append(where)
    print(f"dashboard queries: {with_data} of {len(queries)} returned data")
    for item in empty:
        print(f"  no data: {item}")
    print(f"alert expressions: {len(alerts)} evaluated, {len(alert_data)} returned data (condition true now)"
          + (f": {', '.join(alert_data)}" if alert_data else ""))
    if problems:
        fail("queries failed:\n  " + "\n  ".join(problems))
    if with_data < float(min_ratio) * len(queries):
        fail(f"only {with_data} of {len(queries)} dashboard queries returned data (< {float(min_ratio):.0%})")


def main(argv):
    command, args = argv[1], argv[2:]
    if command == "dashboards":
        check_dashboards(*args)
    elif command == "names":
        check_names(args[0], args[1:])
    elif command == "exposition":
        check_exposition(*args)
    elif command == "alerts":
        check_alerts(*args)
    elif command == "evaluate":
        evaluate(args[0], args[1], args[2], args[3], args[4:])
    elif command == "query":
        answer = api(args[0], "/api/v1/query", {"query": args[1]})
        if answer.get("status") != "success":
            fail(f"{answer.get('error')} in {args[1]!r}")
        print(has_data(answer))
    elif command == "alert-state":
        wanted = dict(a.split("=", 1) for a in args[2:])
        state = "inactive"
        for alert in api(args[0], "/api/v1/alerts")["data"]["alerts"]:
            labels = alert["labels"]
            if labels.get("alertname") == args[1] and all(labels.get(k) == v for k, v in wanted.items()):
                state = alert["state"] if state != "firing" else state
        print(state)
    else:
        fail(f"unknown command {command!r}")


if __name__ == "__main__":
    main(sys.argv)
