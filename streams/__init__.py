"""The stream worker (faust) and the pure decision logic it calls.

Modules named for a decision (cases, routing, incidents, risk, sla) import no faust and no
Kafka client; ``streams.app`` builds the faust app and wires agents to them.
"""
