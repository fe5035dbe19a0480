"""In-process tests: the APIs, pages and CLIs on in-memory stores and publishers, faust apps
without a broker, scripts run as subprocesses; no Kafka, PostgreSQL, Prometheus or browser."""
