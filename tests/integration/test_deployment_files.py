"""The deployment files in scripts/deploy against the real thing: every metric the alerts and the Grafana
dashboard use is one a running node exports; the systemd unit passes `systemd-analyze verify` with the
installed `xinlian`; the compose file names files that exist. (No container engine runs here: the image
itself is not built by the tests.)"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from node.api.metrics import Metrics
from node.runtime import register_runtime_metrics

if TYPE_CHECKING:
    from node_fixtures import RunningNode

pytest_plugins = ["node_fixtures"]

DEPLOY = Path(__file__).resolve().parents[2] / "scripts" / "deploy"
METRIC = re.compile(r"\bxinlian_[a-z0-9_]+\b")
#: Suffixes the Prometheus text format adds to counter and histogram families.
SUFFIXES = ("_total", "_created", "_bucket", "_sum", "_count")


def exported_names(running: RunningNode) -> set[str]:
    metrics = Metrics()
    metrics.attach(running.ledger)
    register_runtime_metrics(running.node, metrics.registry)
    names: set[str] = set()
    for family in text_string_to_metric_families(metrics.render().decode("utf-8")):
        names |= {sample.name for sample in family.samples}
        # a labelled counter with nothing counted yet has no sample, only its family's TYPE line
        names |= {family.name + suffix for suffix in SUFFIXES} if family.type == "counter" else {family.name}
    return names


def used_names() -> dict[str, set[str]]:
    alerts = yaml.safe_load((DEPLOY / "alerts.yml").read_text(encoding="utf-8"))
    dashboard = json.loads((DEPLOY / "grafana" / "dashboard.json").read_text(encoding="utf-8"))
    return {
        "alerts.yml": {n for rule in alerts["groups"][0]["rules"] for n in METRIC.findall(rule["expr"])},
        "dashboard.json": {
            n for panel in dashboard["panels"] for t in panel["targets"] for n in METRIC.findall(t["expr"])
        },
    }


def test_alerts_and_dashboard_use_only_metrics_a_node_exports(running_node: RunningNode) -> None:
    exported = exported_names(running_node)
    used = used_names()
    assert used["alerts.yml"] and used["dashboard.json"]
    for where, names in used.items():
        missing = sorted(n for n in names if n not in exported)
        assert not missing, f"{where} uses metrics no node exports: {missing}"
    # The alerts the operations guide promises.
    wanted = {"xinlian_height", "xinlian_execution_divergences_total", "xinlian_mempool_capacity"}
    assert wanted | {"xinlian_p2p_peers", "xinlian_calendar_days_left"} <= used["alerts.yml"]


def test_every_alert_has_a_severity_and_a_summary() -> None:
    rules: list[dict[str, Any]] = yaml.safe_load((DEPLOY / "alerts.yml").read_text(encoding="utf-8"))[
        "groups"
    ][0]["rules"]
    assert len({r["alert"] for r in rules}) == len(rules)
    for rule in rules:
        assert rule["labels"]["severity"] in ("warning", "critical"), rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], rule["alert"]


@pytest.mark.skipif(
    shutil.which("systemd-analyze") is None and not os.environ.get("XINLIAN_REQUIRE_SYSTEMD"),
    reason="systemd-analyze is not installed",
)
def test_the_systemd_unit_verifies(tmp_path: Path) -> None:
    """The unit as shipped, with ExecStart pointing at this environment's `xinlian` instead of
    /opt/xinlian/venv: systemd finds no unknown key, no bad value and an executable command."""
    xinlian = Path(sys.executable).parent / "xinlian"
    assert xinlian.exists(), "the xinlian entry point is not installed next to this Python"
    unit = (DEPLOY / "xinlian-node.service").read_text(encoding="utf-8")
    assert "ExecStart=/opt/xinlian/venv/bin/xinlian node run --config /etc/xinlian/node.json" in unit
    local = tmp_path / "xinlian-node.service"
    local.write_text(unit.replace("/opt/xinlian/venv/bin/xinlian", str(xinlian)), encoding="utf-8")
    result = subprocess.run(
        ["systemd-analyze", "verify", str(local)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0 and result.stderr.strip() == "", result.stderr


def test_the_compose_file_names_files_that_exist() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
    node = compose["services"]["node"]
    assert (DEPLOY / node["build"]["context"] / node["build"]["dockerfile"]).resolve() == (
        DEPLOY / "Containerfile"
    ).resolve()
    for service in ("prometheus", "grafana"):
        for volume in compose["services"][service]["volumes"]:
            source = volume.split(":")[0]
            if source.startswith("./") and not source.startswith("./etc/"):
                assert (DEPLOY / source).exists(), f"{service} mounts {source}, which is not shipped"
    scrape = yaml.safe_load((DEPLOY / "prometheus.yml").read_text(encoding="utf-8"))
    assert scrape["rule_files"] == ["/etc/prometheus/alerts.yml"]
