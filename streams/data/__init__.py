"""Package data: the default committee catalogue (Longwan sample) and routing ruleset."""
