"""Payload models (the envelope's ``data``) for every event type Fengqiao knows.

Intake events are what integrations publish; derived events are what the platform emits.
Models are frozen and keep unknown fields, so adding an optional field never breaks a reader.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
    model_validator,
)

from schemas.validators import (
    check_credit_code,
    check_id_number,
    check_phone,
    refuse_personal_code,
)

DisputeCategory = Literal[
    "neighbourhood",
    "family",
    "property",
    "land",
    "labor",
    "medical",
    "traffic",
    "consumer",
    "contract",
    "construction",
    "other",
]
PetitionCategory = Literal[
    "land",
    "housing",
    "labor",
    "social_security",
    "environment",
    "law_enforcement",
    "medical",
    "other",
]
ConsultationCategory = Literal[
    "neighbourhood",
    "family",
    "property",
    "land",
    "labor",
    "medical",
    "traffic",
    "consumer",
    "contract",
    "construction",
    "housing",
    "social_security",
    "environment",
    "law_enforcement",
    "legal_aid",
    "other",
]
Channel = Literal["hotline", "miniapp", "walkin", "referral", "web", "letter", "visit"]
CommitteeType = Literal[
    "community",
    "street",
    "petition_desk",
    "district_center",
    "medical",
    "traffic",
    "labor",
    "family",
    "petition_bureau",
    "city",
]
Tier = Literal["community", "street", "district", "city"]
Outcome = Literal["agreement", "no_agreement", "withdrawn", "referred"]
RiskLevel = Literal["green", "blue", "yellow", "orange", "red"]
CaseKind = Literal["dispute", "petition", "wage_arrears"]

CreditCode = Annotated[
    str,
    AfterValidator(check_credit_code),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": "^[0-9A-HJ-NPQRTUWXYa-hj-npqrtuwxy]{18}$",
            "description": "Unified social credit code (GB 32100-2015), check character verified",
        }
    ),
]
IdNumber = Annotated[
    str,
    AfterValidator(check_id_number),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": "^[0-9]{17}[0-9Xx]$",
            "description": "Resident id number (GB 11643), birth date and check digit verified",
        }
    ),
]
Phone = Annotated[
    str,
    AfterValidator(check_phone),
    WithJsonSchema(
        {
            "type": "string",
            "description": "11-digit mobile, landline with area code, or a service number "
            "(+86, spaces and brackets allowed)",
        }
    ),
]


def _not_bool(value: Any) -> Any:
    # pydantic's lax mode reads true as 1; a head-count of "true" is a producer bug.
    if isinstance(value, bool):
        raise ValueError("must be a whole number, not true/false")
    return value


Amount = Annotated[
    Decimal,
    Field(ge=0, max_digits=16, decimal_places=2),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": "^[0-9]{1,14}(\\.[0-9]{1,2})?$"},
                {"type": "number", "minimum": 0},
            ],
            "description": "Yuan as a decimal (preferably a string), >= 0, at most 2 decimals",
        }
    ),
]
Count = Annotated[int, Field(ge=1, le=100_000), BeforeValidator(_not_bool)]
CODE_PATTERN = r"^[a-z0-9_-]+$"
# Codes become keys, metric labels and reasons: one shaped like personal data is refused.
Code = Annotated[
    str,
    Field(min_length=1, max_length=64, pattern=CODE_PATTERN),
    AfterValidator(refuse_personal_code),
]
Text = Annotated[str, Field(max_length=4000)]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="allow")


# --- intake ---------------------------------------------------------------------------------


class Party(_Model):
    role: Literal["applicant", "respondent"]
    kind: Literal["person", "organisation"]
    name: str | None = Field(default=None, max_length=200)
    phone: Phone | None = None
    id_number: IdNumber | None = None
    credit_code: CreditCode | None = None


class DisputeReported(_Model):
    """矛盾纠纷: a dispute reported by a hotline, desk or app."""

    street: Code
    community: Code | None = None
    category: DisputeCategory
    parties: list[Party] = Field(min_length=1)
    party_count: Count
    amount_yuan: Amount | None = None
    collective: bool = False
    channel: Channel
    summary: Text

    @model_validator(mode="after")
    def _count_covers_parties(self) -> DisputeReported:
        if self.party_count < len(self.parties):
            raise ValueError("party_count is smaller than the number of parties listed")
        return self


class PetitionFiled(_Model):
    """信访: a petition to an agency."""

    street: Code
    community: Code | None = None
    category: PetitionCategory
    petitioner_count: Count
    target_agency: str = Field(min_length=1, max_length=200)
    repeat_of: list[str] = Field(default_factory=list)
    channel: Channel
    summary: Text


class Employer(_Model):
    name: str = Field(min_length=1, max_length=200)
    credit_code: CreditCode | None = None


class Project(_Model):
    name: str | None = Field(default=None, max_length=200)
    code: Annotated[str, Field(max_length=100), AfterValidator(refuse_personal_code)] | None = None


class Contact(_Model):
    name: str | None = Field(default=None, max_length=200)
    phone: Phone | None = None


class WageArrearsReported(_Model):
    """欠薪: workers report unpaid wages."""

    street: Code
    community: Code | None = None
    employer: Employer
    project: Project | None = None
    worker_count: Count
    amount_yuan: Amount
    months_owed: int | None = Field(default=None, ge=0, le=600)
    contact: Contact | None = None
    channel: Channel
    summary: Text


class ConsultationRecorded(_Model):
    """A hotline or desk consultation that opens no case."""

    street: Code | None = None
    category: ConsultationCategory
    channel: Channel
    duration_s: int | None = Field(default=None, ge=0, le=86_400)
    summary: Text


# --- derived --------------------------------------------------------------------------------


class RejectedRule(_Model):
    rule_id: str
    reason: str


class ExplainedReason(_Model):
    """One reason of a routing decision as a code and its parameters (``schemas.explain``
    renders it in Chinese or English). Params hold catalogue codes, numbers, rule ids and the
    ruleset's own texts, never a value a person sent."""

    code: str
    params: dict[str, Any] = Field(default_factory=dict)


class ExplainedRejection(_Model):
    """Why an earlier rule did not decide, as a code and its parameters."""

    rule_id: str
    code: str
    params: dict[str, Any] = Field(default_factory=dict)


class RoutingExplanation(_Model):
    """``reasons`` and ``rejected`` item for item, in a form that renders in either language."""

    reasons: list[ExplainedReason]
    rejected: list[ExplainedRejection]


class CaseRouted(_Model):
    case_id: str
    kind: CaseKind
    street: str
    category: str
    committee_id: str
    committee_type: CommitteeType
    tier: Tier
    rule_id: str
    ruleset_version: str
    reasons: list[str]
    rejected: list[RejectedRule]
    deadline: AwareDatetime
    # Optional: the display name, which exact ruleset and catalogue decided, and the reasons
    # as codes with parameters (``reasons``/``rejected`` stay for the integrations reading them).
    committee_name: str | None = None
    ruleset_hash: str | None = None
    catalogue_version: str | None = None
    explanation: RoutingExplanation | None = None


# Account ids are ASCII identifiers so that a person's name cannot be put where an id goes.
ACCOUNT_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:@-]*$"
AccountId = Annotated[str, Field(min_length=1, max_length=200, pattern=ACCOUNT_PATTERN)]
CaseVersion = Annotated[int, Field(ge=0, le=1_000_000), BeforeValidator(_not_bool)]


class _Lifecycle(_Model):
    """What every action on a case carries: who acted, for which committee, on which version.

    ``version`` is required of every producer; it is optional here only so that events written
    before versions existed still parse (the sink then checks committee and state only)."""

    case_id: str
    committee_id: str = Field(description="The committee acting (it must own the case)")
    version: CaseVersion | None = Field(
        default=None, description="The case version the action was made against"
    )
    actor: AccountId | None = Field(
        default=None, description="The account that acted: an id, never a name"
    )


class CaseAccepted(_Lifecycle):
    pass


class CaseAssigned(_Lifecycle):
    mediator_id: AccountId


class CaseTransferred(_Lifecycle):
    to_committee_id: str = Field(description="A committee of the catalogue")
    reason: str = Field(min_length=1, max_length=1000)


class CaseConcluded(_Lifecycle):
    outcome: Outcome
    agreed_amount_yuan: Amount | None = None


class CaseClosed(_Lifecycle):
    pass


class IncidentDetected(_Model):
    incident_id: str
    rule_id: str
    key: str
    window_start: AwareDatetime
    window_end: AwareDatetime
    case_ids: list[str]
    people: int
    amount_yuan: Amount
    # Optional since issue 5: where the incident is, and the highest level it reached.
    street: str | None = None
    category: str | None = None
    level: Literal["district", "city"] | None = None


class EscalationRaised(_Model):
    escalation_id: str
    # "street" since issue 5: an SLA breach at the community tier escalates to the street.
    level: Literal["street", "district", "city"]
    to_committee_id: str
    reason: str
    incident_id: str | None = None
    case_id: str | None = None


class RiskLevelChanged(_Model):
    street: str
    category: str
    score: float
    level: RiskLevel
    previous_level: RiskLevel | None = None


class SlaWarning(_Model):
    case_id: str
    committee_id: str
    clock: Literal["accept", "conclude"]
    due: AwareDatetime
    fraction: float


class SlaBreached(_Model):
    case_id: str
    committee_id: str
    clock: Literal["accept", "conclude"]
    due: AwareDatetime
    escalated_to_tier: Tier | None = None


class DeadLetter(_Model):
    """An intake message that could not be accepted, with everything needed to replay it."""

    original_b64: str
    source_topic: str
    partition: int
    offset: int
    reason: str
    error_class: Literal["decode", "envelope", "type", "payload", "time", "other"]
    received_at: datetime


IntakeKind = Literal["dispute", "petition", "wage-arrears", "consultation"]

INTAKE_TYPES: dict[str, type[_Model]] = {
    "dispute.reported.v1": DisputeReported,
    "petition.filed.v1": PetitionFiled,
    "wage_arrears.reported.v1": WageArrearsReported,
    "consultation.recorded.v1": ConsultationRecorded,
}

# CLI / HTTP kind -> (event type, intake topic)
INTAKE_KINDS: dict[str, tuple[str, str]] = {
    "dispute": ("dispute.reported.v1", "intake.disputes"),
    "petition": ("petition.filed.v1", "intake.petitions"),
    "wage-arrears": ("wage_arrears.reported.v1", "intake.wage-arrears"),
    "consultation": ("consultation.recorded.v1", "intake.consultations"),
}

DERIVED_TYPES: dict[str, type[_Model]] = {
    "case.routed.v1": CaseRouted,
    "case.accepted.v1": CaseAccepted,
    "case.assigned.v1": CaseAssigned,
    "case.transferred.v1": CaseTransferred,
    "case.concluded.v1": CaseConcluded,
    "case.closed.v1": CaseClosed,
    "incident.detected.v1": IncidentDetected,
    "escalation.raised.v1": EscalationRaised,
    "risk.level_changed.v1": RiskLevelChanged,
    "sla.warning.v1": SlaWarning,
    "sla.breached.v1": SlaBreached,
    "deadletter.v1": DeadLetter,
}

ALL_TYPES: dict[str, type[_Model]] = {**INTAKE_TYPES, **DERIVED_TYPES}


def model_for(type_: str) -> type[_Model] | None:
    return ALL_TYPES.get(type_)


def dump(model: BaseModel) -> dict[str, Any]:
    """JSON-ready dict: decimals as strings, datetimes as ISO 8601."""
    return model.model_dump(mode="json", exclude_none=True)
