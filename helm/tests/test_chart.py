"""Behaviour of the rendered chart: what a cluster would receive for each mode."""

import re

import helm_python as helm
import kubernetes_validate
import pytest

from methods import ALL_CI, CI_NAMES, method_of
from objects import (
    chart_defaults,
    ci_docs,
    ci_values,
    docs_for,
    env,
    gateway,
    hook_pods,
    host_docs,
    of_kind,
    pod_specs,
)
from rendering import CHART_DIR, CI_VALUES, HELM_DIR, HOST_CHART_DIR, render

SECRET = {"credentials": {"existingSecret": "anaplan-credentials"}}
MODEL_ID = "75A40874E6B64FA3AE0743278996850F"

# One env variable per setting of the binary, whatever the credential method.
GATEWAY_ENV = [
    "GATEWAY_LISTEN",
    "GATEWAY_ADMIN_LISTEN",
    "GATEWAY_POLL_INTERVAL",
    "GATEWAY_POLL_MAX_INTERVAL",
    "GATEWAY_MAX_STALE",
    "GATEWAY_MAX_WAIT",
    "GATEWAY_MAX_WAITING",
    "GATEWAY_MAX_BATCH",
    "GATEWAY_HEADER_TIMEOUT",
    "GATEWAY_MAX_CONNECTIONS",
    "GATEWAY_REQUIRE_IDEMPOTENCY_KEY",
    "GATEWAY_MAX_TRANSFERS",
    "GATEWAY_UPLOAD_CHUNK",
    "GATEWAY_NAMES_TTL",
    "GATEWAY_UPSTREAM_CONCURRENCY",
    "GATEWAY_UPSTREAM_RATE",
    "GATEWAY_CACHE_MAX_ENTRIES",
    "GATEWAY_CACHE_MAX_MIB",
    "GATEWAY_SHUTDOWN_TIMEOUT",
    "GATEWAY_LOG_FORMAT",
    "RUST_LOG",
    "ANAPLAN_API_URL",
    "ANAPLAN_AUTH_URL",
    "ANAPLAN_CLOUDWORKS_URL",
    "ANAPLAN_TIMEOUT",
]

# Secrets go to the gateway as files only, never as these variables.
SECRET_VALUE_ENV = ["ANAPLAN_PASSWORD", "ANAPLAN_PRIVATE_KEY", "ANAPLAN_OAUTH_REFRESH_TOKEN"]

BASIC_CI = pytest.mark.parametrize(
    "name", [n for n in CI_NAMES if method_of(ci_values(n)) == "basic"]
)


def test_ci_values_cover_both_modes_and_both_sidecar_kinds():
    names = {p.name for p in CI_VALUES}
    assert {
        "standalone-values.yaml",
        "standalone-full-values.yaml",
        "sidecar-native-values.yaml",
        "sidecar-legacy-values.yaml",
    } <= names


def test_native_sidecar_is_an_init_container_that_restarts_always():
    pod, where, container = gateway(ci_docs("sidecar-native"))
    assert where == "initContainers"
    assert container["restartPolicy"] == "Always"
    assert [c["name"] for c in pod["containers"]] == ["host"]


def test_legacy_sidecar_is_a_plain_container_beside_the_host():
    pod, where, container = gateway(ci_docs("sidecar-legacy"))
    assert where == "containers"
    assert "restartPolicy" not in container
    assert "initContainers" not in pod
    assert {c["name"] for c in pod["containers"]} == {"host", "anaplan-gateway"}


def test_standalone_gateway_is_a_plain_container():
    _, where, container = gateway(ci_docs("standalone"))
    assert where == "containers"
    assert "restartPolicy" not in container


def test_sidecar_mode_alone_renders_no_workload_of_its_own():
    docs = docs_for({"mode": "sidecar", **SECRET})
    # Only the `helm test` pod, a hook that `helm install` does not create.
    assert [d["kind"] for d in docs] == ["Pod"]
    assert hook_pods(docs) == docs


def test_example_host_calls_the_gateway_on_loopback():
    pod, _, _ = gateway(ci_docs("sidecar-native"))
    host = pod["containers"][0]
    assert env(host)["GATEWAY_URL"] == "http://127.0.0.1:8080"
    assert env(host)["MODEL_ID"] == MODEL_ID


@ALL_CI
def test_every_setting_is_in_the_env_and_no_secret_is(name):
    variables = env(gateway(ci_docs(name))[2])
    assert set(GATEWAY_ENV) <= variables.keys()
    assert not set(SECRET_VALUE_ENV) & variables.keys()


def test_values_reach_the_env_unchanged():
    values = {
        **SECRET,
        "anaplan": {
            "apiUrl": "https://api.example.com/2/0",
            "authUrl": "https://auth.example.com",
            "cloudworksUrl": "https://cloudworks.example.com",
            "timeout": "45s",
            "workspaceId": "8a8196b15b7dbae6015b8694411d13fe",
            "modelId": MODEL_ID,
        },
        "gateway": {
            "pollInterval": "1500ms",
            "pollMaxInterval": "2m",
            "maxStale": "10m",
            "maxWait": "55s",
            "maxWaiting": 50000,
            "maxBatch": 250,
            "headerTimeout": "5s",
            "maxConnections": 20000,
            "listenBacklog": 8192,
            "corsOrigins": ["https://dash.example.com", "http://localhost:3000"],
            "requireIdempotencyKey": True,
            "maxTransfers": 3,
            "uploadChunk": "25MiB",
            "upstreamConcurrency": 3,
            "upstreamRate": "600/m",
            "cacheMaxEntries": 2000000,
            "shutdownTimeout": "25s",
            "logFormat": "text",
            "logLevel": "debug",
        },
        "extraEnv": [{"name": "HTTPS_PROXY", "value": "http://proxy:3128"}],
        # Room for the connections and held requests above (the chart's memory check).
        "resources": {"limits": {"memory": "2Gi"}},
    }
    variables = env(gateway(docs_for(values))[2])
    assert variables["ANAPLAN_API_URL"] == "https://api.example.com/2/0"
    assert variables["ANAPLAN_AUTH_URL"] == "https://auth.example.com"
    assert variables["ANAPLAN_CLOUDWORKS_URL"] == "https://cloudworks.example.com"
    assert variables["ANAPLAN_TIMEOUT"] == "45s"
    assert variables["ANAPLAN_WORKSPACE_ID"] == "8a8196b15b7dbae6015b8694411d13fe"
    assert variables["ANAPLAN_MODEL_ID"] == MODEL_ID
    assert variables["GATEWAY_POLL_INTERVAL"] == "1500ms"
    assert variables["GATEWAY_POLL_MAX_INTERVAL"] == "2m"
    assert variables["GATEWAY_MAX_STALE"] == "10m"
    assert variables["GATEWAY_MAX_WAIT"] == "55s"
    assert variables["GATEWAY_MAX_WAITING"] == "50000"
    assert variables["GATEWAY_MAX_BATCH"] == "250"
    assert variables["GATEWAY_HEADER_TIMEOUT"] == "5s"
    assert variables["GATEWAY_MAX_CONNECTIONS"] == "20000"
    assert variables["GATEWAY_LISTEN_BACKLOG"] == "8192"
    assert variables["GATEWAY_CORS_ORIGINS"] == "https://dash.example.com,http://localhost:3000"
    assert variables["GATEWAY_REQUIRE_IDEMPOTENCY_KEY"] == "true"
    assert variables["GATEWAY_MAX_TRANSFERS"] == "3"
    assert variables["GATEWAY_UPLOAD_CHUNK"] == "25MiB"
    assert variables["GATEWAY_UPSTREAM_CONCURRENCY"] == "3"
    assert variables["GATEWAY_UPSTREAM_RATE"] == "600/m"
    # Helm holds numbers as floats; a large one must not come out as 2e+06.
    assert variables["GATEWAY_CACHE_MAX_ENTRIES"] == "2000000"
    assert variables["GATEWAY_SHUTDOWN_TIMEOUT"] == "25s"
    assert variables["GATEWAY_LOG_FORMAT"] == "text"
    assert variables["RUST_LOG"] == "debug"
    assert variables["HTTPS_PROXY"] == "http://proxy:3128"


def test_unset_ids_leave_their_variables_unset():
    variables = env(gateway(docs_for(SECRET))[2])
    assert "ANAPLAN_WORKSPACE_ID" not in variables
    assert "ANAPLAN_MODEL_ID" not in variables
    assert "GATEWAY_LISTEN_BACKLOG" not in variables, "the kernel's bound by default"
    assert "GATEWAY_CORS_ORIGINS" not in variables, "no origin by default"


@pytest.mark.parametrize(
    ("mode", "listen"), [("standalone", "0.0.0.0:8080"), ("sidecar", "127.0.0.1:8080")]
)
def test_api_listens_on_all_interfaces_standalone_and_on_loopback_as_a_sidecar(mode, listen):
    values = {"mode": mode, **SECRET, "anaplan": {"modelId": MODEL_ID}}
    values["sidecar"] = {"exampleHost": {"enabled": mode == "sidecar"}}
    variables = env(gateway(docs_for(values))[2])
    assert variables["GATEWAY_LISTEN"] == listen
    # Kubelet probes come to the pod IP, so admin listens everywhere in both modes.
    assert variables["GATEWAY_ADMIN_LISTEN"] == "0.0.0.0:9090"


@BASIC_CI
def test_password_is_a_file_on_a_secret_volume_without_subpath(name):
    values = ci_values(name)
    pod, _, container = gateway(ci_docs(name))
    credentials = {**chart_defaults()["credentials"], **values["credentials"]}
    secret_name = credentials["existingSecret"] or "gw-anaplan-gateway-credentials"

    mounts = [m for m in container["volumeMounts"] if m["name"] == "anaplan-gateway-credentials"]
    assert len(mounts) == 1
    assert "subPath" not in mounts[0] and "subPathExpr" not in mounts[0]
    assert mounts[0]["readOnly"] is True
    assert env(container)["ANAPLAN_PASSWORD_FILE"] == mounts[0]["mountPath"] + "/password"

    (volume,) = [v for v in pod["volumes"] if v["name"] == "anaplan-gateway-credentials"]
    assert volume["secret"]["secretName"] == secret_name
    assert volume["secret"]["items"] == [{"key": credentials["passwordKey"], "path": "password"}]

    username = env(container)["ANAPLAN_USERNAME"]["secretKeyRef"]
    assert username == {"name": secret_name, "key": credentials["usernameKey"]}


def test_created_secret_holds_both_keys_and_is_the_one_mounted():
    docs = ci_docs("standalone-full")
    (secret,) = of_kind(docs, "Secret")
    assert set(secret["stringData"]) == {"username", "password"}
    pod, _, _ = gateway(docs)
    assert pod["volumes"][0]["secret"]["secretName"] == secret["metadata"]["name"]


@pytest.mark.parametrize(
    "credentials",
    [{}, {"existingSecret": "x", "create": True, "username": "u", "password": "p"}],
    ids=["none", "both"],
)
def test_credentials_must_come_from_exactly_one_place(credentials):
    with pytest.raises(helm.HelmRenderError, match="credentials"):
        render({"credentials": credentials})


def test_created_secret_needs_a_password():
    with pytest.raises(helm.HelmRenderError, match="credentials.password"):
        render({"credentials": {"create": True, "username": "u"}})


@ALL_CI
def test_probes_check_the_admin_port(name):
    container = gateway(ci_docs(name))[2]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"gw-http": 8080, "gw-admin": 9090}
    probes = {
        kind: (container[kind]["httpGet"]["path"], container[kind]["httpGet"]["port"])
        for kind in ("livenessProbe", "readinessProbe", "startupProbe")
    }
    assert probes == {
        "livenessProbe": ("/livez", "gw-admin"),
        "readinessProbe": ("/readyz", "gw-admin"),
        "startupProbe": ("/readyz", "gw-admin"),
    }


@ALL_CI
def test_containers_are_hardened_and_memory_bounded(name):
    docs = ci_docs(name)
    for pod in pod_specs(docs) + [p["spec"] for p in hook_pods(docs)]:
        assert pod["automountServiceAccountToken"] is False
        assert pod["securityContext"]["runAsNonRoot"] is True
        for container in pod.get("initContainers", []) + pod["containers"]:
            sc = container["securityContext"]
            assert sc["runAsNonRoot"] is True
            assert sc["readOnlyRootFilesystem"] is True
            assert sc["allowPrivilegeEscalation"] is False
            assert sc["capabilities"]["drop"] == ["ALL"]
            assert sc["seccompProfile"]["type"] == "RuntimeDefault"
            assert container["resources"]["limits"]["memory"]
    for account in of_kind(docs, "ServiceAccount"):
        assert account["automountServiceAccountToken"] is False


def test_standalone_service_exposes_api_and_admin_to_the_gateway_pods():
    docs = ci_docs("standalone")
    (service,) = of_kind(docs, "Service")
    (deployment,) = of_kind(docs, "Deployment")
    ports = {p["name"]: (p["port"], p["targetPort"]) for p in service["spec"]["ports"]}
    assert ports == {"http": (8080, "gw-http"), "admin": (9090, "gw-admin")}
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()


def test_servicemonitor_scrapes_metrics_on_the_services_admin_port():
    docs = ci_docs("standalone-full")
    (monitor,) = of_kind(docs, "ServiceMonitor")
    (service,) = of_kind(docs, "Service")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert selector.items() <= service["metadata"]["labels"].items()
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["path"] == "/metrics"
    assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}
    assert endpoint["port"] == "admin"


def test_networkpolicy_guards_the_gateway_pods_in_standalone_mode():
    docs = ci_docs("standalone-full")
    (policy,) = of_kind(docs, "NetworkPolicy")
    (deployment,) = of_kind(docs, "Deployment")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert policy["spec"]["podSelector"]["matchLabels"].items() <= pod_labels.items()
    ports = [r["ports"][0]["port"] for r in policy["spec"]["ingress"]]
    assert ports == ["gw-http", "gw-admin"]


@ALL_CI
def test_networkpolicy_only_when_enabled_in_standalone_mode(name):
    values = ci_values(name)
    enabled = values.get("networkPolicy", {}).get("enabled", False)
    wanted = values["mode"] == "standalone" and enabled
    assert len(of_kind(ci_docs(name), "NetworkPolicy")) == int(wanted)


@pytest.mark.parametrize("switch", ["networkPolicy", "serviceMonitor"])
def test_standalone_only_objects_are_refused_in_sidecar_mode(switch):
    with pytest.raises(helm.HelmRenderError, match=switch):
        render({"mode": "sidecar", **SECRET, switch: {"enabled": True}})


@pytest.mark.parametrize(
    "values",
    [
        {"mode": "daemon"},
        {"gateway": {"pollInterval": 5}},
        {"gateway": {"pollInterval": "5 seconds"}},
        {"gateway": {"logFormat": "xml"}},
        {"anaplan": {"modelId": "not/hex"}},
        {"replicas": 2},
    ],
    ids=["mode", "duration-number", "duration-text", "log-format", "model-id", "unknown-key"],
)
def test_schema_rejects_bad_values(values):
    with pytest.raises(helm.HelmValuesError):
        render({**SECRET, **values})


def test_image_tag_defaults_to_the_app_version():
    container = gateway(docs_for(SECRET))[2]
    with helm.Chart.load(CHART_DIR) as chart:
        app_version = chart.metadata["appVersion"]
    assert container["image"] == f"anaplan-gateway:{app_version}"


def test_host_chart_includes_the_sidecar_as_documented(tmp_path):
    docs = host_docs(tmp_path, {"anaplan-gateway": {"image": {"tag": "1.2.3"}}})

    (deployment,) = of_kind(docs, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["initContainers"]
    assert container["restartPolicy"] == "Always"
    assert container["image"] == "anaplan-gateway:1.2.3"
    assert env(container)["GATEWAY_LISTEN"] == "127.0.0.1:8080"
    assert [v["name"] for v in pod["volumes"]] == ["anaplan-gateway-credentials"]
    for doc in docs:
        for version in ("1.29", "1.33"):
            kubernetes_validate.validate(doc, version, strict=True)


def test_chart_readme_shows_the_include_lines_the_host_chart_uses():
    host_template = (HOST_CHART_DIR / "templates" / "deployment.yaml").read_text()
    includes = re.findall(r"\{\{-? include .*\}\}", host_template)
    assert len(includes) == 3
    readme = (CHART_DIR / "README.md").read_text()
    for line in includes:
        assert line in readme


def test_image_and_chart_agree_on_ports_and_user():
    dockerfile = (HELM_DIR.parent / "Dockerfile").read_text()
    defaults = chart_defaults()
    assert f"EXPOSE {defaults['ports']['http']} {defaults['ports']['admin']}" in dockerfile
    user = defaults["securityContext"]
    assert f"USER {user['runAsUser']}:{user['runAsGroup']}" in dockerfile
    assert 'CMD ["/usr/local/bin/anaplan-gateway", "healthcheck"]' in dockerfile


def test_allowed_models_reach_the_gateway_only_when_given():
    assert "GATEWAY_ALLOWED_MODELS" not in env(gateway(docs_for(SECRET))[2])
    models = [MODEL_ID, f"8a8196b15b7dbae6015b8694411d13fe/{MODEL_ID}"]
    values = {**SECRET, "gateway": {"allowedModels": models}}
    variables = env(gateway(docs_for(values))[2])
    assert variables["GATEWAY_ALLOWED_MODELS"] == ",".join(models)


def test_schema_refuses_an_allowed_model_that_is_no_model_id():
    with pytest.raises(helm.HelmValuesError):
        render({**SECRET, "gateway": {"allowedModels": ["not-a-model"]}})
