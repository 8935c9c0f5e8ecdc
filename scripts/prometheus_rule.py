"""Write deploy/k8s/monitoring/prometheusrule.yaml from deploy/prometheus/alerts.yml: the same
groups as a PrometheusRule for the Prometheus Operator. The rules file is the one source; a
test fails when the two differ (`python scripts/prometheus_rule.py` brings them together)."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "deploy" / "prometheus" / "alerts.yml"
TARGET = ROOT / "deploy" / "k8s" / "monitoring" / "prometheusrule.yaml"
HEADER = """\
# Generated from deploy/prometheus/alerts.yml by scripts/prometheus_rule.py: edit the rules
# there, then run it (a test fails when the two differ).
"""


def prometheus_rule() -> dict[str, object]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": "portfolio", "labels": {"app.kubernetes.io/name": "portfolio"}},
        "spec": {"groups": groups},
    }


class _Literal(yaml.SafeDumper):
    """Multi-line text (the expressions) as YAML's literal blocks, as the rules file has it."""


def _text(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    style = "|" if "\n" in text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_Literal.add_representer(str, _text)


def main() -> None:
    text = yaml.dump(prometheus_rule(), Dumper=_Literal, sort_keys=False, width=100)
    TARGET.write_text(HEADER + text)


if __name__ == "__main__":
    main()
