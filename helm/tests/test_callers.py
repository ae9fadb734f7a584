"""Callers with keys (callers.existingSecret): the Secret mounted as a directory and
GATEWAY_CALLERS_FILE pointing into it, in both modes; and the NOTES warning of an open API."""

import helm_python as helm
import kubernetes_validate
import pytest

from methods import BASIC, all_pods, check_pod, mounts, sidecar, volumes
from objects import ci_docs, ci_values, docs_for, env, gateway, host_docs, of_kind
from rendering import render

SECRET = "anaplan-gateway-callers"
CALLERS = {**BASIC, "callers": {"existingSecret": SECRET}}
MOUNT = "/var/run/secrets/callers"
FILE = f"{MOUNT}/callers.json"
MODEL_ID = "75A40874E6B64FA3AE0743278996850F"
WARNING = "WARNING: the API is open"


def notes(values: dict) -> str:
    return render(values)["anaplan-gateway/templates/NOTES.txt"]


def words(text: str) -> str:
    """The text with every run of whitespace made one space, so line breaks do not matter."""
    return " ".join(text.split())


def assert_callers_mounted(pod: dict, container: dict, key: str = "callers.json"):
    mount = mounts(container)["anaplan-gateway-callers"]
    assert mount["mountPath"] == MOUNT
    assert mount["readOnly"] is True
    # A directory mount: the kubelet replaces the file when the Secret changes.
    assert "subPath" not in mount and "subPathExpr" not in mount
    assert env(container)["GATEWAY_CALLERS_FILE"] == FILE
    secret = volumes(pod)["anaplan-gateway-callers"]["secret"]
    assert secret["secretName"] == SECRET
    assert secret["items"] == [{"key": key, "path": "callers.json"}]


def test_no_callers_file_nor_volume_by_default():
    docs = docs_for(BASIC)
    for pod in all_pods(docs):
        assert "anaplan-gateway-callers" not in volumes(pod)
        for container in pod.get("initContainers", []) + pod["containers"]:
            assert "anaplan-gateway-callers" not in mounts(container)
            assert "GATEWAY_CALLERS_FILE" not in env(container)


def test_standalone_mounts_the_callers_secret_and_points_the_gateway_at_it():
    pod, where, container = gateway(docs_for(CALLERS))
    assert where == "containers"
    assert_callers_mounted(pod, container)


def test_callers_key_picks_the_secrets_key_under_a_fixed_file_name():
    values = {**BASIC, "callers": {"existingSecret": SECRET, "key": "callers-v2.json"}}
    pod, _, container = gateway(docs_for(values))
    assert_callers_mounted(pod, container, key="callers-v2.json")


def test_ci_standalone_full_mounts_the_callers_secret():
    pod, _, container = gateway(ci_docs("standalone-full"))
    assert ci_values("standalone-full")["callers"]["existingSecret"] == SECRET
    assert_callers_mounted(pod, container)


@pytest.mark.parametrize("native", [True, False], ids=["native", "legacy"])
def test_sidecar_in_the_example_host_mounts_the_callers_secret(native):
    docs = docs_for(sidecar(CALLERS, native=native))
    pod, where, container = gateway(docs)
    assert where == ("initContainers" if native else "containers")
    assert_callers_mounted(pod, container)
    for doc in docs:
        for version in ("1.29", "1.33"):
            kubernetes_validate.validate(doc, version, strict=True)


def test_host_chart_sidecar_gets_the_callers_volume_from_the_volumes_helper(tmp_path):
    docs = host_docs(tmp_path, {"anaplan-gateway": {"mode": "sidecar", **CALLERS}})
    (deployment,) = of_kind(docs, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["initContainers"]
    assert_callers_mounted(pod, container)
    assert set(volumes(pod)) == {"anaplan-gateway-credentials", "anaplan-gateway-callers"}
    for doc in docs:
        for version in ("1.29", "1.33"):
            kubernetes_validate.validate(doc, version, strict=True)


def test_helm_test_pod_shares_the_callers_file():
    docs = docs_for(CALLERS)
    _, _, container = gateway(docs)
    for pod in all_pods(docs):
        assert "anaplan-gateway-callers" in volumes(pod)
    assert check_pod(docs)["spec"]["containers"][0]["env"] == container["env"]


@pytest.mark.parametrize("key", ["", "callers/json", "callers json"])
def test_schema_refuses_a_key_that_is_no_secret_key(key):
    with pytest.raises(helm.HelmValuesError):
        render({**BASIC, "callers": {"existingSecret": SECRET, "key": key}})


def test_notes_warn_an_open_standalone_api():
    text = notes(BASIC)
    assert WARNING in text
    assert (
        "Any client that can reach Service/gw-anaplan-gateway may read every model the gateway's "
        "Anaplan user can see and cancel or start tasks. Set:"
    ) in words(text)
    # What to set, one setting a line.
    for setting in ("callers.existingSecret", "networkPolicy.enabled", "gateway.allowedModels"):
        assert f"\n  {setting} " in text
    # The rest of the notes stay.
    assert "Callers in the cluster use:\n  http://gw-anaplan-gateway.apps.svc:8080" in text
    assert "Anaplan credentials (credentials.method): basic\n" in text


def test_notes_warning_names_the_allowed_models_when_limited():
    values = {**BASIC, "gateway": {"allowedModels": [MODEL_ID]}}
    text = notes(values)
    assert WARNING in text
    assert "may read every model of gateway.allowedModels and cancel or start tasks" in words(text)
    assert "every model the gateway's Anaplan user can see" not in words(text)


@pytest.mark.parametrize(
    "values",
    [
        CALLERS,
        {**BASIC, "networkPolicy": {"enabled": True}},
        {**BASIC, "mode": "sidecar"},
        sidecar(BASIC, native=True),
        ci_values("standalone-full"),
    ],
    ids=["callers", "network-policy", "sidecar", "sidecar-example-host", "standalone-full"],
)
def test_notes_do_not_warn_with_callers_or_a_network_policy_or_as_a_sidecar(values):
    assert WARNING not in notes(values)


@pytest.mark.parametrize("mode", ["standalone", "sidecar"])
def test_notes_name_the_callers_secret(mode):
    text = notes({**CALLERS, "mode": mode})
    line = f"API callers (callers.existingSecret): from Secret/{SECRET} (key callers.json)"
    assert line in text
    assert FILE in text
    assert "Authorization: Bearer <key>" in text


def test_no_callers_line_without_callers():
    assert "API callers" not in notes(BASIC)
