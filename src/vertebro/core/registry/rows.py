"""Input rows: the typed shape of one procedure, complication or follow-up as it arrives.

The CSV and FHIR importers, and later the API, turn what they read into these pydantic models;
each rejects an impossible value with the field named (`problems_of` turns a ValidationError
into `FieldProblem`s). Checks that need another record (a follow-up against its procedure) are
in `validation`.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from vertebro.core.catalogue import Procedure
from vertebro.core.levels import Level, Region, parse_levels
from vertebro.core.registry.model import (
    AnalgesicUse,
    Approach,
    CementProduct,
    Complication,
    ComplicationKind,
    EventOutcome,
    FollowUp,
    FractureSite,
    ImageGuidance,
    InjuryCause,
    LeakSite,
    Mobility,
    ProcedureRecord,
    Sex,
    Timepoint,
)

# Plausibility limits, not figures from a source: beyond them a value is a typing error.
MAX_CEMENT_ML_PER_LEVEL = 20.0
MAX_LEVELS = 10
MAX_AGE = 120
PAIN_MAX = 10
ROLAND_MORRIS_MAX = 24

RECORD_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}$")  # what a record id may be
_ID_RE = RECORD_ID


@dataclass(frozen=True, slots=True)
class FieldProblem:
    """A value the registry cannot accept, with the field it came from."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


def _blank_to_none(value: Any) -> Any:
    if isinstance(value, str) and not value.strip():
        return None
    return value.strip() if isinstance(value, str) else value


def _boolean(value: Any) -> Any:
    value = _blank_to_none(value)
    if isinstance(value, str):
        lowered = value.lower()
        if lowered in {"yes", "y", "true", "1"}:
            return True
        if lowered in {"no", "n", "false", "0"}:
            return False
        raise ValueError(f"{value!r} is not yes or no")
    return value


def _identifier(value: Any) -> Any:
    value = _blank_to_none(value)
    if isinstance(value, str) and not _ID_RE.match(value):
        raise ValueError(
            f"{value!r} is not an identifier (letters, digits and . _ : / -, at most 64)"
        )
    return value


Text = Annotated[str, BeforeValidator(_blank_to_none), Field(min_length=1, max_length=200)]
OptText = Annotated[str | None, BeforeValidator(_blank_to_none), Field(max_length=200)]
Ident = Annotated[str, BeforeValidator(_identifier)]
OptIdent = Annotated[str | None, BeforeValidator(_identifier)]
Bool = Annotated[bool, BeforeValidator(_boolean)]
OptBool = Annotated[bool | None, BeforeValidator(_boolean)]
Blankable = BeforeValidator(_blank_to_none)


class _Row(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_enum_values=False)


def _levels_of(value: Any) -> tuple[Level, ...]:
    if isinstance(value, str):
        return tuple(parse_levels(value))
    if isinstance(value, list | tuple):
        return tuple(sorted({Level.parse(str(item)) for item in value}))
    raise ValueError("expected levels such as 'T12-L1' or a list of levels")


class ProcedureIn(_Row):
    """One procedure as imported. `levels` is text ('T12-L1') or a list; `cement_ml` maps each
    treated level to millilitres ('T12=3.5; L1=4' in CSV)."""

    id: Ident
    date: dt.date
    operator: Text
    procedure: Procedure
    levels: tuple[str, ...]
    approach: Approach
    image_guidance: ImageGuidance
    cement_ml: dict[str, float]
    biopsy: Bool = False
    patient: OptIdent = None
    age: Annotated[Annotated[int, Field(ge=0, le=MAX_AGE)] | None, Blankable] = None
    sex: Annotated[Sex | None, Blankable] = None
    cement_product: OptText = None
    cement_manufacturer: OptText = None
    cement_lot: OptText = None
    cement_expiry: Annotated[dt.date | None, Blankable] = None
    assessment_id: OptIdent = None
    decision_id: OptIdent = None
    policy: OptIdent = None
    pathway: OptIdent = None
    case_id: OptIdent = None

    @field_validator("levels", mode="before")
    @classmethod
    def _parse_levels(cls, value: Any, info: ValidationInfo) -> tuple[str, ...]:
        levels = _levels_of(_blank_to_none(value) or "")
        if len(levels) > MAX_LEVELS:
            raise ValueError(f"{len(levels)} levels; at most {MAX_LEVELS} in one procedure")
        procedure = info.data.get("procedure")
        sacral = [lv for lv in levels if lv.region is Region.SACRAL]
        if procedure is Procedure.SACROPLASTY and len(sacral) != len(levels):
            raise ValueError("sacroplasty treats the sacrum (S1-S5 or 'sacrum') only")
        if procedure in (Procedure.VERTEBROPLASTY, Procedure.KYPHOPLASTY) and sacral:
            raise ValueError(f"{procedure.value} treats vertebrae; sacral levels are sacroplasty")
        return tuple(str(level) for level in levels)

    @field_validator("cement_ml", mode="before")
    @classmethod
    def _parse_cement(cls, value: Any) -> dict[str, float]:
        if isinstance(value, str):
            pairs: dict[str, Any] = {}
            for part in filter(None, (p.strip() for p in re.split(r"[;,]", value))):
                level, sep, volume = part.partition("=")
                if not sep:
                    raise ValueError(f"{part!r}: expected LEVEL=ML, for example 'L1=4.5'")
                pairs[level.strip()] = volume.strip()
            value = pairs
        if not isinstance(value, dict) or not value:
            raise ValueError("give the cement volume for each treated level, e.g. 'L1=4.5'")
        out: dict[str, float] = {}
        for key, raw in value.items():
            level = str(Level.parse(str(key)))
            try:
                volume = float(raw)
            except (TypeError, ValueError):
                raise ValueError(f"{key}: {raw!r} is not a number of millilitres") from None
            if not volume > 0:  # also rejects NaN
                raise ValueError(f"{key}: {raw} mL; a volume must be greater than 0")
            if volume > MAX_CEMENT_ML_PER_LEVEL:
                raise ValueError(
                    f"{key}: {raw} mL is not plausible at one level "
                    f"(at most {MAX_CEMENT_ML_PER_LEVEL:g} mL)"
                )
            if level in out:
                raise ValueError(f"{key}: level given twice")
            out[level] = volume
        return out

    @field_validator("cement_ml")
    @classmethod
    def _cement_matches_levels(
        cls, value: dict[str, float], info: ValidationInfo
    ) -> dict[str, float]:
        levels = info.data.get("levels")
        if levels is None:
            return value
        missing = [lv for lv in levels if lv not in value]
        extra = [lv for lv in value if lv not in levels]
        if missing or extra:
            parts = []
            if missing:
                parts.append(f"no volume for treated level {', '.join(missing)}")
            if extra:
                parts.append(f"{', '.join(extra)} is not a treated level")
            raise ValueError("; ".join(parts))
        return value

    def to_record(self) -> ProcedureRecord:
        """The domain record."""
        levels = tuple(Level.parse(lv) for lv in self.levels)
        return ProcedureRecord(
            id=self.id,
            date=self.date,
            operator=self.operator,
            procedure=self.procedure,
            levels=levels,
            approach=self.approach,
            image_guidance=self.image_guidance,
            cement_ml=tuple((lv, self.cement_ml[str(lv)]) for lv in levels),
            biopsy=self.biopsy,
            patient=self.patient,
            age=self.age,
            sex=self.sex,
            cement=CementProduct(
                product=self.cement_product,
                manufacturer=self.cement_manufacturer,
                lot=self.cement_lot,
                expiry=self.cement_expiry,
            ),
            assessment_id=self.assessment_id,
            decision_id=self.decision_id,
            policy=self.policy,
            pathway=self.pathway,
            case_id=self.case_id,
        )


class ComplicationIn(_Row):
    """One complication as imported; the kind-specific fields are checked in `validation`."""

    id: Ident
    procedure_id: Ident
    kind: ComplicationKind
    date: dt.date
    symptomatic: OptBool = None
    leak_site: Annotated[LeakSite | None, Blankable] = None
    fracture_site: Annotated[FractureSite | None, Blankable] = None
    level: Annotated[str | None, Blankable] = None
    cause: Annotated[InjuryCause | None, Blankable] = None
    further_intervention: Bool = False
    outcome: Annotated[EventOutcome, Blankable] = EventOutcome.UNKNOWN
    device_related: OptBool = None
    description: Annotated[str | None, Blankable, Field(max_length=4000)] = None

    @field_validator("level")
    @classmethod
    def _parse_level(cls, value: str | None) -> str | None:
        return None if value is None else str(Level.parse(value))

    @field_validator("outcome", mode="before")
    @classmethod
    def _default_outcome(cls, value: Any) -> Any:
        return EventOutcome.UNKNOWN if _blank_to_none(value) is None else value

    def to_record(self) -> Complication:
        """The domain record."""
        return Complication(
            id=self.id,
            procedure_id=self.procedure_id,
            kind=self.kind,
            date=self.date,
            symptomatic=self.symptomatic,
            leak_site=self.leak_site,
            fracture_site=self.fracture_site,
            level=Level.parse(self.level) if self.level else None,
            cause=self.cause,
            further_intervention=self.further_intervention,
            outcome=self.outcome,
            device_related=self.device_related,
            description=self.description,
        )


class FollowUpIn(_Row):
    """The outcome measures at one timepoint, as imported."""

    procedure_id: Ident
    timepoint: Timepoint
    date: dt.date
    pain: Annotated[Annotated[int, Field(ge=0, le=PAIN_MAX)] | None, Blankable] = None
    analgesics: Annotated[AnalgesicUse | None, Blankable] = None
    mobility: Annotated[Mobility | None, Blankable] = None
    roland_morris: Annotated[
        Annotated[int, Field(ge=0, le=ROLAND_MORRIS_MAX)] | None, Blankable
    ] = None

    def to_record(self) -> FollowUp:
        """The domain record."""
        return FollowUp(
            procedure_id=self.procedure_id,
            timepoint=self.timepoint,
            date=self.date,
            pain=self.pain,
            analgesics=self.analgesics,
            mobility=self.mobility,
            roland_morris=self.roland_morris,
        )


_MESSAGES = {
    "missing": "is required",
    "extra_forbidden": "is not a field of this record",
    "date_from_datetime_parsing": "is not a date YYYY-MM-DD",
    "date_parsing": "is not a date YYYY-MM-DD",
    "date_type": "is not a date YYYY-MM-DD",
    "int_parsing": "is not a whole number",
    "int_from_float": "is not a whole number",
    "int_type": "is not a whole number",
    "float_parsing": "is not a number",
    "bool_parsing": "is not yes or no",
    "string_too_short": "is empty",
}


def problems_of(error: ValidationError) -> list[FieldProblem]:
    """Each error of a row model as a field and a plain message that shows the bad value."""
    problems = []
    for item in error.errors(include_url=False):
        loc = [str(part) for part in item["loc"]]
        name = loc[0] if loc else "row"
        kind = item["type"]
        ctx = item.get("ctx") or {}
        given = item.get("input")
        shown = "" if kind in ("missing", "extra_forbidden") else f"{given!r} "
        if kind == "less_than_equal":
            message = f"{given!r} is above the maximum of {ctx['le']}"
        elif kind == "greater_than_equal":
            message = f"{given!r} is below the minimum of {ctx['ge']}"
        elif kind in ("enum", "literal_error"):
            message = f"{given!r} is not one of: {ctx.get('expected', '')}"
        elif kind == "value_error":
            message = str(ctx.get("error", item["msg"]))
        elif kind in _MESSAGES:
            message = shown + _MESSAGES[kind]
        else:
            message = shown + item["msg"][:1].lower() + item["msg"][1:]
        problems.append(FieldProblem(".".join(loc) if len(loc) > 1 else name, message))
    return problems
