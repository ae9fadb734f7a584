"""The credential methods (basic, certificate, oauth): the env, volumes and init containers
each gives the gateway."""

import kubernetes_validate
import pytest

from methods import (
    ALL_CI,
    BASIC,
    CERTIFICATE,
    CI_NAMES,
    CLIENT_ID,
    CREDENTIAL_ENV,
    METHOD_ENV,
    MOUNT,
    OAUTH,
    READ_ONLY_OAUTH,
    WRITABLE,
    all_pods,
    check_pod,
    init_containers,
    method_of,
    mounts,
    sidecar,
    volumes,
    with_credentials,
)
from objects import (
    chart_defaults,
    ci_docs,
    ci_values,
    docs_for,
    env,
    gateway,
    host_docs,
    of_kind,
)


def test_ci_values_cover_every_credential_method():
    assert {method_of(ci_values(name)) for name in CI_NAMES} == {"basic", "certificate", "oauth"}
    assert ci_values("certificate")["credentials"]["certificate"]["passphraseSecret"]
    assert ci_values("oauth")["credentials"]["oauth"].get("writable", True)


@ALL_CI
def test_only_the_configured_methods_variables_are_set(name):
    method = method_of(ci_values(name))
    variables = env(gateway(ci_docs(name))[2]).keys()
    assert variables & CREDENTIAL_ENV <= METHOD_ENV[method]
    required = METHOD_ENV[method] - {"ANAPLAN_PRIVATE_KEY_PASSPHRASE_FILE", "ANAPLAN_OAUTH_URL"}
    assert required <= variables


@ALL_CI
def test_secrets_are_directory_mounts_never_subpath_nor_env_values(name):
    docs = ci_docs(name)
    for pod in all_pods(docs):
        secret_volumes = {n for n, v in volumes(pod).items() if "secret" in v or "projected" in v}
        assert secret_volumes
        for container in pod.get("initContainers", []) + pod["containers"]:
            for mount in container.get("volumeMounts", []):
                assert "subPath" not in mount and "subPathExpr" not in mount
                if mount["name"] in secret_volumes:
                    assert mount["readOnly"] is True
            for entry in container.get("env", []):
                ref = entry.get("valueFrom", {}).get("secretKeyRef")
                # The basic user name is no secret of the sort that rotates; nothing else is.
                assert ref is None or entry["name"] == "ANAPLAN_USERNAME"


@pytest.mark.parametrize(
    "values", [BASIC, CERTIFICATE, OAUTH], ids=["basic", "certificate", "oauth"]
)
def test_every_credential_volume_is_mounted_under_one_name(values):
    pod, _, _ = gateway(docs_for(values))
    assert "anaplan-gateway-credentials" in volumes(pod)


# ---- certificate ----


def test_certificate_and_key_come_from_the_tls_secrets_files():
    pod, _, container = gateway(docs_for(CERTIFICATE))
    variables = env(container)
    assert variables["ANAPLAN_CERTIFICATE_FILE"] == f"{MOUNT}/tls.crt"
    assert variables["ANAPLAN_PRIVATE_KEY_FILE"] == f"{MOUNT}/tls.key"
    assert "ANAPLAN_PRIVATE_KEY_PASSPHRASE_FILE" not in variables
    assert not METHOD_ENV["basic"] & variables.keys()

    mount = mounts(container)["anaplan-gateway-credentials"]
    assert mount == {"name": "anaplan-gateway-credentials", "mountPath": MOUNT, "readOnly": True}
    (source,) = volumes(pod)["anaplan-gateway-credentials"]["projected"]["sources"]
    assert source["secret"] == {
        "name": "anaplan-tls",
        "items": [{"key": "tls.crt", "path": "tls.crt"}, {"key": "tls.key", "path": "tls.key"}],
    }
    assert not of_kind(docs_for(CERTIFICATE), "Secret")


@pytest.mark.parametrize("secret", ["anaplan-passphrase", "anaplan-tls"], ids=["own", "tls"])
def test_passphrase_file_only_when_its_secret_is_given(secret):
    values = with_credentials(CERTIFICATE, passphraseSecret=secret, passphraseKey="pass")
    pod, _, container = gateway(docs_for(values))
    assert env(container)["ANAPLAN_PRIVATE_KEY_PASSPHRASE_FILE"] == f"{MOUNT}/passphrase"
    tls, passphrase = volumes(pod)["anaplan-gateway-credentials"]["projected"]["sources"]
    assert tls["secret"]["name"] == "anaplan-tls"
    assert passphrase["secret"] == {
        "name": secret,
        "items": [{"key": "pass", "path": "passphrase"}],
    }


def test_ci_certificate_mounts_its_passphrase():
    credentials = ci_values("certificate")["credentials"]["certificate"]
    pod, _, container = gateway(ci_docs("certificate"))
    sources = volumes(pod)["anaplan-gateway-credentials"]["projected"]["sources"]
    assert [s["secret"]["name"] for s in sources] == [
        credentials["existingSecret"],
        credentials["passphraseSecret"],
    ]
    assert env(container)["ANAPLAN_PRIVATE_KEY_PASSPHRASE_FILE"] == f"{MOUNT}/passphrase"


# ---- oauth ----


@pytest.mark.parametrize(
    "values",
    [OAUTH, sidecar(OAUTH, native=True), sidecar(OAUTH, native=False)],
    ids=["standalone", "native-sidecar", "legacy-sidecar"],
)
def test_oauth_refresh_token_is_copied_to_a_writable_emptydir(values):
    docs = docs_for(values)
    pod, _, container = gateway(docs)
    variables = env(container)
    assert variables["ANAPLAN_OAUTH_CLIENT_ID"] == CLIENT_ID
    assert variables["ANAPLAN_OAUTH_REFRESH_TOKEN_FILE"] == f"{WRITABLE}/refresh-token"
    assert "ANAPLAN_OAUTH_URL" not in variables

    # The gateway sees only the writable copy, never the Secret.
    assert mounts(container) == {
        "anaplan-gateway-oauth-token": {
            "name": "anaplan-gateway-oauth-token",
            "mountPath": WRITABLE,
        }
    }
    assert volumes(pod)["anaplan-gateway-oauth-token"]["emptyDir"]["medium"] == "Memory"
    assert volumes(pod)["anaplan-gateway-credentials"]["secret"] == {
        "secretName": "anaplan-oauth",
        "items": [{"key": "refresh-token", "path": "refresh-token"}],
    }

    (copy,) = init_containers(pod)
    # Before the gateway, when the gateway is an init container too.
    assert pod["initContainers"][0] is copy
    assert copy["image"] == chart_defaults()["credentials"]["oauth"]["init"]["image"]
    assert copy["command"][-2:] == [f"{MOUNT}/refresh-token", f"{WRITABLE}/refresh-token"]
    assert mounts(copy) == {
        "anaplan-gateway-credentials": {
            "name": "anaplan-gateway-credentials",
            "mountPath": MOUNT,
            "readOnly": True,
        },
        "anaplan-gateway-oauth-token": {
            "name": "anaplan-gateway-oauth-token",
            "mountPath": WRITABLE,
        },
    }


def test_oauth_copy_runs_as_strictly_as_the_gateway():
    pod, _, container = gateway(docs_for(OAUTH))
    (copy,) = init_containers(pod)
    sc = copy["securityContext"]
    assert sc == container["securityContext"]
    assert sc["runAsNonRoot"] is True and sc["runAsUser"] == 65532
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"]
    assert sc["seccompProfile"]["type"] == "RuntimeDefault"
    assert copy["resources"]["limits"]["memory"]


def test_oauth_init_image_and_url_come_from_values():
    values = with_credentials(
        OAUTH,
        url="https://eu1a.app.anaplan.com",
        refreshTokenKey="token",
        init={"image": "registry.example.com/busybox:1.37.0"},
    )
    pod, _, container = gateway(docs_for(values))
    assert env(container)["ANAPLAN_OAUTH_URL"] == "https://eu1a.app.anaplan.com"
    (copy,) = init_containers(pod)
    assert copy["image"] == "registry.example.com/busybox:1.37.0"
    items = volumes(pod)["anaplan-gateway-credentials"]["secret"]["items"]
    assert items == [{"key": "token", "path": "refresh-token"}]


@pytest.mark.parametrize(
    "values",
    [
        READ_ONLY_OAUTH,
        sidecar(READ_ONLY_OAUTH, native=True),
        sidecar(READ_ONLY_OAUTH, native=False),
    ],
    ids=["standalone", "native-sidecar", "legacy-sidecar"],
)
def test_oauth_not_writable_mounts_the_secret_read_only_without_init_container(values):
    docs = docs_for(values)
    pod, _, container = gateway(docs)
    assert env(container)["ANAPLAN_OAUTH_REFRESH_TOKEN_FILE"] == f"{MOUNT}/refresh-token"
    assert mounts(container) == {
        "anaplan-gateway-credentials": {
            "name": "anaplan-gateway-credentials",
            "mountPath": MOUNT,
            "readOnly": True,
        }
    }
    assert list(volumes(pod)) == ["anaplan-gateway-credentials"]
    assert init_containers(pod) == []
    assert "initContainers" not in check_pod(docs)["spec"]


@pytest.mark.parametrize("values", [BASIC, CERTIFICATE], ids=["basic", "certificate"])
def test_other_methods_have_no_init_container_nor_emptydir(values):
    docs = docs_for(values)
    for pod in all_pods(docs):
        assert init_containers(pod) == []
        assert not [v for v in pod["volumes"] if "emptyDir" in v]


def test_host_chart_runs_the_token_copy_before_the_gateway(tmp_path):
    docs = host_docs(tmp_path, {"anaplan-gateway": OAUTH})
    (deployment,) = of_kind(docs, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    assert [c["name"] for c in pod["initContainers"]] == [
        "anaplan-gateway-copy-token",
        "anaplan-gateway",
    ]
    assert set(volumes(pod)) == {"anaplan-gateway-credentials", "anaplan-gateway-oauth-token"}
    for doc in docs:
        for version in ("1.29", "1.33"):
            kubernetes_validate.validate(doc, version, strict=True)


@pytest.mark.parametrize(
    "values",
    [
        OAUTH,
        sidecar(OAUTH, native=False),
        READ_ONLY_OAUTH,
        with_credentials(CERTIFICATE, passphraseSecret="anaplan-passphrase"),
    ],
    ids=["oauth-standalone", "oauth-legacy-sidecar", "oauth-read-only", "certificate-passphrase"],
)
def test_shapes_outside_the_ci_values_are_valid_kubernetes(values):
    for doc in docs_for(values):
        for version in ("1.29", "1.33"):
            kubernetes_validate.validate(doc, version, strict=True)
