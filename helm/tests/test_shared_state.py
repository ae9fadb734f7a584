"""Shared state on Redis (sharedState.redis): the env, password file and private CA it renders,
and the PodDisruptionBudget and NOTES warning of a standalone fleet."""

import helm_python as helm
import kubernetes_validate
import pytest

from methods import BASIC, all_pods, check_pod, mounts, sidecar, volumes
from objects import ci_docs, ci_values, docs_for, env, gateway, hook_pods, host_docs, of_kind
from rendering import render

REDIS_ENV = {
    "GATEWAY_REDIS_URL",
    "GATEWAY_REDIS_PASSWORD_FILE",
    "GATEWAY_REDIS_CA_FILE",
    "GATEWAY_REDIS_PREFIX",
}
TLS_URL = "rediss://redis.example.svc:6379"
CA_SECRET = "redis-ca"
CA_VOLUME = "anaplan-gateway-redis-ca"
CA_MOUNT = "/var/run/secrets/redis-ca"
WARNING = "each replica polls Anaplan and logs\nin on its own"


def notes(values: dict) -> str:
    return render(values)["anaplan-gateway/templates/NOTES.txt"]


def redis(**settings) -> dict:
    return {**BASIC, "sharedState": {"redis": settings}}


def assert_ca_mounted(pod: dict, container: dict, secret: str = CA_SECRET, key: str = "ca.crt"):
    mount = mounts(container)[CA_VOLUME]
    assert mount["mountPath"] == CA_MOUNT
    assert mount["readOnly"] is True
    # A directory mount: the kubelet updates the file when the Secret changes.
    assert "subPath" not in mount and "subPathExpr" not in mount
    assert env(container)["GATEWAY_REDIS_CA_FILE"] == f"{CA_MOUNT}/ca.crt"
    volume = volumes(pod)[CA_VOLUME]["secret"]
    assert volume["secretName"] == secret
    assert volume["items"] == [{"key": key, "path": "ca.crt"}]


def test_no_redis_env_or_volume_by_default():
    pod, _, container = gateway(docs_for(BASIC))
    assert not env(container).keys() & REDIS_ENV
    for name in ("anaplan-gateway-redis", CA_VOLUME):
        assert name not in volumes(pod)
        assert name not in mounts(container)


def test_fleet_sets_the_three_variables_and_mounts_the_password_as_a_file():
    docs = ci_docs("fleet")
    redis_values = ci_values("fleet")["sharedState"]["redis"]
    pod, _, container = gateway(docs)
    variables = env(container)
    assert variables["GATEWAY_REDIS_URL"] == "rediss://redis.example.svc:6379"
    assert variables["GATEWAY_REDIS_PREFIX"] == redis_values["prefix"]

    mount = mounts(container)["anaplan-gateway-redis"]
    assert "subPath" not in mount and "subPathExpr" not in mount
    assert mount["readOnly"] is True
    assert variables["GATEWAY_REDIS_PASSWORD_FILE"] == mount["mountPath"] + "/password"
    secret = volumes(pod)["anaplan-gateway-redis"]["secret"]
    assert secret["secretName"] == redis_values["existingSecret"]
    assert secret["items"] == [{"key": "password", "path": "password"}]
    # The `helm test` pod shares them (see test_credential_checks.py).
    (check,) = hook_pods(docs)
    assert check["spec"]["containers"][0]["env"] == container["env"]


def test_url_alone_sets_only_the_url():
    pod, _, container = gateway(docs_for(redis(url="redis://gateway@redis:6379/0")))
    assert env(container).keys() & REDIS_ENV == {"GATEWAY_REDIS_URL"}
    assert "anaplan-gateway-redis" not in volumes(pod)


@pytest.mark.parametrize("mode", ["standalone", "native", "legacy"])
def test_a_private_ca_is_mounted_and_named_in_both_modes(mode):
    values = redis(url=TLS_URL, caSecret=CA_SECRET)
    if mode != "standalone":
        values = sidecar(values, native=mode == "native")
    docs = docs_for(values)
    pod, where, container = gateway(docs)
    assert where == ("initContainers" if mode == "native" else "containers")
    assert_ca_mounted(pod, container)
    # Only the CA: no password file comes with it.
    assert env(container).keys() & REDIS_ENV == {"GATEWAY_REDIS_URL", "GATEWAY_REDIS_CA_FILE"}
    assert "anaplan-gateway-redis" not in volumes(pod)
    # The `helm test` pod shares them.
    check = check_pod(docs)["spec"]
    assert check["containers"][0]["env"] == container["env"]
    assert mounts(check["containers"][0])[CA_VOLUME] == mounts(container)[CA_VOLUME]
    assert volumes(check)[CA_VOLUME] == volumes(pod)[CA_VOLUME]
    for doc in docs:
        for version in ("1.29", "1.33"):
            kubernetes_validate.validate(doc, version, strict=True)


def test_ca_key_picks_the_secrets_key_under_a_fixed_file_name():
    values = redis(url=TLS_URL, caSecret=CA_SECRET, caKey="root-ca.pem")
    pod, _, container = gateway(docs_for(values))
    assert_ca_mounted(pod, container, key="root-ca.pem")


def test_ci_fleet_mounts_its_private_ca_beside_the_password():
    pod, _, container = gateway(ci_docs("fleet"))
    assert_ca_mounted(pod, container, secret=ci_values("fleet")["sharedState"]["redis"]["caSecret"])
    assert mounts(container)["anaplan-gateway-redis"]["mountPath"] != CA_MOUNT


def test_host_chart_sidecar_gets_the_ca_volume_from_the_volumes_helper(tmp_path):
    values = {"anaplan-gateway": {"mode": "sidecar", **redis(url=TLS_URL, caSecret=CA_SECRET)}}
    (deployment,) = of_kind(host_docs(tmp_path, values), "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["initContainers"]
    assert_ca_mounted(pod, container)


@pytest.mark.parametrize(
    "settings",
    [{"url": TLS_URL}, {"url": TLS_URL, "caSecret": ""}, {"url": TLS_URL, "caKey": "other.crt"}],
    ids=["unset", "empty", "key-without-secret"],
)
def test_no_ca_file_without_a_ca_secret(settings):
    for pod in all_pods(docs_for(redis(**settings))):
        assert CA_VOLUME not in volumes(pod)
        for container in pod.get("initContainers", []) + pod["containers"]:
            assert CA_VOLUME not in mounts(container)
            assert "GATEWAY_REDIS_CA_FILE" not in env(container)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"existingSecret": "redis"}, "sharedState.redis.url is empty"),
        ({"url": "redis://gateway:secret@redis:6379"}, "must not hold a password"),
        ({"caSecret": CA_SECRET}, "sharedState.redis.url is empty"),
        ({"url": "redis://redis:6379", "caSecret": CA_SECRET}, "url is not rediss://"),
    ],
    ids=["secret-without-url", "password-in-url", "ca-without-url", "ca-without-tls"],
)
def test_half_or_unsafe_redis_settings_stop_rendering(settings, message):
    with pytest.raises(helm.HelmRenderError, match=message):
        render(redis(**settings))


@pytest.mark.parametrize("url", ["http://redis:6379", "redis:6379", "unix:///tmp/redis.sock"])
def test_schema_refuses_a_url_that_is_not_redis(url):
    with pytest.raises(helm.HelmValuesError):
        render(redis(url=url))


@pytest.mark.parametrize("key", ["", "ca/crt", "ca crt"])
def test_schema_refuses_a_ca_key_that_is_no_secret_key(key):
    with pytest.raises(helm.HelmValuesError):
        render(redis(url=TLS_URL, caSecret=CA_SECRET, caKey=key))


def test_pdb_keeps_one_fleet_replica_up():
    docs = ci_docs("fleet")
    (pdb,) = of_kind(docs, "PodDisruptionBudget")
    (deployment,) = of_kind(docs, "Deployment")
    assert pdb["apiVersion"] == "policy/v1"
    assert pdb["spec"]["minAvailable"] == 1
    assert pdb["spec"]["selector"] == deployment["spec"]["selector"]


@pytest.mark.parametrize(
    "values",
    [BASIC, {**BASIC, "replicaCount": 1}, {**BASIC, "mode": "sidecar", "replicaCount": 3}],
    ids=["default", "one-replica", "sidecar"],
)
def test_no_pdb_without_a_standalone_fleet(values):
    assert of_kind(docs_for(values), "PodDisruptionBudget") == []


def test_notes_warn_a_fleet_without_redis():
    text = notes({**BASIC, "replicaCount": 3})
    assert WARNING in text
    assert "(3 tokens, 3 polls per task per interval)" in text
    assert "Set sharedState.redis.url" in text


@pytest.mark.parametrize(
    "values",
    [ci_values("fleet"), {**BASIC, "replicaCount": 1}],
    ids=["fleet-with-redis", "one-replica"],
)
def test_notes_do_not_warn_with_redis_or_one_replica(values):
    # Only this warning: an open API has its own (test_callers.py).
    assert WARNING not in notes(values)
    assert "no sharedState.redis.url" not in notes(values)


def test_sidecars_of_many_host_pods_share_one_redis():
    # Every pod of a host Deployment, however many, carries a sidecar pointing at the same Redis.
    values = {**ci_values("sidecar-native"), "sharedState": ci_values("fleet")["sharedState"]}
    docs = docs_for(values)
    pod, where, container = gateway(docs)
    assert where == "initContainers"
    variables = env(container)
    assert variables["GATEWAY_REDIS_URL"] == "rediss://redis.example.svc:6379"
    assert variables["GATEWAY_REDIS_PASSWORD_FILE"].startswith(
        mounts(container)["anaplan-gateway-redis"]["mountPath"]
    )
    assert "anaplan-gateway-redis" in volumes(pod)
    # Sidecars are no standalone fleet: no PodDisruptionBudget of the chart's own.
    assert not of_kind(docs, "PodDisruptionBudget")
