"""Ways events go out: the case store sink, the mediator inbox API, metrics and dashboard."""
