"""The real tier: tests against the real Kafka broker (one node or the 3-node cluster),
PostgreSQL, promtool and Prometheus, and headless Chromium. Files here may also hold offline
tests of the same component; the markers say which need what."""
