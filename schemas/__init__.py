"""Fengqiao's wire contracts: the event envelope, event payload models and the topic catalogue.

Nothing here imports Kafka or faust; producers, the stream worker and the sinks all share it.
"""

from schemas.envelope import Envelope
from schemas.errors import ContractError, FengqiaoError, FieldProblem
from schemas.events import (
    DERIVED_TYPES,
    INTAKE_KINDS,
    INTAKE_TYPES,
    CaseAccepted,
    CaseClosed,
    CaseConcluded,
    CaseRouted,
    CaseTransferred,
    ConsultationRecorded,
    DeadLetter,
    DisputeReported,
    EscalationRaised,
    IncidentDetected,
    PetitionFiled,
    RiskLevelChanged,
    SlaBreached,
    SlaWarning,
    WageArrearsReported,
)
from schemas.parse import parse_event, parse_intake_bytes
from schemas.topics import TOPICS, TopicSpec

__all__ = [
    "DERIVED_TYPES",
    "INTAKE_KINDS",
    "INTAKE_TYPES",
    "TOPICS",
    "CaseAccepted",
    "CaseClosed",
    "CaseConcluded",
    "CaseRouted",
    "CaseTransferred",
    "ConsultationRecorded",
    "ContractError",
    "DeadLetter",
    "DisputeReported",
    "Envelope",
    "EscalationRaised",
    "FengqiaoError",
    "FieldProblem",
    "IncidentDetected",
    "PetitionFiled",
    "RiskLevelChanged",
    "SlaBreached",
    "SlaWarning",
    "TopicSpec",
    "WageArrearsReported",
    "parse_event",
    "parse_intake_bytes",
]
