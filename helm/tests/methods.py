"""Values for each credential method and readers of what they render (shared by the tests)."""

import pytest

from objects import hook_pods, pod_specs
from rendering import CI_VALUES

MOUNT = "/var/run/secrets/anaplan"
WRITABLE = "/var/run/anaplan-oauth"
CLIENT_ID = "3f1c8c1e2b7a4d6e9a0b5c7d8e9f0a1b"
MODEL_ID = "75A40874E6B64FA3AE0743278996850F"

BASIC = {"credentials": {"existingSecret": "anaplan-credentials"}}
CERTIFICATE = {
    "credentials": {"method": "certificate", "certificate": {"existingSecret": "anaplan-tls"}}
}
OAUTH = {
    "credentials": {
        "method": "oauth",
        "oauth": {"clientId": CLIENT_ID, "existingSecret": "anaplan-oauth"},
    },
    # The check pod trades the refresh token: only with a non-rotatable client.
    "tests": {"withOAuth": True},
}

# The variables that name each method's credentials; a method sets only its own.
METHOD_ENV = {
    "basic": {"ANAPLAN_USERNAME", "ANAPLAN_PASSWORD_FILE"},
    "certificate": {
        "ANAPLAN_CERTIFICATE_FILE",
        "ANAPLAN_PRIVATE_KEY_FILE",
        "ANAPLAN_PRIVATE_KEY_PASSPHRASE_FILE",
    },
    "oauth": {"ANAPLAN_OAUTH_CLIENT_ID", "ANAPLAN_OAUTH_REFRESH_TOKEN_FILE", "ANAPLAN_OAUTH_URL"},
}
CREDENTIAL_ENV = set().union(*METHOD_ENV.values())

CI_NAMES = [p.name.removesuffix("-values.yaml") for p in CI_VALUES]
ALL_CI = pytest.mark.parametrize("name", CI_NAMES)


def method_of(values: dict) -> str:
    return values.get("credentials", {}).get("method", "basic")


def with_credentials(base: dict, **changes) -> dict:
    """`base` with its credentials' method block (certificate or oauth) or top level updated."""
    credentials = {**base["credentials"]}
    method = credentials.get("method", "basic")
    if method == "basic":
        credentials.update(changes)
    else:
        credentials[method] = {**credentials[method], **changes}
    return {**base, "credentials": credentials}


def sidecar(values: dict, native: bool) -> dict:
    return {
        **values,
        "mode": "sidecar",
        "anaplan": {"modelId": MODEL_ID},
        "sidecar": {"native": native, "exampleHost": {"enabled": True}},
    }


def mounts(container: dict) -> dict:
    return {m["name"]: m for m in container.get("volumeMounts", [])}


def volumes(pod: dict) -> dict:
    return {v["name"]: v for v in pod["volumes"]}


def all_pods(docs: list[dict]) -> list[dict]:
    """Pod specs of the workloads and of the `helm test` pod."""
    return pod_specs(docs) + [p["spec"] for p in hook_pods(docs)]


def init_containers(pod: dict) -> list[dict]:
    """The init containers other than the gateway itself (a native sidecar)."""
    return [c for c in pod.get("initContainers", []) if c["name"] != "anaplan-gateway"]


def check_pod(docs: list[dict]) -> dict:
    (pod,) = hook_pods(docs)
    return pod


READ_ONLY_OAUTH = with_credentials(OAUTH, writable=False)
