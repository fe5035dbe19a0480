"""Ways events come in: the publisher SDK, CLI publish/import, HTTP gateway, simulator."""

from producers.sdk import Publisher, PublishError

__all__ = ["PublishError", "Publisher"]
