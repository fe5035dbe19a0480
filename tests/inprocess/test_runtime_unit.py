"""The worker's runtime fence: version refusal, the connection-error log, its configuration."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from fengqiao.settings import Settings
from fengqiao.workerwiring import worker_config
from streams.runtime import versions
from streams.runtime.connlog import ConnectionLog, install


def _lookup(**found: str | None):  # type: ignore[no-untyped-def]
    def lookup(name: str) -> str | None:
        return found.get(name, versions.TESTED[name])

    return lookup


def test_the_tested_versions_pass() -> None:
    assert versions.check(False, _lookup()) == []


def test_the_installed_versions_are_the_tested_ones() -> None:
    assert versions.mismatches() == {}


def test_another_faust_is_refused_with_one_sentence_naming_it() -> None:
    with pytest.raises(versions.UntestedRuntime) as err:
        versions.check(False, _lookup(**{"faust-streaming": "0.16.0"}))
    text = str(err.value)
    assert "faust-streaming 0.16.0 (tested: 0.15.3)" in text
    assert versions.OVERRIDE in text and text.count(". ") == 0 and text.endswith(".")


def test_a_missing_library_is_refused() -> None:
    with pytest.raises(versions.UntestedRuntime, match="aiokafka missing"):
        versions.check(False, _lookup(aiokafka=None))


def test_the_override_runs_untested_with_a_warning() -> None:
    warnings = versions.check(True, _lookup(**{"mode-streaming": "0.8.0"}))
    assert len(warnings) == 1 and "mode-streaming 0.8.0" in warnings[0]


def test_the_override_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(versions.OVERRIDE, "true")
    assert worker_config(Settings()).allow_untested_runtime is True
    monkeypatch.delenv(versions.OVERRIDE)
    assert worker_config(Settings()).allow_untested_runtime is False


def test_create_app_refuses_an_untested_runtime(monkeypatch: pytest.MonkeyPatch) -> None:
    from streams.app import create_app

    monkeypatch.setattr(versions, "installed", _lookup(aiokafka="0.13.0"))
    with pytest.raises(versions.UntestedRuntime):
        create_app(worker_config(Settings()), features=())


def _record(msg: str, name: str = "aiokafka", level: int = logging.ERROR) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, msg, (), None)


def test_connection_errors_are_logged_once_per_state_change_with_a_count(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [0.0]
    conn = ConnectionLog(quiet_s=5, remind_s=60, clock=lambda: now[0])
    passed = []
    for i in range(1000):  # an outage: aiokafka retries every few milliseconds
        now[0] = i * 0.02
        passed.append(conn.filter(_record('Unable connect to "127.0.0.1:9092": [Errno 111]')))
        assert conn.tick() is None
    assert passed.count(True) == 1 and passed[0] is True and not conn.connected
    # other records pass as they are, during the outage too
    assert conn.filter(_record("worker ready", name="fengqiao.worker", level=logging.INFO))
    assert conn.filter(_record("Heartbeat failed", name="faust", level=logging.ERROR))
    now[0] = 19.98 + 5
    with caplog.at_level(logging.WARNING, logger="fengqiao.worker.kafka"):
        line = conn.tick()
    assert line is not None and "1000 connection errors" in line and "20.0 s" in line
    assert conn.connected and caplog.messages == [line]
    assert conn.tick() is None
    # the next outage is announced again
    assert conn.filter(_record("Failed fetch messages from 1: NodeNotReadyError"))


def test_a_long_outage_is_reminded_with_the_count_since_the_last_line() -> None:
    now = [0.0]
    conn = ConnectionLog(quiet_s=5, remind_s=60, clock=lambda: now[0])
    for i in range(1200):
        now[0] = i * 0.1
        conn.filter(_record("Unable to update metadata from [1]"))
        if i == 650:
            assert conn.tick() == "Kafka still unreachable after 65 s: 650 more connection errors"
    assert conn.tick() is None  # less than 60 s since the reminder


def test_the_first_error_says_that_the_rest_are_counted() -> None:
    conn = ConnectionLog()
    record = _record("Unable connect to node with id %s: %s")
    record.args = (1, "refused")
    assert conn.filter(record)
    assert record.getMessage() == (
        "Unable connect to node with id 1: refused (Kafka unreachable: further connection "
        "errors are counted)"
    )


def test_install_filters_every_handler_once() -> None:
    logger = logging.getLogger("runtime-unit-install")
    handler = logging.NullHandler()
    logger.addHandler(handler)
    conn = ConnectionLog()
    install(conn, logger)
    install(conn, logger)
    assert handler.filters == [conn]


def test_worker_config_from_settings(tmp_path: Path) -> None:
    s = Settings(
        app_id="fq",
        home=tmp_path,
        kafka_bootstrap_servers="a:1,b:2",
        worker_web_port=7001,
        worker_web_host="10.0.0.5",
        risk_half_life_days=3.0,
    )
    c = worker_config(s)
    assert c.bootstrap == ("a:1", "b:2") and c.data_dir == tmp_path / "worker"
    assert c.web_host == "10.0.0.5" and c.rules.risk_half_life_days == 3.0
    assert c.instance_id is not None and c.instance_id.startswith("fq-")
    assert c.instance_id.endswith("-7001") and c.session_timeout_s == 15.0
    assert worker_config(s.model_copy(update={"worker_instance_id": "w1"})).instance_id == "w1"
    off = s.model_copy(update={"worker_static_membership": False})
    assert worker_config(off).instance_id is None


def test_the_app_joins_as_a_static_member_and_listens_on_the_configured_host(
    tmp_path: Path,
) -> None:
    from streams.app import create_app

    s = Settings(home=tmp_path, worker_instance_id="w-1", worker_session_timeout_s=12)
    app, _ctx = create_app(worker_config(s), features=())
    assert app.conf.consumer_group_instance_id == "w-1"
    assert app.conf.broker_session_timeout == 12.0
    assert app.conf.broker_heartbeat_interval == 3.0
    assert app.conf.web_bind == "127.0.0.1" and app.conf.web_host == "127.0.0.1"


def test_an_answer_from_kafka_ends_the_outage_at_once() -> None:
    now = [0.0]
    conn = ConnectionLog(quiet_s=5, clock=lambda: now[0])
    conn.filter(_record("Group Coordinator Request failed: CoordinatorNotAvailableError"))
    now[0] = 1.0
    conn.filter(_record("Group Coordinator Request failed: CoordinatorNotAvailableError"))
    assert not conn.connected
    now[0] = 2.5
    line = conn.reachable()
    # the outage lasted from the first error to the answer, not to quiet_s before it
    assert line == "Kafka reachable again after 2.5 s; 2 connection errors in all"
    assert conn.connected
    assert conn.reachable() is None  # nothing to say when it was not down


def test_the_configs_defaults_are_the_settings_defaults() -> None:
    from dataclasses import fields, replace

    from fengqiao.workerwiring import rule_params
    from streams.config import RuleParams, WorkerConfig

    assert rule_params(Settings()) == RuleParams()
    built = worker_config(Settings(worker_static_membership=False))
    plain = WorkerConfig()
    differ = {
        f.name for f in fields(WorkerConfig) if getattr(built, f.name) != getattr(plain, f.name)
    }
    # the settings compute the data directory from the home directory
    assert differ <= {"data_dir"}, differ
    assert replace(built, data_dir=plain.data_dir) == plain
