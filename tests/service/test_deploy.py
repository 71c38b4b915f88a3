"""``deploy/``: the Prometheus rules pass promtool, and the rules and the Grafana dashboard
use only metrics deliverwatch exports."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from deliverwatch.service import metrics

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool missing (Debian package prometheus; .ci/run installs it)"
)


def exported_names() -> set[str]:
    names = set(metrics.store_gauge_names()) | {"deliverwatch_store_up"}
    for collector in list(metrics.REGISTRY._collector_to_names):
        for family in collector.describe():
            base = family.name
            names |= {base, f"{base}_total", f"{base}_bucket", f"{base}_sum", f"{base}_count"}
    return names


def expressions() -> list[str]:
    rules = yaml.safe_load((DEPLOY / "prometheus-rules.yml").read_text())
    found = [rule["expr"] for group in rules["groups"] for rule in group["rules"]]
    dashboard = json.loads((DEPLOY / "grafana-dashboard.json").read_text())
    found += [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    return found


@needs_promtool
def test_rules_pass_promtool() -> None:
    assert PROMTOOL is not None
    result = subprocess.run(
        [PROMTOOL, "check", "rules", str(DEPLOY / "prometheus-rules.yml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_rules_and_dashboard_use_exported_metrics() -> None:
    known = exported_names()
    used = {name for expr in expressions() for name in re.findall(r"deliverwatch_[a-z0-9_]+", expr)}
    assert used, "no deliverwatch metric found in deploy/"
    assert used <= known, f"unknown metrics: {sorted(used - known)}"


def test_dashboard_has_domain_variable_and_unique_panel_ids() -> None:
    dashboard = json.loads((DEPLOY / "grafana-dashboard.json").read_text())
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    assert {v["name"] for v in dashboard["templating"]["list"]} == {"datasource", "domain"}


def test_every_metric_is_documented() -> None:
    doc = (DEPLOY.parent / "docs" / "metrics.md").read_text()
    families = set(metrics.store_gauge_names()) | {"deliverwatch_store_up"}
    for collector in list(metrics.REGISTRY._collector_to_names):
        families |= {family.name for family in collector.describe()}
    missing = sorted(
        name for name in families if f"`{name}`" not in doc and f"`{name}_total`" not in doc
    )
    assert not missing, f"undocumented metrics: {missing}"
