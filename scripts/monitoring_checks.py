"""The file-level half of scripts/check-monitoring (promtool does the rest): extracts the rule
files from the PrometheusRules, checks test coverage and metric names, and prepares the dashboard's
and compose's inputs for promtool. Usage: see scripts/check-monitoring --help."""
import glob
import json
import os
import re
import shutil
import sys

import promql_parser
import yaml

failures = []


def fail(msg):
    failures.append(msg)


def load_all(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def prometheus_rules():
    """{name: spec} of every PrometheusRule in manifests/monitoring/."""
    out = {}
    for path in sorted(glob.glob("manifests/monitoring/*.yaml")):
        for d in load_all(path):
            if d.get("kind") == "PrometheusRule":
                out[d["metadata"]["name"]] = d["spec"]
    return out


def all_rules():
    for spec in prometheus_rules().values():
        for group in spec["groups"]:
            yield from group["rules"]


# Series that come from elsewhere: kube-state-metrics and the kubelet (through kube-prometheus-stack),
# and Prometheus itself.
EXTERNAL = {
    "up",
    "kube_cronjob_created",
    "kube_cronjob_status_last_successful_time",
    "kube_deployment_spec_replicas",
    "kube_job_failed",
    "kube_job_status_start_time",
    "kubelet_volume_stats_available_bytes",
    "kubelet_volume_stats_capacity_bytes",
    "kubelet_volume_stats_used_bytes",
}
# Series our scripts and sidecar containers write in Prometheus text (the binlog archiver, its off-cluster
# upload loop, the restore drill): every name declared by a "# TYPE NAME gauge|counter" line they print.
SCRIPT_SOURCES = ["scripts/db-binlog-archive", "scripts/db-restore-drill", "scripts/db-offsite",
                  "manifests/mariadb-binlog-archiver.yaml", "manifests/mariadb-backup.yaml"]
TYPE_LINE = re.compile(r"# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (?:gauge|counter)\b")
MACRO = re.compile(r'metrics::(counter|gauge|histogram)!\(\s*"([a-zA-Z_:][a-zA-Z0-9_:]*)"')


def app_metrics():
    """Names adminql exports, read from the metrics macros in src/."""
    names = set()
    for path in glob.glob("src/**/*.rs", recursive=True):
        for kind, name in MACRO.findall(open(path).read()):
            if kind == "histogram":
                names.update(name + s for s in ("_bucket", "_sum", "_count"))
            else:
                names.add(name)
    return names


def script_metrics():
    """Names the scripts and the backup pods' containers write (SCRIPT_SOURCES)."""
    names = set()
    for path in SCRIPT_SOURCES:
        names.update(TYPE_LINE.findall(open(path).read()))
    return names


def known_metrics():
    records = {r["record"] for r in all_rules() if "record" in r}
    return app_metrics() | script_metrics() | EXTERNAL | records


def metric_names(expr):
    """Every metric a PromQL expression selects (by name or by __name__ matcher)."""
    names = set()

    def walk(node):
        if isinstance(node, promql_parser.VectorSelector):
            if node.name:
                names.add(node.name)
            for m in node.matchers.matchers:
                if m.name == "__name__":
                    names.add(m.value)
            return
        for attr in ("lhs", "rhs", "expr", "param", "vector_selector"):
            child = getattr(node, attr, None)
            if child is not None and not isinstance(child, (str, int, float)):
                walk(child)
        for arg in getattr(node, "args", None) or []:
            walk(arg)

    walk(promql_parser.parse(expr))
    return names


def check_names(where, expr, known):
    for name in sorted(metric_names(expr)):
        if name.startswith("mysql_"):
            continue  # proven exported by tests/it/exporter.rs, which reads the same files
        if name not in known:
            fail(f"{where}: {name} is exported by nothing we know (not in src/, not written by a script "
                 f"or backup container, not a mysql_* series, not kube-state-metrics/kubelet, not a recording rule)")


def extract_rules(outdir):
    for name, spec in prometheus_rules().items():
        with open(os.path.join(outdir, f"{name}.rules.yaml"), "w") as f:
            yaml.safe_dump({"groups": spec["groups"]}, f, sort_keys=False)
        print(f"{name}.rules.yaml: {sum(len(g['rules']) for g in spec['groups'])} rules")


def coverage(_outdir):
    fires, silent, exprs = set(), set(), []
    for path in glob.glob("tests/monitoring/*.test.yaml"):
        for test in load_all(path)[0]["tests"]:
            for case in test.get("alert_rule_test", []):
                (fires if case.get("exp_alerts") else silent).add(case["alertname"])
            exprs += [e["expr"] for e in test.get("promql_expr_test", [])]
    known = known_metrics()
    alerts = records = 0
    for r in all_rules():
        check_names(r.get("alert") or r["record"], r["expr"], known)
        if "alert" in r:
            alerts += 1
            if r["alert"] not in fires:
                fail(f"alert {r['alert']}: no test case where it fires")
            if r["alert"] not in silent:
                fail(f"alert {r['alert']}: no test case where it stays silent")
        else:
            records += 1
            if not any(r["record"] in e for e in exprs):
                fail(f"record {r['record']}: no promql_expr_test uses it")
    print(f"{alerts} alerts with firing and silent cases, {records} recording rules tested, metric names known")


# Sample values for Grafana's variables, so that promtool parses what Prometheus will receive.
GRAFANA_VARS = {
    "$__rate_interval": "5m",
    "$__interval": "1m",
    "$__range": "1h",
    "${namespace}": "adminql",
    "$namespace": "adminql",
}


def dashboard_files():
    return sorted(glob.glob("manifests/monitoring/dashboards/*.json"))


def panels(items):
    for p in items:
        yield p
        yield from panels(p.get("panels", []))


def dashboard(outdir):
    known = known_metrics()
    kust = load_all("manifests/monitoring/kustomization.yaml")[0]
    generated = {os.path.normpath(os.path.join("manifests/monitoring", f.split("=")[-1]))
                 for g in kust.get("configMapGenerator", []) for f in g.get("files", [])
                 if g.get("options", {}).get("labels", {}).get("grafana_dashboard") == "1"}
    rules, count = [], 0
    for path in dashboard_files():
        if path not in generated:
            fail(f"{path}: not in a configMapGenerator labelled grafana_dashboard: \"1\"")
        board = json.load(open(path))
        ids = set()
        for p in panels(board.get("panels", [])):
            if p.get("type") == "row":
                continue
            if p["id"] in ids:
                fail(f"{path}: panel id {p['id']} twice")
            ids.add(p["id"])
            if not p.get("targets"):
                fail(f"{path}: panel {p.get('title')!r} has no query")
            for t in p.get("targets", []):
                expr = t["expr"]
                for var, value in GRAFANA_VARS.items():
                    expr = expr.replace(var, value)
                if "$" in expr:
                    fail(f"{path}: panel {p['title']!r}: unknown Grafana variable in {t['expr']!r}")
                    continue
                where = f"{os.path.basename(path)} panel {p['title']!r} {t.get('refId')}"
                rules.append({"record": f"dashboard:panel_{p['id']}_{t.get('refId', 'A')}", "expr": expr,
                              "labels": {"panel": p["title"]}})
                try:
                    check_names(where, expr, known)
                except Exception as e:  # the parser raises its own error types
                    fail(f"{where}: does not parse: {e}")
                count += 1
    with open(os.path.join(outdir, "panels.rules.yaml"), "w") as f:
        yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}, f, sort_keys=False)
    print(f"{len(dashboard_files())} dashboard(s), {count} panel queries, metric names known")


COPIES_HEADER = "# Generated by scripts/check-monitoring --sync-compose from {src}: edit that, not this.\n"


def compose_copies():
    """{path in compose/: (source, text)}: the files compose.yaml mounts that are copies of ours."""
    out = {}
    for name, spec in prometheus_rules().items():
        src = f"the PrometheusRule {name} in manifests/monitoring"
        text = COPIES_HEADER.format(src=src) + yaml.safe_dump({"groups": spec["groups"]}, sort_keys=False)
        out[f"compose/prometheus/rules/{name}.rules.yaml"] = (src, text)
    cm = [d for d in load_all("manifests/mariadb-configmap.yaml") if d.get("kind") == "ConfigMap"][0]
    src = "initdb-exporter.sh in manifests/mariadb-configmap.yaml"
    out["compose/mariadb/05-adminql-exporter.sh"] = (src, COPIES_HEADER.format(src=src) + cm["data"]["initdb-exporter.sh"])
    return out


def sync_compose(_arg):
    for path, (_, text) in compose_copies().items():
        with open(path, "w") as f:
            f.write(text)
        print(f"wrote {path}")


def compose(outdir):
    doc = load_all("compose.yaml")[0]
    services = doc["services"]
    sample = {m.group(1) for line in open(".env.sample")
              if (m := re.match(r"^([A-Z][A-Z0-9_]*)=", line))}
    env = services["adminql"].get("environment", {})
    names = set(env) if isinstance(env, dict) else {e.split("=", 1)[0] for e in env}
    for name in sorted(names - sample):
        fail(f"compose.yaml: adminql's environment sets {name}, which adminql does not read (.env.sample)")
    for svc, s in services.items():
        for v in s.get("volumes", []):
            src = v.split(":")[0] if isinstance(v, str) else v.get("source", "")
            if src.startswith(".") and not os.path.exists(src):
                fail(f"compose.yaml: {svc} mounts {src}, which does not exist")
    for path, (src, text) in compose_copies().items():
        if not os.path.exists(path) or open(path).read() != text:
            fail(f"{path} differs from {src}: run scripts/check-monitoring --sync-compose")
    # Prometheus: its config and rule directory as compose mounts them.
    mounts = {v.split(":")[1]: v.split(":")[0] for v in services["prometheus"]["volumes"] if isinstance(v, str)}
    config, rules = mounts.get("/etc/prometheus/prometheus.yml"), mounts.get("/etc/prometheus/rules")
    if not config or not rules:
        fail("compose.yaml: prometheus does not mount /etc/prometheus/prometheus.yml and /etc/prometheus/rules")
        return
    shutil.copy(config, os.path.join(outdir, "prometheus.yml"))
    for f in glob.glob(os.path.join(rules, "*.yaml")):
        shutil.copy(f, os.path.join(outdir, "rules"))
    print(f"compose.yaml: adminql sets {len(names)} variables, all read by adminql; copies up to date")


def compose_loaded(out_path):
    text = open(out_path).read()
    for name, spec in prometheus_rules().items():
        n = sum(len(g["rules"]) for g in spec["groups"])
        if not re.search(rf"Checking \S*rules/{name}\.rules\.yaml\n\s*SUCCESS: {n} rules found", text):
            fail(f"compose's Prometheus config does not load rules/{name}.rules.yaml ({n} rules)")


COMMANDS = {"extract-rules": extract_rules, "coverage": coverage, "dashboard": dashboard,
            "compose": compose, "compose-loaded": compose_loaded, "sync-compose": sync_compose}
COMMANDS[sys.argv[1]](sys.argv[2])
for f in failures:
    print(f"  - {f}")
sys.exit(1 if failures else 0)
