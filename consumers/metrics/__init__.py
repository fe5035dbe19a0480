"""The monitoring sink: intake and derived events in, Prometheus metrics and dashboard state out.

``vocabulary`` says which codes a label may take, ``families`` registers the metrics, ``fold``
applies events to them and to the dashboard's ``state``, ``snapshot`` renders that state as
the dashboard's JSON, ``lag`` measures the worker's consumer lag and ``feed`` is the thin
kafka-python loop that reads the topics, reporting to ``health``. Only ``feed`` and ``lag``
touch Kafka.
"""
