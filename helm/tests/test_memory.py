"""The gateway's memory model against resources.limits.memory: the defaults fit, values that do not
fit stop the render with one line, in every place the gateway container renders."""

import math
import re

import helm_python as helm
import pytest

from methods import ALL_CI, sidecar
from objects import ci_docs, docs_for, env, gateway, host_docs
from rendering import render

SECRET = {"credentials": {"existingSecret": "anaplan-credentials"}}
NOTES = "anaplan-gateway/templates/NOTES.txt"

# The model as the chart README states it, computed here on its own from what the pod receives.
KIB, MIB = 1024, 1024 * 1024
QUANTITY_UNITS = {
    "": 1,
    "k": 1000,
    "M": 1000**2,
    "G": 1000**3,
    "Ki": KIB,
    "Mi": MIB,
    "Gi": 1024 * MIB,
}
CHUNK_UNITS = {"": 1, "B": 1, "KiB": KIB, "MiB": MIB}

# The chart's defaults before the model, which it must refuse under their own 128Mi limit.
OLD_DEFAULTS = {
    **SECRET,
    "gateway": {"maxConnections": 4096, "maxWaiting": 10000, "maxTransfers": 8},
    "resources": {"limits": {"memory": "128Mi"}},
}
TO_LOWER = (
    "lower gateway.maxConnections, gateway.maxWaiting, gateway.maxTransfers, gateway.uploadChunk"
    " or gateway.cacheMaxMib, or raise the limit"
)


def size(text: str, units: dict[str, int]) -> int:
    number, unit = re.fullmatch(r"([0-9]+)([A-Za-z]*)", str(text)).groups()
    return int(number) * units[unit]


def need_mib(variables: dict) -> int:
    """The model's sum for a container's env, each part rounded up to whole MiB."""
    chunk = size(variables["GATEWAY_UPLOAD_CHUNK"], CHUNK_UNITS)
    return (
        24
        + int(variables["GATEWAY_CACHE_MAX_MIB"])
        + math.ceil(int(variables["GATEWAY_MAX_CONNECTIONS"]) * 32 * KIB / MIB)
        + math.ceil(int(variables["GATEWAY_MAX_WAITING"]) * 12 * KIB / MIB)
        + math.ceil(int(variables["GATEWAY_MAX_TRANSFERS"]) * 2 * chunk / MIB)
    )


def with_limit(memory, **gateway_values) -> dict:
    return {**SECRET, "gateway": gateway_values, "resources": {"limits": {"memory": memory}}}


def test_defaults_fit_their_limit_with_room_to_spare():
    rendered = render(SECRET)
    container = gateway(docs_for(SECRET))[2]
    limit = container["resources"]["limits"]["memory"]
    assert limit == "192Mi"
    need = need_mib(env(container))
    assert need == 152
    assert need * MIB <= 0.9 * size(limit, QUANTITY_UNITS)
    assert (
        "Memory (resources.limits.memory): up to 152 MiB of the 192Mi limit by the gateway's"
        " memory model\n  (base 24 + cache 32 + 1024 connections 32 + 2048 held requests 24"
        " + 2 transfers 40, in MiB);\n  the chart allows up to 90% of the limit, 172 MiB."
    ) in rendered[NOTES]


@ALL_CI
def test_every_ci_file_fits_its_limit(name):
    container = gateway(ci_docs(name))[2]
    limit = size(container["resources"]["limits"]["memory"], QUANTITY_UNITS)
    assert need_mib(env(container)) * MIB <= 0.9 * limit


def test_old_defaults_stop_rendering_with_the_estimate_and_what_to_lower():
    message = (
        "memory: the gateway may need 462 MiB (base 24 + cache 32 + 4096 connections 128"
        " + 10000 held requests 118 + 8 transfers 160) but 90% of resources.limits.memory"
        f" (128Mi) is 115 MiB: {TO_LOWER}"
    )
    with pytest.raises(helm.HelmRenderError, match=re.escape(message)):
        render(OLD_DEFAULTS)


@pytest.mark.parametrize(
    ("memory", "gateway_values", "allowed", "fits"),
    [
        ("1Gi", {"maxConnections": 4096, "maxWaiting": 10000, "maxTransfers": 8}, 921, True),
        ("1Gi", {"maxConnections": 8192, "maxWaiting": 50000}, 921, False),
        ("268435456", {}, 230, True),
        ("268435456", {"maxConnections": 4096}, 230, False),
        (268435456, {}, 230, True),
        (268435456, {"maxConnections": 4096}, 230, False),
        ("200M", {}, 171, True),
        ("200M", {"maxTransfers": 4}, 171, False),
        ("1.5Gi", {"maxConnections": 20000, "maxWaiting": 50000}, 1382, True),
    ],
    ids=[
        "1Gi-fits",
        "1Gi-too-small",
        "bytes-fits",
        "bytes-too-small",
        "number-fits",
        "number-too-small",
        "200M-fits",
        "200M-too-small",
        "fraction-fits",
    ],
)
def test_limits_are_read_as_kubernetes_quantities(memory, gateway_values, allowed, fits):
    values = with_limit(memory, **gateway_values)
    if fits:
        notes = render(values)[NOTES]
        assert f"of the {memory} limit by the gateway's memory model" in notes
        assert f"the chart allows up to 90% of the limit, {allowed} MiB." in notes
    else:
        with pytest.raises(helm.HelmRenderError, match=f"is {allowed} MiB: lower "):
            render(values)


@pytest.mark.parametrize(
    ("chunk", "transfers_mib"),
    [("10MiB", 40), ("512KiB", 2), ("1048576", 4), ("3145728B", 12)],
)
def test_upload_chunks_are_read_in_every_unit_the_gateway_takes(chunk, transfers_mib):
    notes = render({**SECRET, "gateway": {"uploadChunk": chunk}})[NOTES]
    assert f"+ 2 transfers {transfers_mib}, in MiB" in notes


def test_an_unreadable_limit_is_named():
    with pytest.raises(helm.HelmRenderError, match='resources.limits.memory: "lots"'):
        render(with_limit("lots"))


@pytest.mark.parametrize("memory", [None, ""], ids=["null", "empty"])
def test_no_limit_no_check(memory):
    values = {**OLD_DEFAULTS, "resources": {"limits": {"memory": memory}}}
    rendered = render(values)
    container = gateway(docs_for(values))[2]
    assert not container["resources"].get("limits", {}).get("memory")
    assert (
        "Memory: up to 462 MiB by the gateway's memory model, unchecked"
        " (no resources.limits.memory)"
    ) in rendered[NOTES]


@pytest.mark.parametrize(
    "values",
    [
        OLD_DEFAULTS,
        sidecar(OLD_DEFAULTS, native=True),
        sidecar(OLD_DEFAULTS, native=False),
        {**OLD_DEFAULTS, "mode": "sidecar", "tests": {"enabled": False}},
    ],
    ids=["standalone", "native-sidecar", "legacy-sidecar", "sidecar-without-a-pod"],
)
def test_every_render_checks_the_model(values):
    # A bare sidecar release renders no gateway: its NOTES check the values a host chart gets.
    with pytest.raises(helm.HelmRenderError, match="memory: the gateway may need 462 MiB"):
        render(values)


def test_a_host_chart_including_the_container_is_checked(tmp_path):
    subchart = {**OLD_DEFAULTS, "mode": "sidecar"}
    with pytest.raises(helm.HelmRenderError, match="memory: the gateway may need 462 MiB"):
        host_docs(tmp_path, {"anaplan-gateway": subchart})
    subchart["resources"] = {"limits": {"memory": "640Mi"}}
    container = gateway(host_docs(tmp_path / "fits", {"anaplan-gateway": subchart}))[2]
    assert container["resources"]["limits"]["memory"] == "640Mi"
