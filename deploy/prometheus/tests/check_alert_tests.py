#!/usr/bin/env python3
"""Every alert of leaf-alerts.rules.yml has a unit test in leaf-alerts.test.yml
that shows it firing (exp_alerts not empty) and one that shows it quiet
(exp_alerts empty), and every recording rule of leaf-recording.rules.yml is
evaluated by leaf-recording.test.yml. Exit 1 naming what is missing (ctest
runs this next to promtool test rules, which checks the tests themselves)."""
import pathlib
import sys

import yaml  # python3-yaml

HERE = pathlib.Path(__file__).resolve().parent


def load(name):
    return yaml.safe_load((HERE / name).read_text())


def rules(doc, key):
    return [r[key] for g in doc["groups"] for r in g["rules"] if key in r]


def main():
    problems = []
    alerts = rules(load("../leaf-alerts.rules.yml"), "alert")
    fired, quiet = set(), set()
    for test in load("leaf-alerts.test.yml")["tests"]:
        for t in test.get("alert_rule_test", []):
            (fired if t.get("exp_alerts") else quiet).add(t["alertname"])
    for a in alerts:
        if a not in fired:
            problems.append(f"alert {a}: no test shows it firing")
        if a not in quiet:
            problems.append(f"alert {a}: no test shows it quiet")
    for name in sorted((fired | quiet) - set(alerts)):
        problems.append(f"alert {name}: tested but not in leaf-alerts.rules.yml")

    records = set(rules(load("../leaf-recording.rules.yml"), "record"))
    evaluated = set()
    for test in load("leaf-recording.test.yml")["tests"]:
        for t in test.get("promql_expr_test", []):
            if t.get("exp_samples"):
                evaluated.add(t["expr"].strip())
    for r in sorted(records - evaluated):
        problems.append(f"recording rule {r}: no test evaluates it")

    for p in problems:
        print(p)
    print(f"{len(alerts)} alerts, {len(records)} recorded series; {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
