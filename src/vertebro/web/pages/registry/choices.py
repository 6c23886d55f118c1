"""The select options of the registry's forms, and the words its pages show for values."""

from __future__ import annotations

from collections.abc import Mapping

from vertebro.core.catalogue import Procedure
from vertebro.core.registry.model import (
    AnalgesicUse,
    Approach,
    ComplicationKind,
    EventOutcome,
    FractureSite,
    ImageGuidance,
    InjuryCause,
    LeakSite,
    Mobility,
    Sex,
    Timepoint,
)

Choices = list[tuple[str, str]]


def _choices(words: Mapping[str, str], blank: str | None = None) -> Choices:
    """Select options (value, words), optionally after an empty choice."""
    return ([("", blank)] if blank else []) + list(words.items())


PROCEDURES: Choices = [(p.value, p.value.capitalize()) for p in Procedure]
APPROACHES: Choices = _choices(
    {
        Approach.UNILATERAL: "Unilateral (one pedicle)",
        Approach.BILATERAL: "Bilateral (both pedicles)",
        Approach.OTHER: "Other",
    }
)
GUIDANCE: Choices = _choices(
    {
        ImageGuidance.FLUOROSCOPY: "Fluoroscopy",
        ImageGuidance.CT: "CT",
        ImageGuidance.CT_FLUOROSCOPY: "CT fluoroscopy",
        ImageGuidance.OTHER: "Other",
    }
)
SEXES: Choices = [("", "Not recorded")] + [(s.value, s.value.capitalize()) for s in Sex]
KINDS: Choices = _choices(
    {
        ComplicationKind.CEMENT_LEAK: "Cement leak",
        ComplicationKind.PULMONARY_CEMENT_EMBOLISM: "Pulmonary cement embolism",
        ComplicationKind.NERVE_INJURY: "Nerve root injury",
        ComplicationKind.CORD_INJURY: "Spinal cord injury",
        ComplicationKind.INFECTION: "Infection",
        ComplicationKind.BLEEDING: "Bleeding",
        ComplicationKind.NEW_FRACTURE: "New vertebral fracture (within 12 months)",
        ComplicationKind.DEATH: "Death (within 30 days)",
    }
)
LEAK_SITES: Choices = _choices(
    blank="Not a cement leak",
    words={
        LeakSite.CANAL: "Spinal canal",
        LeakSite.FORAMEN: "Foramen (nerve root exit)",
        LeakSite.VEINS: "Veins",
        LeakSite.DISC: "Disc",
        LeakSite.SOFT_TISSUE: "Soft tissue",
        LeakSite.OTHER: "Other",
    },
)
FRACTURE_SITES: Choices = [
    ("", "Not a new fracture"),
    (FractureSite.ADJACENT.value, "Adjacent to a treated level"),
    (FractureSite.DISTANT.value, "Distant from the treated levels"),
]
CAUSES: Choices = [("", "Not a nerve or cord injury")] + [
    (c.value, c.value.capitalize()) for c in InjuryCause
]
OUTCOMES: Choices = _choices(
    {
        EventOutcome.UNKNOWN: "Not known yet",
        EventOutcome.RECOVERED: "Recovered",
        EventOutcome.RECOVERING: "Recovering",
        EventOutcome.NOT_RECOVERED: "Not recovered",
        EventOutcome.RECOVERED_WITH_HARM: "Recovered with lasting harm",
        EventOutcome.FATAL: "Fatal",
    }
)
TIMEPOINTS: Choices = _choices(
    {
        Timepoint.BASELINE: "Baseline (before the procedure)",
        Timepoint.WEEKS_2: "2 weeks",
        Timepoint.MONTHS_3: "3 months",
        Timepoint.MONTHS_12: "12 months",
    }
)
ANALGESICS: Choices = _choices(
    blank="Not recorded",
    words={
        AnalgesicUse.NONE: "None",
        AnalgesicUse.NON_OPIOID: "Non-opioid (e.g. paracetamol)",
        AnalgesicUse.WEAK_OPIOID: "Weak opioid (e.g. codeine)",
        AnalgesicUse.STRONG_OPIOID: "Strong opioid (e.g. morphine)",
    },
)
MOBILITY: Choices = _choices(
    blank="Not recorded",
    words={
        Mobility.INDEPENDENT: "Walks independently",
        Mobility.WITH_AIDS: "Walks with aids",
        Mobility.UNABLE: "Unable to walk",
    },
)
YES_NO_UNKNOWN: Choices = [("yes", "Yes"), ("no", "No"), ("", "Not known")]
POSITION_WORDS = {
    "within": "Consistent with the published figure",
    "above": "Above the published figure",
    "below": "Below the published figure",
}
