"""A synthetic registry with plausible rates, drawn around the published figures.

For tests, benchmarks and demonstrations only: every record is marked as simulated (ids start
with SIM-, the cement products are fictitious). Deterministic for a seed; the dates are
arguments (`as_of` is the day the registry is read: nothing later is generated).

What is simulated, per procedure (rates as probabilities; see the tables below):
* eight operators of unequal volume; one (OP-G) leaks cement about twice as often as the
  others and relieves pain less often: the funnel plots should show it;
* pathways: NICE osteoporotic / metastatic / myeloma / haemangioma, CareFirst medically
  necessary, and none recorded (every sacroplasty, which both policies call investigational);
* pain relief at 3 months by pathway (72-85%, inside NICE's 58-97%), cement leakage about 15%
  (NICE: up to 27%), leaks needing intervention about 1%, cement on the cord or a nerve and in
  the lungs about 1 in 500 each, new adjacent fractures about 7% within a year (leaflet: up to
  10%), loss to follow-up growing with time.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from typing import Any, TypeVar

from vertebro.core.catalogue import Procedure
from vertebro.core.levels import ALL_LEVELS, Level
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
    Registry,
    Sex,
    Timepoint,
)


@dataclass(frozen=True, slots=True)
class SimOperator:
    """A simulated operator: share of the cases, and multipliers on leakage and pain relief."""

    code: str
    weight: float
    leak_factor: float = 1.0
    relief_shift: float = 0.0


@dataclass(frozen=True, slots=True)
class SimPathway:
    """A simulated approving pathway and the patients it brings."""

    policy: str | None
    pathway: str | None
    weight: float
    respond: float  # probability of pain relief at 3 months
    age: tuple[float, float]
    female: float
    death_30d: float
    kyphoplasty: float  # share of kyphoplasty (the rest vertebroplasty)
    biopsy: float


OPERATORS: tuple[SimOperator, ...] = (
    SimOperator("OP-A", 0.22),
    SimOperator("OP-B", 0.18),
    SimOperator("OP-C", 0.15, leak_factor=0.9),
    SimOperator("OP-D", 0.12, leak_factor=1.1),
    SimOperator("OP-E", 0.10),
    SimOperator("OP-F", 0.08, leak_factor=0.8, relief_shift=0.02),
    SimOperator("OP-G", 0.09, leak_factor=2.2, relief_shift=-0.14),  # the outlier
    SimOperator("OP-H", 0.06, leak_factor=1.0),
)

PATHWAYS: tuple[SimPathway, ...] = (
    SimPathway("nice", "nice-osteoporotic", 0.50, 0.80, (77, 8), 0.74, 0.004, 0.25, 0.08),
    SimPathway("carefirst", "cf-medically-necessary", 0.22, 0.78, (76, 8), 0.70, 0.004, 0.35,
               0.08),
    SimPathway("nice", "nice-metastatic", 0.12, 0.72, (66, 10), 0.50, 0.040, 0.30, 0.60),
    SimPathway("nice", "nice-myeloma", 0.08, 0.79, (68, 9), 0.45, 0.020, 0.0, 0.60),
    SimPathway("nice", "nice-haemangioma", 0.03, 0.85, (55, 12), 0.60, 0.002, 0.0, 0.30),
)
NO_PATHWAY = SimPathway(None, None, 0.0, 0.74, (79, 7), 0.78, 0.006, 0.0, 0.05)
SACROPLASTY_SHARE = 0.05

CEMENTS: tuple[tuple[str, str, str], ...] = (
    ("Simulated PMMA bone cement A", "Example Medical Ltd (simulated)", "A"),
    ("Simulated PMMA bone cement B", "Sample Orthopaedics plc (simulated)", "B"),
    ("Simulated PMMA bone cement C", "Example Medical Ltd (simulated)", "C"),
)

LEAK_RATE = {Procedure.VERTEBROPLASTY: 0.17, Procedure.KYPHOPLASTY: 0.09,
             Procedure.SACROPLASTY: 0.12}
LEAK_SITES = ((LeakSite.VEINS, 0.35), (LeakSite.DISC, 0.30), (LeakSite.SOFT_TISSUE, 0.20),
              (LeakSite.CANAL, 0.08), (LeakSite.FORAMEN, 0.07))
SPINE = [lv for lv in ALL_LEVELS if Level.parse("T4") <= lv <= Level.parse("L5")]
_CENTRE_WEIGHT = {"T11": 3.0, "T12": 6.0, "L1": 6.0, "L2": 3.0, "L3": 2.0, "L4": 1.5}


T = TypeVar("T")


def _pick(rng: random.Random, options: tuple[tuple[T, float], ...]) -> T:
    values = [o for o, _ in options]
    weights = [w for _, w in options]
    return rng.choices(values, weights)[0]


def _clip(value: float, low: float, high: float) -> float:
    return max(low, min(high, value))


class _Sim:
    def __init__(self, rng: random.Random, as_of: dt.date) -> None:
        self.rng = rng
        self.as_of = as_of
        self.procedures: list[ProcedureRecord] = []
        self.complications: list[Complication] = []
        self.follow_ups: list[FollowUp] = []

    def add_complication(self, procedure: ProcedureRecord, days: int, **fields: Any) -> bool:
        """Record a complication `days` after the procedure, unless that is after as_of."""
        day = procedure.date + dt.timedelta(days=days)
        if day > self.as_of:
            return False
        self.complications.append(
            Complication(
                id=f"SIM-C{len(self.complications) + 1:06d}",
                procedure_id=procedure.id,
                date=day,
                **fields,
            )
        )
        return True

    def levels(self, procedure: Procedure) -> tuple[Level, ...]:
        """Draw the treated levels: mostly one, around the thoracolumbar junction."""
        rng = self.rng
        if procedure is Procedure.SACROPLASTY:
            if rng.random() < 0.5:
                return (Level.parse("sacrum"),)
            return (Level("S", 1), Level("S", 2))
        weights = [_CENTRE_WEIGHT.get(str(lv), 1.0) for lv in SPINE]
        centre = SPINE.index(rng.choices(SPINE, weights)[0])
        count = _pick(rng, ((1, 0.72), (2, 0.20), (3, 0.08)))
        first = max(0, min(len(SPINE) - count, centre - rng.randrange(count)))
        return tuple(SPINE[first : first + count])

    def cement_ml(self, procedure: Procedure) -> float:
        """Draw a cement volume for one level."""
        mean, sd, low, high = {
            Procedure.VERTEBROPLASTY: (4.0, 1.2, 1.0, 9.0),
            Procedure.KYPHOPLASTY: (5.0, 1.4, 1.5, 10.0),
            Procedure.SACROPLASTY: (7.0, 2.0, 2.0, 15.0),
        }[procedure]
        return round(_clip(self.rng.gauss(mean, sd), low, high), 1)

    def procedure(
        self, index: int, day: dt.date
    ) -> tuple[ProcedureRecord, SimPathway, SimOperator]:
        """Draw one procedure with its operator and approving pathway."""
        rng = self.rng
        operator = rng.choices(OPERATORS, [o.weight for o in OPERATORS])[0]
        if rng.random() < SACROPLASTY_SHARE:
            kind, path = Procedure.SACROPLASTY, NO_PATHWAY
        else:
            path = rng.choices((*PATHWAYS, NO_PATHWAY), [*(p.weight for p in PATHWAYS), 0.05])[0]
            kind = Procedure.KYPHOPLASTY if rng.random() < path.kyphoplasty else (
                Procedure.VERTEBROPLASTY)
        levels = self.levels(kind)
        cement_name, maker, letter = rng.choice(CEMENTS)
        bilateral = 0.8 if kind is Procedure.KYPHOPLASTY else 0.42
        approach = _pick(rng, ((Approach.BILATERAL, bilateral), (Approach.OTHER, 0.03),
                               (Approach.UNILATERAL, 0.97 - bilateral)))
        record = ProcedureRecord(
            id=f"SIM-P{index:06d}",
            date=day,
            operator=operator.code,
            procedure=kind,
            levels=levels,
            approach=approach,
            image_guidance=_pick(rng, ((ImageGuidance.FLUOROSCOPY, 0.82),
                                       (ImageGuidance.CT_FLUOROSCOPY, 0.10),
                                       (ImageGuidance.CT, 0.08))),
            cement_ml=tuple((lv, self.cement_ml(kind)) for lv in levels),
            biopsy=rng.random() < path.biopsy,
            patient=f"SIM-N{index:06d}",
            age=int(_clip(round(rng.gauss(*path.age)), 25, 100)),
            sex=Sex.FEMALE if rng.random() < path.female else Sex.MALE,
            cement=CementProduct(
                product=cement_name,
                manufacturer=maker,
                lot=f"{letter}{day:%y%m}-{rng.randrange(1, 40):02d}",
                expiry=day + dt.timedelta(days=rng.randrange(120, 720)),
            ),
            assessment_id=f"SIM-A{index:06d}" if path.pathway else None,
            decision_id=f"SIM-D{index:06d}" if path.pathway else None,
            policy=path.policy,
            pathway=path.pathway,
        )
        self.procedures.append(record)
        return record, path, operator

    def complications_of(
        self, p: ProcedureRecord, path: SimPathway, operator: SimOperator
    ) -> dt.date | None:
        """Draw the complications; return the date of death, if any."""
        rng = self.rng
        if rng.random() < LEAK_RATE[p.procedure] * operator.leak_factor:
            site = _pick(rng, LEAK_SITES)
            nerve_side = site in (LeakSite.CANAL, LeakSite.FORAMEN)
            symptomatic = rng.random() < (0.09 if nerve_side else 0.04)
            further = rng.random() < (0.7 if symptomatic else 0.03)
            outcome = (
                _pick(rng, ((EventOutcome.RECOVERED, 0.6), (EventOutcome.RECOVERING, 0.25),
                            (EventOutcome.RECOVERED_WITH_HARM, 0.15)))
                if symptomatic else EventOutcome.RECOVERED
            )
            where = {LeakSite.CANAL: "into the spinal canal", LeakSite.FORAMEN: "into a foramen",
                     LeakSite.VEINS: "into paravertebral veins", LeakSite.DISC: "into the disc",
                     LeakSite.SOFT_TISSUE: "into the soft tissues"}[site]
            self.add_complication(
                p, 0, kind=ComplicationKind.CEMENT_LEAK, symptomatic=symptomatic, leak_site=site,
                further_intervention=further, outcome=outcome, device_related=True,
                description=f"Simulated: cement leak {where} at {p.levels[0]}"
                + (", with symptoms." if symptomatic else ", without symptoms."),
            )
        if rng.random() < 0.002 * min(operator.leak_factor, 2.0):
            self.add_complication(
                p, rng.randrange(0, 3), kind=ComplicationKind.PULMONARY_CEMENT_EMBOLISM,
                further_intervention=rng.random() < 0.4,
                outcome=_pick(rng, ((EventOutcome.RECOVERED, 0.75),
                                    (EventOutcome.RECOVERING, 0.2),
                                    (EventOutcome.RECOVERED_WITH_HARM, 0.05))),
                device_related=True,
                description="Simulated: cement seen in the pulmonary arteries on CT.",
            )
        for kind, rate in ((ComplicationKind.NERVE_INJURY, 0.001),
                           (ComplicationKind.CORD_INJURY, 0.0003)):
            if rng.random() < rate:
                self.add_complication(
                    p, 0, kind=kind, cause=_pick(rng, ((InjuryCause.NEEDLE, 0.6),
                                                       (InjuryCause.UNKNOWN, 0.4))),
                    further_intervention=True, outcome=EventOutcome.RECOVERING,
                    device_related=False, description="Simulated: new neurological symptoms.",
                )
        for kind, rate, window in ((ComplicationKind.INFECTION, 0.002, (3, 40)),
                                   (ComplicationKind.BLEEDING, 0.003, (0, 2))):
            if rng.random() < rate:
                self.add_complication(
                    p, rng.randrange(*window), kind=kind, further_intervention=rng.random() < 0.5,
                    outcome=EventOutcome.RECOVERED, device_related=False,
                    description=f"Simulated: {kind.value}.",
                )
        death: dt.date | None = None
        if rng.random() < path.death_30d:
            days = rng.randrange(1, 31)
            if self.add_complication(
                p, days, kind=ComplicationKind.DEATH, outcome=EventOutcome.FATAL,
                device_related=False, description="Simulated: death within 30 days.",
            ):
                death = p.date + dt.timedelta(days=days)
        if p.procedure is not Procedure.SACROPLASTY and death is None:
            for where, rate in ((FractureSite.ADJACENT, 0.07), (FractureSite.DISTANT, 0.04)):
                if rng.random() < rate:
                    self.add_complication(
                        p, rng.randrange(20, 366), kind=ComplicationKind.NEW_FRACTURE,
                        fracture_site=where, level=self.new_fracture_level(p, where),
                        outcome=EventOutcome.NOT_RECOVERED, device_related=False,
                        description=f"Simulated: new {where.value} vertebral fracture.",
                    )
        return death

    def new_fracture_level(self, p: ProcedureRecord, site: FractureSite) -> Level | None:
        """Draw a level next to (adjacent) or away from (distant) the treated ones."""
        index = {lv: i for i, lv in enumerate(ALL_LEVELS)}
        treated = {index[lv] for lv in p.levels}
        near = {i + d for i in treated for d in (-1, 1)} - treated
        if site is FractureSite.ADJACENT:
            options = sorted(i for i in near if 0 <= i < len(ALL_LEVELS))
        else:
            options = [index[lv] for lv in SPINE if index[lv] not in treated | near]
        return ALL_LEVELS[self.rng.choice(options)] if options else None

    def follow_ups_of(
        self, p: ProcedureRecord, path: SimPathway, operator: SimOperator, death: dt.date | None
    ) -> None:
        """Draw the outcome measures at each timepoint, with loss to follow-up."""
        rng = self.rng
        responder = rng.random() < _clip(path.respond + operator.relief_shift, 0.0, 1.0)
        pain0 = int(_clip(round(rng.gauss(7.6, 1.3)), 3, 10))
        rmdq0 = int(_clip(round(rng.gauss(17, 3.5)), 4, 24))
        drug0 = _pick(rng, ((AnalgesicUse.STRONG_OPIOID, 0.35),
                            (AnalgesicUse.WEAK_OPIOID, 0.35),
                            (AnalgesicUse.NON_OPIOID, 0.25),
                            (AnalgesicUse.NONE, 0.05)))
        walk0 = _pick(rng, ((Mobility.UNABLE, 0.25), (Mobility.WITH_AIDS, 0.5),
                            (Mobility.INDEPENDENT, 0.25)))
        fewer_drugs = rng.random() < (0.8 if responder else 0.2)
        walks_better = rng.random() < (0.65 if responder else 0.15)
        drugs = list(AnalgesicUse)
        walks = list(Mobility)
        plan = (
            (Timepoint.BASELINE, -rng.randrange(0, 15), 0.97, 0.0),
            (Timepoint.WEEKS_2, rng.randrange(10, 22), 0.94, 3.8),
            (Timepoint.MONTHS_3, rng.randrange(80, 106), 0.88, 4.3),
            (Timepoint.MONTHS_12, rng.randrange(350, 396), 0.75, 4.5),
        )
        for timepoint, days, kept, mean_drop in plan:
            day = p.date + dt.timedelta(days=days)
            if day > self.as_of or (death is not None and day >= death) or rng.random() > kept:
                continue
            if timepoint is Timepoint.BASELINE:
                pain, rmdq, drug, walk = pain0, rmdq0, drug0, walk0
            else:
                if responder:
                    drop = int(_clip(round(rng.gauss(mean_drop, 1.6)), 1, pain0))
                else:
                    drop = int(_clip(round(rng.gauss(-0.2, 0.8)), -2, 0))
                pain = int(_clip(pain0 - drop, 0, 10))
                rmdq = int(_clip(round(rmdq0 - 1.6 * drop + rng.gauss(0, 2)), 0, 24))
                step = 1 if timepoint is Timepoint.WEEKS_2 else 2
                drug = drugs[max(0, drugs.index(drug0) - step)] if fewer_drugs else drug0
                walk = walks[max(0, walks.index(walk0) - step)] if walks_better else walk0
            self.follow_ups.append(
                FollowUp(p.id, timepoint, day, pain=pain, analgesics=drug, mobility=walk,
                         roland_morris=rmdq)
            )


def simulate(
    n: int, *, seed: int, start: dt.date, end: dt.date, as_of: dt.date
) -> Registry:
    """n simulated procedures done between start and end, as known on as_of.

    Raises:
        ValueError: n below 1, an empty period, or as_of before its end.
    """
    if n < 1:
        raise ValueError(f"--n must be at least 1, not {n}")
    if end < start:
        raise ValueError(f"the period ends ({end}) before it starts ({start})")
    if as_of < end:
        raise ValueError(f"the registry is read on {as_of}, before the period ends ({end})")
    rng = random.Random(seed)
    sim = _Sim(rng, as_of)
    span = (end - start).days
    days = sorted(rng.randrange(span + 1) for _ in range(n))
    for index, offset in enumerate(days, start=1):
        record, path, operator = sim.procedure(index, start + dt.timedelta(days=offset))
        death = sim.complications_of(record, path, operator)
        sim.follow_ups_of(record, path, operator, death)
    return Registry(tuple(sim.procedures), tuple(sim.complications), tuple(sim.follow_ups))
