"""Reading a render: its objects, the gateway container and its env (shared by the tests)."""

import shutil
from functools import cache
from pathlib import Path

import helm_python as helm

from rendering import CHART_DIR, HOST_CHART_DIR, load_values, manifests, render


def docs_for(values: dict, chart_dir: Path = CHART_DIR) -> list[dict]:
    return manifests(render(values, chart_dir))


def host_docs(tmp_path: Path, values: dict) -> list[dict]:
    """The objects of tests/host-chart, which includes this chart as a sidecar the README's way."""
    host = tmp_path / "host"
    shutil.copytree(HOST_CHART_DIR, host)
    shutil.copytree(CHART_DIR, host / "charts" / "anaplan-gateway")
    return docs_for(values, host)


def chart_defaults() -> dict:
    with helm.Chart.load(CHART_DIR) as chart:
        return chart.values


def ci_values(name: str) -> dict:
    return load_values(CHART_DIR / "ci" / f"{name}-values.yaml")


@cache
def ci_docs(name: str) -> list[dict]:
    """The objects ci/<name>-values.yaml renders (shared between tests, so read only)."""
    return docs_for(ci_values(name))


def of_kind(docs: list[dict], kind: str) -> list[dict]:
    return [d for d in docs if d["kind"] == kind]


def pod_specs(docs: list[dict]) -> list[dict]:
    return [d["spec"]["template"]["spec"] for d in of_kind(docs, "Deployment")]


def hook_pods(docs: list[dict]) -> list[dict]:
    """The `helm test` pods (hooks, which `helm install` leaves out)."""
    return [
        d
        for d in of_kind(docs, "Pod")
        if d["metadata"].get("annotations", {}).get("helm.sh/hook") == "test"
    ]


def gateway(docs: list[dict]) -> tuple[dict, str, dict]:
    """(pod spec, list it sits in, container) of the one gateway container."""
    found = [
        (pod, where, c)
        for pod in pod_specs(docs)
        for where in ("initContainers", "containers")
        for c in pod.get(where, [])
        if c["name"] == "anaplan-gateway"
    ]
    assert len(found) == 1, found
    return found[0]


def env(container: dict) -> dict:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}
