"""Faust agents, one module per feature, each with ``register(ctx)`` and an ``ORDER``.

``streams.app.create_app`` discovers them; an agent decodes, calls pure code, publishes.
"""
