"""One settings object for every Fengqiao process.

Built once in the CLI entry point and passed down; nothing else reads the environment.
Every field can be set as ``FENGQIAO_<NAME>``; the Kafka address also honours the standard
``KAFKA_BOOTSTRAP_SERVERS``.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from consumers.fetching import FETCH_MAX_WAIT_MS, FETCH_MIN_BYTES

if TYPE_CHECKING:  # the SDK's config type only; settings stay importable on their own
    from producers.sdk import PublisherConfig

DEFAULT_HOME = Path.home() / ".fengqiao"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FENGQIAO_", extra="ignore")

    # --- Kafka -------------------------------------------------------------------------
    kafka_bootstrap_servers: str | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "KAFKA_BOOTSTRAP_SERVERS", "FENGQIAO_KAFKA_BOOTSTRAP_SERVERS"
        ),
        description="An existing cluster; when unset the local broker is used.",
    )
    topic_prefix: str = Field(default="", description="Prefix put before every topic name.")
    topic_partitions: int = Field(default=4, ge=1, description="Partitions for new topics.")
    topic_replication: int = Field(default=1, ge=1, description="Replication for new topics.")

    # --- Local broker (make up, tests) ----------------------------------------------
    home: Path = Field(default=DEFAULT_HOME, description="Where local state lives.")
    kafka_version: str = "4.1.1"
    kafka_port: int = 9092
    kafka_controller_port: int = 9093
    kafka_heap: str = "512m"
    kafka_cache_dir: Path | None = Field(
        default=None, description="Where resolved Kafka jars are cached (default ~/.cache)."
    )

    # --- Stream worker ------------------------------------------------------------------
    log_libraries: bool = Field(
        default=False, description="Log faust/kafka/aiokafka at INFO (debugging)."
    )
    app_id: str = "fengqiao"
    worker_web_port: int = 6066
    worker_data_dir: Path | None = None
    dedupe_horizon_days: float = Field(default=7.0, gt=0)
    max_future_skew_minutes: float = Field(default=10.0, ge=0)
    ruleset_path: Path | None = None
    catalogue_path: Path | None = None
    clock: str = Field(default="wall", pattern="^(wall|stream)$")
    worker_uvloop: bool = Field(
        default=True, description="Run the worker's event loop on uvloop (faster than asyncio's)."
    )
    worker_gc_threshold: tuple[int, int, int] = Field(
        default=(20_000, 10, 10),
        description="The worker's garbage-collector thresholds (Python's gc.set_threshold; "
        "[700, 10, 10] is Python's own). With Python's, the worker's growing tables made the "
        "collector scan every live row again and again: about 3 s of collection per 30,000 "
        "events and pauses of 250 ms; with these, 0.3 s. A full collection still comes, rarely, "
        "and pauses for about a microsecond per live object.",
    )
    worker_fetch_max_wait_ms: int = Field(
        default=20,
        ge=0,
        description="How long the broker may hold a worker's fetch to gather "
        "worker_fetch_min_bytes. Under steady traffic every fetch otherwise returns with the "
        "few records just arrived, and each fetch costs the worker CPU for every partition it "
        "reads: at 500 events/s one worker used 78 % of a core with a 1-byte minimum and 45 % "
        "with 50 ms / 64 KiB, for p99 latency 70 → 90 ms. 20 ms (the default) keeps the "
        "wait an event can add at each hop small enough for p99 under 100 ms to cases.routed.",
    )
    worker_fetch_min_bytes: int = Field(
        default=65_536,
        ge=1,
        description="Bytes the broker gathers for a worker's fetch before it answers (or "
        "worker_fetch_max_wait_ms passes).",
    )
    worker_delivery_timeout_s: float = Field(
        default=120.0,
        gt=0,
        description="Longest the worker waits for the broker to take a batch's output (Kafka's "
        "own delivery.timeout.ms default). It logs the producer's queues after 10 s; past this "
        "it stops, the batch unacknowledged, to be read again by the next start.",
    )
    intake_batch_max: int = Field(
        default=500,
        ge=1,
        description="Most intake events handled as one batch (a batch is whatever the stream "
        "has buffered, so light traffic is handled event by event).",
    )
    worker_standby_replicas: int = Field(
        default=0,
        ge=0,
        description="Standby copies of each table partition kept by other workers (faust's "
        "table_standby_replicas): a standby takes over a partition without replaying its "
        "changelog, but every worker then also reads the other workers' changelogs (with two "
        "workers on two cores: 1,414 events/s with one standby, 1,914 without). Kafka "
        "Streams' default is 0 too.",
    )

    # --- Store, API, gateway ------------------------------------------------------------
    database_url: str | None = None
    api_host: str = "127.0.0.1"
    api_port: int = 8080
    gateway_port: int = 8090
    gateway_max_body_bytes: int = 1_000_000
    metrics_port: int = 9464

    # --- Monitoring sink and dashboard ---
    metrics_host: str = Field(default="127.0.0.1", description="Where /metrics is served.")
    metrics_from_beginning: bool = Field(
        default=True,
        description="Rebuild counts, risk table and open cases by reading the topics from the "
        "start (else only new events are counted).",
    )
    metrics_worker_group: str | None = Field(
        default=None, description="Consumer group whose lag is exported (default: app_id)."
    )
    metrics_lag_interval_s: float = Field(default=5.0, gt=0)
    metrics_feed_size: int = Field(default=50, ge=1, le=1000)
    metrics_utc_offset_hours: float = Field(
        default=8.0, ge=-14, le=14, description="The district's local time, for 'today'."
    )

    # --- Worker runtime: web server, group membership, untested libraries ------------------
    worker_web_host: str = Field(
        default="127.0.0.1", description="The address the worker's web server listens on."
    )
    worker_static_membership: bool = Field(
        default=True,
        description="Join the consumer group as a static member (group.instance.id): a worker "
        "restarted within worker_session_timeout_s gets its partitions back at once, without "
        "waiting out its old session. A worker stopped for good (even gracefully) keeps its "
        "partitions until the session times out.",
    )
    worker_instance_id: str | None = Field(
        default=None,
        description="The static member's id; unique per worker and the same across its "
        "restarts (default: <app_id>-<host name>-<worker web port>).",
    )
    worker_session_timeout_s: float = Field(
        default=15.0,
        ge=6.0,
        le=120.0,
        description="How long the group waits for a silent worker before its partitions go to "
        "the others: the longest a worker killed for good stalls its partitions.",
    )
    worker_allow_untested_runtime: bool = Field(
        default=False,
        description="Start the worker even though faust-streaming, mode-streaming or aiokafka "
        "is not the version its offset fixes were tested for.",
    )

    def resolved_bootstrap(self) -> str:
        """The bootstrap address clients should use."""
        return self.kafka_bootstrap_servers or f"127.0.0.1:{self.kafka_port}"

    @property
    def uses_external_cluster(self) -> bool:
        return bool(self.kafka_bootstrap_servers)

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}{name}"

    # --- Kafka cluster and client security (TLS, SASL) -------------------------------------
    # One block builds every client's security options, for kafka-python, aiokafka and faust,
    # so a component cannot connect with less than the others.
    topic_min_insync_replicas: int | None = Field(
        default=None,
        ge=1,
        description="min.insync.replicas of new topics (default: replication - 1, at least 1: "
        "2 on a 3-broker cluster, so acks=all survives one broker down).",
    )
    kafka_security_protocol: str = Field(
        default="PLAINTEXT",
        pattern="^(PLAINTEXT|SSL|SASL_PLAINTEXT|SASL_SSL)$",
        description="How clients talk to the brokers (SASL_SSL: TLS and SASL).",
    )
    kafka_sasl_mechanism: str | None = Field(
        default=None,
        pattern="^(PLAIN|SCRAM-SHA-256|SCRAM-SHA-512)$",
        description="SASL mechanism (SCRAM-SHA-512 on the bureau's cluster).",
    )
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_cafile: Path | None = Field(
        default=None, description="PEM file of the CA that signed the brokers' certificates."
    )
    kafka_ssl_certfile: Path | None = Field(
        default=None, description="PEM client certificate, when the brokers require one."
    )
    kafka_ssl_keyfile: Path | None = Field(
        default=None, description="PEM private key of the client certificate."
    )
    kafka_ssl_key_password: SecretStr | None = None

    @property
    def kafka_uses_ssl(self) -> bool:
        return self.kafka_security_protocol in ("SSL", "SASL_SSL")

    @property
    def kafka_uses_sasl(self) -> bool:
        return self.kafka_security_protocol in ("SASL_PLAINTEXT", "SASL_SSL")

    def effective_min_insync_replicas(self) -> int:
        return self.topic_min_insync_replicas or max(1, self.topic_replication - 1)

    def _sasl(self) -> dict[str, object]:
        if not self.kafka_uses_sasl:
            return {}
        return {
            "sasl_mechanism": self.kafka_sasl_mechanism or "PLAIN",
            "sasl_plain_username": self.kafka_sasl_username,
            "sasl_plain_password": (
                self.kafka_sasl_password.get_secret_value() if self.kafka_sasl_password else None
            ),
        }

    def kafka_client_config(self) -> dict[str, object]:
        """Security options in kafka-python's spelling (its producers, consumers, admin)."""
        cfg: dict[str, object] = {"security_protocol": self.kafka_security_protocol}
        cfg.update(self._sasl())
        if self.kafka_uses_ssl:
            for key, path in (
                ("ssl_cafile", self.kafka_ssl_cafile),
                ("ssl_certfile", self.kafka_ssl_certfile),
                ("ssl_keyfile", self.kafka_ssl_keyfile),
            ):
                if path is not None:
                    cfg[key] = str(path)
            if self.kafka_ssl_key_password is not None:
                cfg["ssl_password"] = self.kafka_ssl_key_password.get_secret_value()
        return cfg

    def kafka_ssl_context(self) -> Any:
        """The TLS context aiokafka and faust want (None when TLS is off): verifies the
        brokers against the CA file (else the system's CAs) and presents the client
        certificate when one is set."""
        if not self.kafka_uses_ssl:
            return None
        import ssl

        ctx = ssl.create_default_context(
            cafile=str(self.kafka_ssl_cafile) if self.kafka_ssl_cafile else None
        )
        if self.kafka_ssl_certfile is not None:
            ctx.load_cert_chain(
                str(self.kafka_ssl_certfile),
                str(self.kafka_ssl_keyfile) if self.kafka_ssl_keyfile else None,
                self.kafka_ssl_key_password.get_secret_value()
                if self.kafka_ssl_key_password
                else None,
            )
        return ctx

    def aiokafka_client_config(self) -> dict[str, object]:
        """Security options in aiokafka's spelling (an SSL context instead of file names)."""
        cfg: dict[str, object] = {"security_protocol": self.kafka_security_protocol}
        cfg.update(self._sasl())
        if self.kafka_uses_ssl:
            cfg["ssl_context"] = self.kafka_ssl_context()
        return cfg

    def faust_broker_credentials(self) -> Any:
        """faust's ``broker_credentials`` (None for PLAINTEXT): SASL with its TLS context, or
        TLS alone."""
        if not self.kafka_uses_ssl and not self.kafka_uses_sasl:
            return None
        import faust  # local: settings must stay importable without the worker's packages

        if self.kafka_uses_sasl:
            return faust.SASLCredentials(
                username=self.kafka_sasl_username,
                password=(
                    self.kafka_sasl_password.get_secret_value()
                    if self.kafka_sasl_password
                    else None
                ),
                mechanism=self.kafka_sasl_mechanism or "PLAIN",
                ssl_context=self.kafka_ssl_context(),
            )
        return faust.SSLCredentials(self.kafka_ssl_context())

    @property
    def cache_dir(self) -> Path:
        return self.kafka_cache_dir or (Path.home() / ".cache" / "fengqiao" / "kafka")

    @property
    def data_dir(self) -> Path:
        return self.home

    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        self.home.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{self.home / 'fengqiao.db'}"

    # --- HTTP ingest gateway ---------------------------------------------------------
    gateway_host: str = "127.0.0.1"
    gateway_db_url: str | None = Field(
        default=None, description="API keys and idempotency records (default SQLite in home)."
    )
    gateway_kafka_timeout_s: float = Field(
        default=5.0, gt=0, description="How long a request waits for Kafka before a 503."
    )
    gateway_retry_after_s: int = Field(default=5, ge=1, description="Retry-After on a 503.")
    gateway_max_batch: int = Field(default=500, ge=1, description="Events per batch request.")

    def effective_gateway_db_url(self) -> str:
        if self.gateway_db_url:
            return self.gateway_db_url
        self.home.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{self.home / 'gateway.db'}"

    # --- Group incidents, stability risk, SLA clocks ---------------------------------
    incident_grace_hours: float = Field(default=24.0, ge=0, description="Late events allowed.")
    incident_retention_days: float = Field(default=90.0, ge=0)
    wage_employer_window_days: float = Field(default=7.0, gt=0)
    wage_employer_min_claims: int = Field(default=3, ge=1)
    wage_employer_min_workers: int = Field(default=10, ge=1)
    dispute_collective_min_parties: int = Field(default=5, ge=1)
    dispute_respondent_window_days: float = Field(default=7.0, gt=0)
    dispute_respondent_min_cases: int = Field(default=3, ge=1)
    petition_collective_min_petitioners: int = Field(default=5, ge=1)
    petition_matter_window_days: float = Field(default=30.0, gt=0)
    petition_matter_min_cases: int = Field(default=3, ge=1)
    city_escalation_people: int = Field(default=50, ge=1)
    city_escalation_amount_yuan: Decimal = Field(default=Decimal(1_000_000), ge=0)
    district_center_committee: str | None = Field(
        default=None, description="Escalation target; default: the catalogue's district center."
    )
    city_committee: str | None = Field(
        default=None, description="Escalation target; default: the catalogue's city committee."
    )
    street_committee_pattern: str = "{street}-street"
    risk_half_life_days: float = Field(default=7.0, gt=0)
    risk_thresholds: tuple[float, float, float, float] = (5.0, 10.0, 20.0, 40.0)
    sla_dispute_days: tuple[float, float] = (1.0, 30.0)
    sla_petition_days: tuple[float, float] = (15.0, 60.0)
    sla_wage_arrears_days: tuple[float, float] = (1.0, 15.0)
    sla_warn_fraction: float = Field(default=0.8, gt=0, le=1)
    watch_tick_seconds: float = Field(
        default=10.0, gt=0, description="How often SLA clocks and risk decay are checked."
    )

    # --- One dispute, one case: linking reports across channels (linking) ---------------
    link_salt: SecretStr = Field(
        default=SecretStr("fengqiao-development-link-salt"),
        description="Secret that keys the linking hashes of identities (set your own in "
        "production, and keep it: another salt links nothing to the cases already open).",
    )
    link_horizon_days: float = Field(
        default=30.0, gt=0, description="How far apart a report and the open case it joins may be."
    )
    link_related_max: int = Field(
        default=10, ge=0, description="Possibly related cases named on a routed case, at most."
    )
    linking_enabled: bool = Field(
        default=True,
        description="Link reports of one matter to one case (off: every report opens one).",
    )

    # --- Case store, sink and inbox API ---------------------------------------------
    sink_group_id: str | None = Field(
        default=None, description="Consumer group of the sink (default: <app_id>-sink)."
    )
    sink_instance_id: str | None = Field(
        default=None,
        description="Static group membership: a restarted sink takes its partitions back at once.",
    )
    sink_batch_size: int = Field(default=500, ge=1, description="Messages per transaction.")
    replay_gc_threshold: tuple[int, int, int] = Field(
        default=(20_000, 10, 10),
        description="fengqiao replay's garbage-collector thresholds (Python's gc.set_threshold; "
        "[700, 10, 10] is Python's own). The replay keeps every case id it has seen, and with "
        "Python's thresholds the collector kept rescanning them: nine simulated years (200,671 "
        "events) replayed at 7,492-7,712 events/s with them and at 8,376-9,235 with these.",
    )
    sink_gc_threshold: tuple[int, int, int] = Field(
        default=(20_000, 10, 10),
        description="The sink's garbage-collector thresholds (Python's gc.set_threshold; "
        "[700, 10, 10] is Python's own). Each message becomes a validated event, its rows and "
        "their JSON, and with Python's thresholds the collector ran every few messages: the "
        "worker's routed cases and their reports were written at 2,143-2,183 events/s with "
        "them and at 2,563-2,609 with these (python -m tests.bench_sink --real --reports).",
    )
    sink_fetch_max_wait_ms: int = Field(
        default=FETCH_MAX_WAIT_MS,
        ge=0,
        description="How long the broker may hold the sink's fetch to gather "
        "sink_fetch_min_bytes. With kafka-python's own 1-byte minimum every fetch returns with "
        "the few messages just arrived, and each fetch, poll and transaction costs the sink CPU "
        "for all its partitions: at 500 events/s the sink used 41-42 % of a core that way and "
        "22-25 % with 100 ms / 256 KiB, for p99 from publishing to the case store 123-137 → "
        "219-235 ms (fengqiao bench --events 10000 --rate 500, alternated). A backlog fills "
        "the minimum at once; a fetch for partitions already read to their end is held this "
        "long while the others wait (kafka-python's own 500 ms stalled catching up).",
    )
    sink_fetch_min_bytes: int = Field(
        default=FETCH_MIN_BYTES,
        ge=1,
        description="Bytes the broker gathers for the sink's fetch before it answers (or "
        "sink_fetch_max_wait_ms passes).",
    )
    sink_session_timeout_ms: int = Field(default=10_000, ge=6_000)
    sink_retry_initial_s: float = Field(default=0.2, gt=0)
    sink_retry_max_s: float = Field(default=5.0, gt=0)
    sink_metrics_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="Serve the sink's own counters on http://<metrics_host>:<port>/metrics "
        "(unset: not served).",
    )
    api_publish_timeout_s: float = Field(
        default=15.0, gt=0, description="How long an action waits for the broker's ack."
    )

    # --- Mediator workbench: personal accounts, sessions, pages --------------------------
    workbench_host: str = Field(default="127.0.0.1", description="Where the workbench listens.")
    workbench_port: int = Field(default=8070, ge=1, le=65535)
    session_idle_minutes: float = Field(
        default=30.0, gt=0, description="A session ends after this long without a request."
    )
    session_absolute_hours: float = Field(
        default=12.0, gt=0, description="A session ends this long after login, active or not."
    )
    trust_forwarded_proto: bool = Field(
        default=False,
        description="Believe X-Forwarded-Proto when deciding whether the site is served over "
        "HTTPS (marks the cookie Secure). Only behind a proxy that sets the header itself.",
    )
    trust_forwarded_for: bool = Field(
        default=False,
        description="Count failed logins per address by the last X-Forwarded-For entry. Only "
        "behind a proxy that appends it; otherwise every login counts against the proxy.",
    )
    login_max_failures_per_account: int = Field(default=5, ge=1)
    login_max_failures_per_address: int = Field(default=20, ge=1)
    login_failure_window_minutes: float = Field(default=15.0, gt=0)
    password_min_length: int = Field(default=10, ge=8, le=128)
    workbench_poll_seconds: float = Field(
        default=3.0, gt=0, le=60, description="How often an open inbox asks for new cases."
    )

    # --- Command center: login and the /metrics token ----------------------------------
    command_login_url: str | None = Field(
        default=None,
        description="The workbench's login page the command center sends visitors to "
        "(default: http://<workbench_host>:<workbench_port>/login).",
    )
    # A secret: printed as ********** in reprs, logs and ``settings show``.
    metrics_token: SecretStr | None = Field(
        default=None,
        repr=False,
        description="Bearer token /metrics requires when metrics_host is not loopback.",
    )

    # --- Publisher SDK and gateway: their typed configs, built here from the settings -------
    def publisher_config(self) -> PublisherConfig:
        """What ``producers.sdk.Publisher`` (and the gateway's producer) need, nothing more."""
        from producers.sdk import PublisherConfig

        return PublisherConfig(
            bootstrap=tuple(self.resolved_bootstrap().split(",")),
            topic_prefix=self.topic_prefix,
            client_options=self.kafka_client_config(),
        )
