"""The deploy manifests, checked offline: Kubernetes core kinds against the API schemas that
kubernetes-validate ships, Strimzi kinds for the shape the platform relies on, the compose
file against the compose-spec schema, and every FENGQIAO_* variable any of them sets against
the real settings (a manifest naming a setting that does not exist fails here)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from pydantic import AliasChoices

from fengqiao.cli import app as cli_app
from fengqiao.settings import Settings
from schemas.topics import TOPICS

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "kubernetes"
COMPOSE = ROOT / "deploy" / "compose" / "compose.yaml"
K8S_VERSION = "1.33.0"  # the oldest Kubernetes the manifests promise to apply on
STRIMZI_API = "kafka.strimzi.io/v1beta2"
COMPONENTS = ("worker", "sink", "api", "gateway", "metrics", "workbench")


def _docs() -> list[tuple[Path, dict[str, Any]]]:
    out = []
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        out += [(path, d) for d in yaml.safe_load_all(path.read_text()) if d]
    return out


def _of_kind(kind: str) -> list[dict[str, Any]]:
    return [d for _, d in _docs() if d["kind"] == kind]


def _deployment(component: str) -> dict[str, Any]:
    found = [d for d in _of_kind("Deployment") if d["metadata"]["name"] == f"fengqiao-{component}"]
    assert len(found) == 1, f"one Deployment fengqiao-{component}"
    return found[0]


def _container(component: str) -> dict[str, Any]:
    containers = _deployment(component)["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return dict(containers[0])


def _cli_commands() -> set[str]:
    names = {
        c.name or (c.callback.__name__ if c.callback else "") for c in cli_app.registered_commands
    }
    return names | {g.name for g in cli_app.registered_groups if g.name}


# --- settings named by the manifests ------------------------------------------------------


def setting_env_names() -> set[str]:
    """Every environment variable Settings reads: FENGQIAO_<FIELD> and the fields' aliases."""
    names = set()
    for name, field in Settings.model_fields.items():
        names.add(f"FENGQIAO_{name.upper()}")
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            names |= {str(a).upper() for a in alias.choices if isinstance(a, str)}
        elif isinstance(alias, str):
            names.add(alias.upper())
    return names


def unknown_settings(env_names: set[str]) -> set[str]:
    ours = {n for n in env_names if n.startswith("FENGQIAO_") or n == "KAFKA_BOOTSTRAP_SERVERS"}
    return ours - setting_env_names()


def _k8s_env() -> dict[str, str | None]:
    """Every variable the Deployments set: the shared ConfigMap and each container's env
    (None for a value that comes from a Secret)."""
    env: dict[str, str | None] = {}
    for cm in _of_kind("ConfigMap"):
        if cm["metadata"]["name"] == "fengqiao-settings":
            env.update({k: str(v) for k, v in cm["data"].items()})
    for dep in _of_kind("Deployment"):
        for c in dep["spec"]["template"]["spec"]["containers"]:
            for e in c.get("env", []):
                env[e["name"]] = None if "valueFrom" in e else str(e.get("value"))
    return env


def _compose() -> dict[str, Any]:
    return dict(yaml.safe_load(COMPOSE.read_text()))


def _compose_fengqiao_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for svc in _compose()["services"].values():
        if str(svc.get("image", "")).startswith("fengqiao:"):
            env.update({k: str(v) for k, v in (svc.get("environment") or {}).items()})
    example = COMPOSE.parent / "secrets.env.example"
    for line in example.read_text().splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            env[key] = value
    return env


def test_the_settings_check_catches_a_made_up_name() -> None:
    assert unknown_settings({"FENGQIAO_NO_SUCH_SETTING", "FENGQIAO_API_PORT"}) == {
        "FENGQIAO_NO_SUCH_SETTING"
    }
    assert unknown_settings({"KAFKA_BOOTSTRAP_SERVERS", "POSTGRES_PASSWORD"}) == set()


@pytest.mark.parametrize("source", ["kubernetes", "compose"])
def test_every_variable_the_manifests_set_is_a_setting_with_a_valid_value(
    source: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = _k8s_env() if source == "kubernetes" else _compose_fengqiao_env()
    assert len(env) >= 8
    assert unknown_settings(set(env)) == set()
    for key in [k for k in os.environ if k.startswith("FENGQIAO_")]:
        monkeypatch.delenv(key)
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value if value is not None else "from-a-secret")
    s = Settings()  # every value the manifests give must validate
    assert s.topic_replication == 3 and s.effective_min_insync_replicas() == 2
    assert s.topic_partitions == 12


def test_secrets_come_from_secrets_only() -> None:
    env = _k8s_env()
    for name in (
        "FENGQIAO_KAFKA_SASL_PASSWORD",
        "FENGQIAO_DATABASE_URL",
        "FENGQIAO_GATEWAY_DB_URL",
    ):
        assert name in env and env[name] is None, f"{name} must come from a Secret"
    compose_env = {
        k
        for svc in _compose()["services"].values()
        for k in (svc.get("environment") or {})
        if re.search("PASSWORD|DATABASE_URL|DB_URL", k)
    }
    assert compose_env == set(), "secrets belong in secrets.env, not in compose.yaml"
    for c in COMPONENTS:
        names = {e["name"] for e in _container(c).get("env", [])}
        assert "FENGQIAO_KAFKA_SASL_PASSWORD" in names, c


# --- Kubernetes ---------------------------------------------------------------------------


def test_core_kinds_pass_the_kubernetes_schemas() -> None:
    core = [(p, d) for p, d in _docs() if not d["apiVersion"].startswith("kafka.strimzi.io/")]
    kinds = {d["kind"] for _, d in core}
    assert {"Deployment", "PodDisruptionBudget", "ConfigMap", "Service", "Namespace"} <= kinds
    for path, doc in core:
        try:
            kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as err:
            pytest.fail(f"{path.name} {doc['kind']}/{doc['metadata']['name']}: {err.message}")


def test_the_validator_rejects_a_broken_deployment() -> None:
    broken = json.loads(json.dumps(_deployment("worker")))
    broken["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSION, strict=True)


@pytest.mark.parametrize("component", COMPONENTS)
def test_a_deployment_per_component_with_probes_and_resources(component: str) -> None:
    c = _container(component)
    assert c["args"][0] == component and component in _cli_commands()
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        spec = c[probe]
        target = spec["httpGet"]["path"] if "httpGet" in spec else " ".join(spec["exec"]["command"])
        assert path in target, f"{component} {probe}"
    res = c["resources"]
    assert res["requests"]["cpu"] and res["requests"]["memory"] and res["limits"]["memory"]
    mounts = {m["mountPath"] for m in c["volumeMounts"]}
    assert {"/etc/fengqiao/reference", "/etc/fengqiao/kafka-ca"} <= mounts


def test_workers_have_a_disruption_budget_and_surge_first() -> None:
    worker = _deployment("worker")
    assert worker["spec"]["replicas"] >= 2
    assert worker["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    (pdb,) = _of_kind("PodDisruptionBudget")
    labels = worker["spec"]["template"]["metadata"]["labels"]
    selector = pdb["spec"]["selector"]["matchLabels"]
    assert selector.items() <= labels.items()
    assert pdb["spec"]["minAvailable"] >= 1


def _component_settings(component: str, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The settings one component's container sees: the shared ConfigMap and its own env."""
    env: dict[str, str] = {}
    for cm in _of_kind("ConfigMap"):
        if cm["metadata"]["name"] == "fengqiao-settings":
            env.update({k: str(v) for k, v in cm["data"].items()})
    for e in _container(component).get("env", []):
        env[e["name"]] = "from-a-secret" if "valueFrom" in e else str(e["value"])
    for key in [k for k in os.environ if k.startswith("FENGQIAO_")]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return Settings()


def _http_probes(component: str) -> dict[str, tuple[str, int]]:
    c = _container(component)
    out = {}
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        get = c[probe].get("httpGet")
        assert get is not None, f"{component} {probe} is a plain HTTP GET on the pod IP"
        assert "host" not in get  # the kubelet's default: the pod IP
        out[probe] = (get["path"], int(get["port"]))
    return out


@pytest.mark.parametrize("component", ["worker", "sink"])
def test_probes_reach_the_port_and_address_the_settings_serve_health_on(
    component: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = _component_settings(component, monkeypatch)
    if component == "worker":  # faust's web server: /healthz and /readyz
        host, port = s.worker_web_host, s.worker_web_port
    else:  # the sink's own server (consumers.sink.serve_metrics), only when a port is set
        assert s.sink_metrics_port is not None, "the sink serves no probes without a port"
        host, port = s.metrics_host, s.sink_metrics_port
    assert host == "0.0.0.0", f"{component} listens where the pod IP reaches it"  # noqa: S104
    assert _http_probes(component) == {
        "startupProbe": ("/healthz", port),
        "livenessProbe": ("/healthz", port),
        "readinessProbe": ("/readyz", port),
    }
    declared = {p["containerPort"] for p in _container(component)["ports"]}
    assert port in declared


def test_the_sink_is_one_static_member_replaced_not_surged(monkeypatch: pytest.MonkeyPatch) -> None:
    sink = _deployment("sink")
    assert sink["spec"]["replicas"] == 1 and sink["spec"]["strategy"]["type"] == "Recreate"
    assert _component_settings("sink", monkeypatch).sink_instance_id


def test_the_reference_configmap_is_the_packaged_catalogue_and_ruleset() -> None:
    (cm,) = [c for c in _of_kind("ConfigMap") if c["metadata"]["name"] == "fengqiao-reference"]
    catalogue = ROOT / "schemas" / "reference" / "data" / "catalogue.json"
    ruleset = ROOT / "streams" / "data" / "ruleset.json"
    assert json.loads(cm["data"]["catalogue.json"]) == json.loads(catalogue.read_text())
    assert json.loads(cm["data"]["ruleset.json"]) == json.loads(ruleset.read_text())


def test_kustomization_lists_every_manifest() -> None:
    kust = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    files = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert sorted(kust["resources"]) == sorted(files)


# --- Strimzi ------------------------------------------------------------------------------


def test_kafka_comes_from_strimzi_not_our_own_statefulset() -> None:
    assert _of_kind("StatefulSet") == []
    (kafka,) = _of_kind("Kafka")
    (pool,) = _of_kind("KafkaNodePool")
    assert kafka["apiVersion"] == pool["apiVersion"] == STRIMZI_API
    assert kafka["metadata"]["annotations"]["strimzi.io/kraft"] == "enabled"
    assert pool["metadata"]["labels"]["strimzi.io/cluster"] == kafka["metadata"]["name"]
    assert pool["spec"]["replicas"] == 3 and set(pool["spec"]["roles"]) == {"controller", "broker"}
    listeners = kafka["spec"]["kafka"]["listeners"]
    assert any(lst["tls"] and lst["authentication"]["type"] == "scram-sha-512" for lst in listeners)
    assert all(lst["tls"] for lst in listeners), "no plaintext listener"
    config = kafka["spec"]["kafka"]["config"]
    assert config["default.replication.factor"] == 3 and config["min.insync.replicas"] == 2
    (user,) = _of_kind("KafkaUser")
    assert user["spec"]["authentication"]["type"] == "scram-sha-512"
    # the Deployments read the password from the Secret Strimzi makes for this user
    ref = next(
        e["valueFrom"]["secretKeyRef"]
        for e in _container("worker")["env"]
        if e["name"] == "FENGQIAO_KAFKA_SASL_PASSWORD"
    )
    assert ref["name"] == user["metadata"]["name"] and ref["key"] == "password"
    settings_cm = next(
        c for c in _of_kind("ConfigMap") if c["metadata"]["name"] == "fengqiao-settings"
    )
    assert settings_cm["data"]["FENGQIAO_KAFKA_SASL_USERNAME"] == user["metadata"]["name"]
    bootstrap = settings_cm["data"]["KAFKA_BOOTSTRAP_SERVERS"]
    assert bootstrap.startswith(f"{kafka['metadata']['name']}-kafka-bootstrap.")
    assert bootstrap.endswith(f":{listeners[0]['port']}")


def test_kafka_topics_are_the_topic_catalogue() -> None:
    topics = {t["spec"]["topicName"]: t for t in _of_kind("KafkaTopic")}
    assert set(topics) == {spec.name for spec in TOPICS}
    (kafka,) = _of_kind("Kafka")
    for spec in TOPICS:
        t = topics[spec.name]
        assert t["apiVersion"] == STRIMZI_API
        assert t["metadata"]["labels"]["strimzi.io/cluster"] == kafka["metadata"]["name"]
        assert t["spec"]["replicas"] == 3 and t["spec"]["partitions"] >= 2
        config = {k: str(v) for k, v in t["spec"]["config"].items()}
        assert config == {"min.insync.replicas": "2", **spec.config()}, spec.name


# --- docker compose -----------------------------------------------------------------------


def _compose_validator() -> jsonschema.protocols.Validator:
    schema = json.loads((ROOT / "tests" / "schemas" / "compose-spec.json").read_text())
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def test_compose_file_passes_the_compose_spec_schema() -> None:
    errors = sorted(_compose_validator().iter_errors(_compose()), key=str)
    assert errors == [], [f"{list(e.absolute_path)}: {e.message}" for e in errors]


def test_the_compose_schema_rejects_a_broken_file() -> None:
    broken = _compose()
    broken["services"]["worker"]["restart"] = ["always"]
    broken["services"]["sink"]["no_such_key"] = 1
    assert len(list(_compose_validator().iter_errors(broken))) >= 2


def test_compose_runs_three_brokers_the_stores_and_every_component() -> None:
    services = _compose()["services"]
    assert {"kafka-1", "kafka-2", "kafka-3", "postgres", "prometheus", "grafana"} <= set(services)
    voters = services["kafka-1"]["environment"]["KAFKA_CONTROLLER_QUORUM_VOTERS"]
    assert voters.count("@") == 3
    for component in COMPONENTS:
        assert services[component]["command"][0] == component
    commands = _cli_commands()
    for component in set(COMPONENTS) - {"workbench"} | {"topics"}:
        assert services[component]["command"][0] in commands
    bootstrap = services["worker"]["environment"]["KAFKA_BOOTSTRAP_SERVERS"].split(",")
    assert sorted(h.split(":")[0] for h in bootstrap) == ["kafka-1", "kafka-2", "kafka-3"]
    assert services["worker"]["deploy"]["replicas"] >= 2
