"""The credential methods' guards and check: the values each refuses, the `helm test` pod that
signs in as the gateway would, and the NOTES that name the method."""

import helm_python as helm
import pytest

from methods import (
    ALL_CI,
    BASIC,
    CERTIFICATE,
    CLIENT_ID,
    CREDENTIAL_ENV,
    METHOD_ENV,
    MOUNT,
    OAUTH,
    READ_ONLY_OAUTH,
    check_pod,
    init_containers,
    method_of,
    volumes,
    with_credentials,
)
from objects import (
    ci_docs,
    docs_for,
    env,
    gateway,
    hook_pods,
    of_kind,
)
from rendering import render


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {"credentials": {"method": "certificate"}},
            "credentials.certificate.existingSecret is required",
        ),
        (with_credentials(OAUTH, clientId=""), "credentials.oauth.clientId is required"),
        (
            with_credentials(OAUTH, existingSecret=""),
            "credentials.oauth.existingSecret is required",
        ),
        (
            {
                "credentials": {
                    **OAUTH["credentials"],
                    "create": True,
                    "username": "u",
                    "password": "p",
                }
            },
            "credentials.create makes a Secret for credentials.method=basic",
        ),
        (
            {"credentials": {"certificate": {"existingSecret": "anaplan-tls"}}},
            "credentials.certificate is set but credentials.method is basic",
        ),
        (
            {"credentials": {"oauth": {"clientId": CLIENT_ID, "existingSecret": "anaplan-oauth"}}},
            "credentials.oauth is set but credentials.method is basic",
        ),
        (
            with_credentials(OAUTH, writableMountPath=MOUNT),
            "credentials.oauth.writableMountPath must differ",
        ),
    ],
    ids=[
        "certificate-without-secret",
        "oauth-without-client-id",
        "oauth-without-secret",
        "create-with-oauth",
        "certificate-without-method",
        "oauth-without-method",
        "oauth-copy-over-secret",
    ],
)
def test_incomplete_or_mixed_methods_stop_rendering_with_a_clear_message(values, message):
    with pytest.raises(helm.HelmRenderError, match=message):
        render(values)


def test_other_methods_values_are_ignored():
    # As a parent chart's values or an earlier values file may leave them behind.
    credentials = {
        **OAUTH["credentials"],
        "existingSecret": "anaplan-credentials",
        "certificate": {"existingSecret": "anaplan-tls"},
    }
    docs = docs_for({"credentials": credentials})
    pod, _, container = gateway(docs)
    assert env(container).keys() & CREDENTIAL_ENV == {
        "ANAPLAN_OAUTH_CLIENT_ID",
        "ANAPLAN_OAUTH_REFRESH_TOKEN_FILE",
    }
    assert volumes(pod)["anaplan-gateway-credentials"]["secret"]["secretName"] == "anaplan-oauth"
    # Nor does a complete basic setup mind a leftover of another method.
    basic = {"credentials": {**BASIC["credentials"], "oauth": {"clientId": CLIENT_ID}}}
    assert env(gateway(docs_for(basic))[2]).keys() & CREDENTIAL_ENV == METHOD_ENV["basic"]


@pytest.mark.parametrize("mode", ["standalone", "sidecar"])
def test_missing_secret_is_reported_even_without_a_gateway_pod_or_test(mode):
    # NOTES.txt names the method, so even a bare sidecar release checks it.
    with pytest.raises(helm.HelmRenderError, match="credentials.certificate.existingSecret"):
        render(
            {"mode": mode, "tests": {"enabled": False}, "credentials": {"method": "certificate"}}
        )


@pytest.mark.parametrize(
    "values",
    [
        {"credentials": {"method": "kerberos"}},
        {"credentials": {"method": None}},
        with_credentials(OAUTH, writable="yes"),
        with_credentials(OAUTH, url="eu1a.app.anaplan.com"),
        with_credentials(OAUTH, clientSecret="s"),
        with_credentials(CERTIFICATE, existingSecret=["anaplan-tls"]),
        {**BASIC, "tests": {"enabled": "no"}},
    ],
    ids=["method", "method-null", "writable", "url", "unknown-oauth-key", "secret-list", "tests"],
)
def test_schema_refuses_bad_credential_values(values):
    with pytest.raises(helm.HelmValuesError):
        render(values)


# ---- the helm test pod ----


@ALL_CI
def test_helm_test_pod_checks_with_the_gateways_env_volumes_and_init_containers(name):
    docs = ci_docs(name)
    pod, _, container = gateway(docs)
    test = check_pod(docs)
    assert test["metadata"]["annotations"]["helm.sh/hook"] == "test"
    spec = test["spec"]
    assert spec["restartPolicy"] == "Never"
    (check,) = spec["containers"]
    assert check["args"] == ["check"]
    assert check["image"] == container["image"]
    assert check["env"] == container["env"]
    assert check["volumeMounts"] == container["volumeMounts"]
    assert check["securityContext"] == container["securityContext"]
    assert spec["volumes"] == [
        v for v in pod["volumes"] if v["name"].startswith("anaplan-gateway-")
    ]
    assert spec.get("initContainers", []) == init_containers(pod)
    assert "ports" not in check and "livenessProbe" not in check


@ALL_CI
def test_helm_test_pod_is_no_pod_of_the_workloads(name):
    # A Deployment would adopt a pod its selector matches; a Service would send it traffic.
    docs = ci_docs(name)
    labels = check_pod(docs)["metadata"]["labels"].items()
    for deployment in of_kind(docs, "Deployment"):
        assert not deployment["spec"]["selector"]["matchLabels"].items() <= labels
    for service in of_kind(docs, "Service"):
        assert not service["spec"]["selector"].items() <= labels


def test_helm_test_pod_can_be_left_out():
    assert hook_pods(docs_for({**OAUTH, "tests": {"enabled": False}})) == []


@pytest.mark.parametrize(
    ("values", "line"),
    [
        (BASIC, "user name and password from Secret/anaplan-credentials"),
        (CERTIFICATE, "kubernetes.io/tls Secret/anaplan-tls (tls.crt, tls.key)"),
        (OAUTH, "copied at pod start into an in-memory emptyDir"),
        (READ_ONLY_OAUTH, "mounted read-only (credentials.oauth.writable=false)"),
    ],
    ids=["basic", "certificate", "oauth", "oauth-read-only"],
)
def test_notes_name_the_credential_method(values, line):
    notes = render(values)["anaplan-gateway/templates/NOTES.txt"]
    method = method_of(values)
    assert f"Anaplan credentials (credentials.method): {method}\n" in notes
    assert line in notes
    assert "helm test gw -n apps" in notes


def test_no_check_pod_for_oauth_unless_asked_for():
    # `check` trades the refresh token: a rotatable client's would be spent for the gateway.
    values = {key: value for key, value in OAUTH.items() if key != "tests"}
    assert hook_pods(docs_for(values)) == []
    assert len(hook_pods(docs_for(OAUTH))) == 1
