"""Pure unit tests: decisions, keys, models and stores in memory; no server, no process."""
