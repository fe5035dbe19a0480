"""Ways events go out: the case store and its sink, the mediator inbox API."""
