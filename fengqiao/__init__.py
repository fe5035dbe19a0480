"""Fengqiao's composition root: settings, the ``fengqiao`` CLI and process wiring."""

__version__ = "0.1.0"
