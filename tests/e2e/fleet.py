#!/usr/bin/env python3
"""Checks behind tests/e2e/fleet.sh (standard library only).

  fleet.py data PROM_URL QUERIES_FILE OUT NAME=VALUE...
      Writes the dashboard queries (deploy_assets.py's list) that return data now to OUT.
  fleet.py still-data BEFORE AFTER
      Every query with data in BEFORE has data in AFTER.
  fleet.py compare PROM_URL VM_URL QUERIES_FILE UNIX_TIME NAME=VALUE...
      Evaluates every dashboard query at UNIX_TIME on Prometheus and on VictoriaMetrics'
      Prometheus API; both must return the same series (label sets with a finite value), but
      for the differences listed under VICTORIA_DIFFERENCES.
  fleet.py delivered RECEIVER_URL RECEIVER STATUS ALERTNAME [INSTANCE]
      Prints how many notifications the webhook receiver got from Alertmanager's receiver
      RECEIVER with STATUS (firing/resolved) grouped as the shipped route groups
      (groupLabels = alertname [+ instance]) and holding only that group's alerts.
  fleet.py mentions RECEIVER_URL ALERTNAME INSTANCE SINCE
      Prints how many firing alerts ALERTNAME{instance=INSTANCE} the receiver got after SINCE.
  fleet.py suppressed AM_URL ALERTNAME INSTANCE
      Prints 1 when Alertmanager holds ALERTNAME{instance} as suppressed by an inhibition.
"""

import json
import math
import re
import sys
import time
import urllib.parse
import urllib.request

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from deploy_assets import api, fail, substitute  # noqa: E402  (one home for the API client)


# Where VictoriaMetrics (MetricsQL) answers differently from Prometheus, and how it is handled.
VICTORIA_DIFFERENCES = """
- external_labels: Prometheus adds its external labels (prometheus="local") to what it
  remote-writes, not to its own answers. Ignored: the label is dropped from VM's series.
- NaN: VM leaves NaN results out (histogram_quantile over an idle histogram, 0/0), Prometheus
  returns them. Both sides are compared on their series with a finite value.
- changes(): VM counts a series' first sample inside the window as a change (a replica that
  started inside the window has changes() = 1, Prometheus says 0), so "changes(...) > 0"
  (the Restarts annotation) also marks starts on VM. Accepted: VM may add series there, and
  only series whose process started inside the window.
"""
EXTERNAL_LABELS = {"prometheus"}


def get(url):
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=10) as response:
        return json.load(response)


def finite_series(answer):
    """Label sets (as sorted tuples) of the series with a finite value; a scalar is one series."""
    data = answer.get("data", {})
    if data.get("resultType") == "scalar":
        return {()} if math.isfinite(float(data["result"][1])) else set()
    return {tuple(sorted(s["metric"].items())) for s in data.get("result", [])
            if math.isfinite(float(s["value"][1]))}


def young_instances(prom, at, expr):
    """Instances whose process started within the range window of a changes() query."""
    window = re.search(r"changes\([^\[]*\[(\d+)([smh])\]", expr)
    seconds = int(window.group(1)) * {"s": 1, "m": 60, "h": 3600}[window.group(2)]
    answer = api(prom, "/api/v1/query", {"time": at, "query":
                 f"process_start_time_seconds > {float(at) - seconds}"})
    return {s["metric"].get("instance") for s in answer.get("data", {}).get("result", [])}


def panel_queries(queries_file):
    with open(queries_file, encoding="utf-8") as f:
        return [q for q in json.load(f) if not q.get("variable")]


def with_data(url, queries_file, out, assignments):
    variables = dict(a.split("=", 1) for a in assignments)
    found = []
    for query in panel_queries(queries_file):
        answer = api(url, "/api/v1/query", {"query": substitute(query["expr"], variables)})
        if answer.get("status") != "success":
            fail(f"{query['dashboard']}: {query['panel']}: {answer.get('error')}")
        if finite_series(answer):
            found.append(f"{query['dashboard']}: {query['panel']}")
    with open(out, "w", encoding="utf-8") as f:
        json.dump(found, f, indent=1)
    print(f"dashboard queries with data: {len(found)} of {len(panel_queries(queries_file))}")


def still_data(before, after):
    with open(before, encoding="utf-8") as f:
        had = json.load(f)
    with open(after, encoding="utf-8") as f:
        has = set(json.load(f))
    lost = [q for q in had if q not in has]
    if lost:
        fail("dashboard queries lost their data with one replica down:\n  " + "\n  ".join(lost))
    print(f"all {len(had)} dashboard queries that had data still have it")


def compare(prom, vm, queries_file, at, assignments):
    variables = dict(a.split("=", 1) for a in assignments)
    problems, same, empty = [], 0, 0
    queries = panel_queries(queries_file)
    for query in queries:
        expr = substitute(query["expr"], variables)
        where = f"{query['dashboard']}: {query['panel']}"
        answers = [api(url, "/api/v1/query", {"query": expr, "time": at}) for url in (prom, vm)]
        for name, answer in zip(("Prometheus", "VictoriaMetrics"), answers):
            if answer.get("status") != "success":
                problems.append(f"{where}: {name}: {answer.get('error')} in {expr!r}")
        if any(a.get("status") != "success" for a in answers):
            continue
        ours, theirs = (finite_series(a) for a in answers)
        theirs = {tuple(kv for kv in labels if kv[0] not in EXTERNAL_LABELS) for labels in theirs}
        if "changes(" in expr and ours < theirs:
            started = young_instances(prom, at, expr)
            if all(dict(labels).get("instance") in started for labels in theirs - ours):
                theirs = ours
        if ours != theirs:
            problems.append(f"{where}: Prometheus only {sorted(ours - theirs)[:3]}, "
                            f"VictoriaMetrics only {sorted(theirs - ours)[:3]} in {expr!r}")
        elif ours:
            same += 1
        else:
            empty += 1
    if problems:
        fail("Prometheus and VictoriaMetrics disagree:\n  " + "\n  ".join(problems))
    if same < len(queries) // 2:
        fail(f"only {same} of {len(queries)} queries had data to compare")
    print(f"VictoriaMetrics: {same} of {len(queries)} dashboard queries return the same series as "
          f"Prometheus, {empty} empty on both")


def notifications(receiver):
    return get(receiver.rstrip("/") + "/")


def delivered(receiver, name, status, alertname, instance=None):
    want_group = {"alertname": alertname}
    if instance:
        want_group["instance"] = instance
    count = 0
    for note in notifications(receiver):
        body = note["body"]
        if body.get("receiver") != name or note["path"] != f"/alerts/{name}":
            continue
        if body.get("status") != status or body.get("groupLabels") != want_group:
            continue
        if all(all(a["labels"].get(k) == v for k, v in want_group.items()) for a in body["alerts"]):
            count += 1
    print(count)


def mentions(receiver, alertname, instance, since):
    count = 0
    for note in notifications(receiver):
        if note["received"] < float(since):
            continue
        for alert in note["body"].get("alerts", []):
            labels = alert["labels"]
            if (alert["status"] == "firing" and labels.get("alertname") == alertname
                    and labels.get("instance") == instance):
                count += 1
    print(count)


def suppressed(am, alertname, instance):
    query = urllib.parse.urlencode({"filter": [f'alertname="{alertname}"', f'instance="{instance}"'],
                                    "inhibited": "true", "silenced": "false"}, doseq=True)
    alerts = get(f"{am}/api/v2/alerts?{query}")
    print(1 if any(a["status"]["state"] == "suppressed" and a["status"]["inhibitedBy"]
                   for a in alerts) else 0)


def main(argv):
    command, args = argv[1], argv[2:]
    if command == "data":
        with_data(args[0], args[1], args[2], args[3:])
    elif command == "still-data":
        still_data(*args)
    elif command == "compare":
        compare(args[0], args[1], args[2], args[3], args[4:])
    elif command == "delivered":
        delivered(*args)
    elif command == "mentions":
        mentions(*args)
    elif command == "suppressed":
        suppressed(*args)
    elif command == "now":
        print(f"{time.time():.3f}")
    else:
        fail(f"unknown command {command!r}")


if __name__ == "__main__":
    main(sys.argv)
