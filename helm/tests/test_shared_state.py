"""Shared state on Redis (sharedState.redis): the env and password file it renders, and the
PodDisruptionBudget and NOTES warning of a standalone fleet."""

import helm_python as helm
import pytest

from methods import BASIC, mounts, volumes
from objects import ci_docs, ci_values, docs_for, env, gateway, hook_pods, of_kind
from rendering import render

REDIS_ENV = {"GATEWAY_REDIS_URL", "GATEWAY_REDIS_PASSWORD_FILE", "GATEWAY_REDIS_PREFIX"}
WARNING = "each replica polls Anaplan and logs\nin on its own"


def notes(values: dict) -> str:
    return render(values)["anaplan-gateway/templates/NOTES.txt"]


def redis(**settings) -> dict:
    return {**BASIC, "sharedState": {"redis": settings}}


def test_no_redis_env_or_volume_by_default():
    pod, _, container = gateway(docs_for(BASIC))
    assert not env(container).keys() & REDIS_ENV
    assert "anaplan-gateway-redis" not in volumes(pod)
    assert "anaplan-gateway-redis" not in mounts(container)


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


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"existingSecret": "redis"}, "sharedState.redis.url is empty"),
        ({"url": "redis://gateway:secret@redis:6379"}, "must not hold a password"),
    ],
    ids=["secret-without-url", "password-in-url"],
)
def test_half_or_unsafe_redis_settings_stop_rendering(settings, message):
    with pytest.raises(helm.HelmRenderError, match=message):
        render(redis(**settings))


@pytest.mark.parametrize("url", ["http://redis:6379", "redis:6379", "unix:///tmp/redis.sock"])
def test_schema_refuses_a_url_that_is_not_redis(url):
    with pytest.raises(helm.HelmValuesError):
        render(redis(url=url))


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
