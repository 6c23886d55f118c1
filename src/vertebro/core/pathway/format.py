"""The pathway file format: a strict schema and its conversion into a validated `Pathway`.

Unknown keys are rejected; every check, rule and figure cites a declared source; ids are unique;
criterion trees name catalogued facts with tests that fit their types (as in policy files).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from vertebro.core.catalogue import BLOOD_THINNERS, Procedure
from vertebro.core.pathway.model import (
    Advice,
    BedRest,
    BringItem,
    Check,
    CheckGroup,
    CitedRule,
    ConsentItem,
    ConsentKind,
    DrugAction,
    DrugClass,
    DrugRule,
    FailAction,
    Fasting,
    Hospital,
    Pathway,
    PlanRules,
)
from vertebro.core.policy import Source
from vertebro.core.policy_format import (
    CiteDoc,
    CriterionBuilder,
    NodeDoc,
    SourceDoc,
    content_hash,
    schema_message,
    words,
)

Loc = tuple[str | int, ...]
_ID = r"^[a-z0-9]+(-[a-z0-9]+)*$"
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


class PathwayFormatError(ValueError):
    """A pathway document that does not follow the format; `loc` points at the offending element."""

    def __init__(self, message: str, loc: Loc = ()) -> None:
        super().__init__(message)
        self.message = message
        self.loc = loc


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class _HospitalDoc(_Strict):
    name: str = Field(min_length=1)
    department: str = Field(min_length=1)
    phone: str = Field(min_length=1)
    website: str | None = None
    location: str = Field(min_length=1)
    working_days: list[Weekday] = Field(min_length=1)
    cite: list[CiteDoc] = Field(min_length=1)


class _IfFailDoc(_Strict):
    action: FailAction
    advice: str = Field(min_length=1)
    cite: list[CiteDoc] = Field(min_length=1)


class _CheckDoc(_Strict):
    id: str = Field(pattern=_ID)
    title: str = Field(min_length=1)
    group: CheckGroup
    cite: list[CiteDoc] = Field(min_length=1)
    note: str | None = None
    pass_when: NodeDoc
    if_fail: _IfFailDoc
    if_unknown: str = Field(min_length=1)


class _DrugDoc(_Strict):
    drug: str
    class_: DrugClass = Field(alias="class")
    action: DrugAction
    stop_days_before: int | None = Field(default=None, ge=1, le=60)
    clotting_check: bool = False
    cite: list[CiteDoc] = Field(min_length=1)
    note: str | None = None

    @model_validator(mode="after")
    def _stop_fields(self) -> _DrugDoc:
        if self.action is DrugAction.STOP and self.stop_days_before is None:
            raise ValueError(f"{self.drug}: action 'stop' needs stop_days_before")
        if self.action is not DrugAction.STOP and (
            self.stop_days_before is not None or self.clotting_check
        ):
            raise ValueError(
                f"{self.drug}: stop_days_before and clotting_check apply only to action 'stop'"
            )
        return self


class _CitedDoc(_Strict):
    cite: list[CiteDoc] = Field(min_length=1)
    note: str | None = None


class _FastingDoc(_Strict):
    food_hours_before: float = Field(gt=0, le=24)
    drinks_hours_before: float = Field(gt=0, le=24)
    cite: list[CiteDoc] = Field(min_length=1)


class _BedRestDoc(_Strict):
    min_hours: float = Field(ge=0, le=48)
    max_hours: float = Field(ge=0, le=48)
    toilet_after_hours: float = Field(ge=0, le=48)
    cite: list[CiteDoc] = Field(min_length=1)

    @model_validator(mode="after")
    def _ordered(self) -> _BedRestDoc:
        if self.min_hours > self.max_hours:
            raise ValueError("bed_rest min_hours is more than max_hours")
        return self


class _PlanDoc(_Strict):
    blood_thinners: list[_DrugDoc]
    bridging: _CitedDoc
    restart: _CitedDoc
    fasting: _FastingDoc
    other_medicines: _CitedDoc
    antibiotics: _CitedDoc
    bed_rest: _BedRestDoc
    outpatient_discharge: _CitedDoc
    inpatient_stay: _CitedDoc
    aftercare: _CitedDoc


class _BringDoc(_Strict):
    text: str = Field(min_length=1)
    cite: list[CiteDoc] = []


class _ConsentDoc(_Strict):
    id: str = Field(pattern=_ID)
    kind: ConsentKind
    figure: str | None = Field(default=None, min_length=1)
    statement: str = Field(min_length=1)
    cite: list[CiteDoc] = Field(min_length=1)
    in_leaflet: bool = True
    note: str | None = None


class _PathwayDoc(_Strict):
    id: str = Field(pattern=_ID)
    title: str = Field(min_length=1)
    version: str = Field(min_length=1)
    procedures: list[Procedure] = Field(min_length=1)
    sources: list[SourceDoc] = Field(min_length=1)
    hospital: _HospitalDoc
    checks: list[_CheckDoc] = Field(min_length=1)
    plan: _PlanDoc
    what_to_bring: list[_BringDoc] = []
    consent: list[_ConsentDoc] = Field(min_length=1)


def pathway_from_dict(data: Any) -> Pathway:
    """Validate a parsed pathway document and build the `Pathway`.

    Raises:
        PathwayFormatError: with a message and the location of the first problem.
    """
    try:
        doc = _PathwayDoc.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise PathwayFormatError(schema_message(first), tuple(first["loc"])) from None
    return _Builder(doc, content_hash(data)).build()


class _Builder:
    def __init__(self, doc: _PathwayDoc, digest: str) -> None:
        self.doc = doc
        self.digest = digest
        self.trees = CriterionBuilder({source.id for source in doc.sources},
                                      document="pathway", error=PathwayFormatError)

    def build(self) -> Pathway:
        doc = self.doc
        self.trees.unique([s.id for s in doc.sources], ("sources",), "source id")
        self.trees.unique([c.id for c in doc.checks], ("checks",), "check id")
        self.trees.unique([c.id for c in doc.consent], ("consent",), "consent id")
        sources = {
            s.id: Source(
                s.id,
                s.title,
                s.publisher,
                None if s.published is None else str(s.published),
                s.url,
                s.text_file,
                s.confidence,
                s.note,
            )
            for s in doc.sources
        }
        return Pathway(
            id=doc.id,
            title=words(doc.title),
            version=doc.version,
            procedures=tuple(doc.procedures),
            sources=sources,
            hospital=self._hospital(),
            checks=tuple(self._check(c, ("checks", i)) for i, c in enumerate(doc.checks)),
            plan=self._plan(),
            what_to_bring=tuple(
                BringItem(words(b.text), self.trees.cites(b.cite, ("what_to_bring", i)))
                for i, b in enumerate(doc.what_to_bring)
            ),
            consent=tuple(self._consent(c, ("consent", i)) for i, c in enumerate(doc.consent)),
            content_hash=self.digest,
        )

    def _cited(self, doc: _CitedDoc, loc: Loc) -> CitedRule:
        return CitedRule(self.trees.cites(doc.cite, loc), doc.note)

    def _hospital(self) -> Hospital:
        h = self.doc.hospital
        return Hospital(
            name=h.name,
            department=h.department,
            phone=h.phone,
            website=h.website,
            location=h.location,
            working_days=frozenset(WEEKDAYS.index(day) for day in h.working_days),
            citations=self.trees.cites(h.cite, ("hospital",)),
        )

    def _check(self, doc: _CheckDoc, loc: Loc) -> Check:
        return Check(
            id=doc.id,
            title=words(doc.title),
            group=doc.group,
            citations=self.trees.cites(doc.cite, loc),
            pass_when=self.trees.node(doc.pass_when, (*loc, "pass_when")),
            fail_action=doc.if_fail.action,
            fail_advice=Advice(
                words(doc.if_fail.advice), self.trees.cites(doc.if_fail.cite, (*loc, "if_fail"))
            ),
            unknown_advice=words(doc.if_unknown),
            note=doc.note,
        )

    def _plan(self) -> PlanRules:
        plan = self.doc.plan
        loc: Loc = ("plan",)
        drugs: dict[str, DrugRule] = {}
        named = [name for name in BLOOD_THINNERS if name != "other"]
        for i, drug in enumerate(plan.blood_thinners):
            where: Loc = (*loc, "blood_thinners", i)
            if drug.drug not in named:
                raise PathwayFormatError(
                    f"{drug.drug!r} is not a blood thinner in the catalogue ({', '.join(named)})",
                    (*where, "drug"),
                )
            if drug.drug in drugs:
                raise PathwayFormatError(f"duplicate rule for {drug.drug!r}", (*where, "drug"))
            drugs[drug.drug] = DrugRule(
                drug=drug.drug,
                drug_class=drug.class_,
                action=drug.action,
                stop_days_before=drug.stop_days_before,
                clotting_check=drug.clotting_check,
                citations=self.trees.cites(drug.cite, where),
                note=drug.note,
            )
        fasting, bed = plan.fasting, plan.bed_rest
        return PlanRules(
            drugs=drugs,
            bridging=self._cited(plan.bridging, (*loc, "bridging")),
            restart=self._cited(plan.restart, (*loc, "restart")),
            fasting=Fasting(
                fasting.food_hours_before,
                fasting.drinks_hours_before,
                self.trees.cites(fasting.cite, (*loc, "fasting")),
            ),
            other_medicines=self._cited(plan.other_medicines, (*loc, "other_medicines")),
            antibiotics=self._cited(plan.antibiotics, (*loc, "antibiotics")),
            bed_rest=BedRest(
                bed.min_hours,
                bed.max_hours,
                bed.toilet_after_hours,
                self.trees.cites(bed.cite, (*loc, "bed_rest")),
            ),
            outpatient_discharge=self._cited(
                plan.outpatient_discharge, (*loc, "outpatient_discharge")
            ),
            inpatient_stay=self._cited(plan.inpatient_stay, (*loc, "inpatient_stay")),
            aftercare=self._cited(plan.aftercare, (*loc, "aftercare")),
        )

    def _consent(self, doc: _ConsentDoc, loc: Loc) -> ConsentItem:
        return ConsentItem(
            id=doc.id,
            kind=doc.kind,
            figure=doc.figure,
            statement=words(doc.statement),
            citations=self.trees.cites(doc.cite, loc),
            in_leaflet=doc.in_leaflet,
            note=doc.note,
        )
