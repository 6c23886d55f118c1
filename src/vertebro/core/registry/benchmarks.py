"""The published figures a unit's results are compared with, each with its source's own words.

Every `words` is quoted verbatim from the source's text file in `../shared/sources/`
(tests/registry checks this), and the confidence is the one given for the figure in
`../shared/reference/coding-and-policy.md` section 6 where it is listed there.
A figure with `compare=False` is shown for context only: it is about another procedure.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Confidence(StrEnum):
    """How well a figure is established (the tags of the shared reference notes)."""

    CONFIRMED = "confirmed"
    LIKELY = "likely"
    UNCONFIRMED = "unconfirmed"


@dataclass(frozen=True, slots=True)
class BenchmarkSource:
    """A document a figure comes from."""

    id: str
    title: str
    publisher: str
    published: str
    url: str | None
    text_file: str  # relative to ../shared


@dataclass(frozen=True, slots=True)
class Benchmark:
    """A published rate: the range [low, high] as fractions (low == high for a single figure)."""

    id: str
    metric: str  # the id of the registry metric it is compared with
    figure: str  # the figure as the source gives it, e.g. "58% to 97%"
    low: float
    high: float
    source: str  # a BenchmarkSource id
    section: str
    words: str
    confidence: Confidence
    population: str
    note: str | None = None
    compare: bool = True


SOURCES: dict[str, BenchmarkSource] = {
    s.id: s
    for s in (
        BenchmarkSource(
            "nice-htg3",
            "Percutaneous vertebroplasty (HealthTech guidance 3, formerly IPG12)",
            "National Institute for Health and Care Excellence",
            "2003-09-24 (migrated to HTG3 January 2026)",
            "https://www.nice.org.uk/guidance/htg3",
            "sources/nice-htg3-percutaneous-vertebroplasty-2026.txt",
        ),
        BenchmarkSource(
            "rbft-leaflet",
            "Vertebroplasty (repair of vertebrae with bone cement), patient leaflet RAD_0009",
            "Royal Berkshire NHS Foundation Trust",
            "reviewed May 2026",
            "https://www.royalberkshire.nhs.uk",
            "sources/patient-leaflet-vertebroplasty-royal-berkshire.txt",
        ),
        BenchmarkSource(
            "coding-and-policy",
            "Coding and policy reference data, section 6 (outcome and complication figures)",
            "vertebro project reference notes",
            "2026",
            None,
            "reference/coding-and-policy.md",
        ),
    )
}

_RBFT_RISKS = "What are the benefits versus the risks?"

BENCHMARKS: tuple[Benchmark, ...] = (
    Benchmark(
        "nice-pain-relief", "pain-relief", "58% to 97%", 0.58, 0.97, "nice-htg3", "2.3.1",
        "some level of pain relief in 58% to 97% of patients",
        Confidence.CONFIRMED, "vertebroplasty; the evidence NICE reviewed in 2003",
    ),
    Benchmark(
        "rbft-lower-pain", "pain-relief", "approximately 50%", 0.50, 0.50, "rbft-leaflet",
        _RBFT_RISKS, "Approximately 50% of patients have lower pain as a result of the procedure",
        Confidence.CONFIRMED, "vertebroplasty at the Royal Berkshire (patient leaflet)",
        note="An approximate figure; the leaflet adds that it varies between patient groups.",
    ),
    Benchmark(
        "nice-less-medication", "analgesic-reduction", "50% to 91%", 0.50, 0.91, "nice-htg3",
        "2.3.1", "an associated reduction in medication usage in 50% to 91% of patients",
        Confidence.CONFIRMED, "vertebroplasty; the evidence NICE reviewed in 2003",
    ),
    Benchmark(
        "rbft-mobility", "mobility-improved", "about 50%", 0.50, 0.50, "rbft-leaflet",
        _RBFT_RISKS, "About 50% of patients regain lost mobility and become more active",
        Confidence.CONFIRMED, "vertebroplasty at the Royal Berkshire (patient leaflet)",
        note="An approximate figure.",
    ),
    Benchmark(
        "nice-cement-leakage", "cement-leak", "up to 27%", 0.0, 0.27, "nice-htg3", "2.4.1",
        "One study observed cement leakage in up to 27% of patients.",
        Confidence.CONFIRMED, "vertebroplasty; one study",
        note="NICE adds that leakage was often without sequelae.",
    ),
    Benchmark(
        "nice-leak-intervention", "leak-further-intervention", "1%", 0.01, 0.01, "nice-htg3",
        "2.4.1", "required further intervention in only 1% of patients in that study",
        Confidence.CONFIRMED, "vertebroplasty; the same single study",
    ),
    Benchmark(
        "rbft-cement-cord-nerve", "cement-cord-nerve", "1 in 500", 0.002, 0.002, "rbft-leaflet",
        _RBFT_RISKS,
        "if a cement leak presses upon the spinal cord or an adjacent nerve. In the worst case, "
        "this could require an emergency operation. We consider the risk of this occurring to "
        "be 1 in 500.",
        Confidence.CONFIRMED, "vertebroplasty at the Royal Berkshire (patient leaflet)",
    ),
    Benchmark(
        "rbft-cement-lungs", "pulmonary-cement-embolism", "1 in 500", 0.002, 0.002,
        "rbft-leaflet", _RBFT_RISKS,
        "cement leaking into an adjacent vein and then being transported through the body to the "
        "lungs potentially causing breathing problems. Again, this is very unlikely and we "
        "consider the risk also to be 1 in 500.",
        Confidence.CONFIRMED, "vertebroplasty at the Royal Berkshire (patient leaflet)",
    ),
    Benchmark(
        "rbft-new-fracture", "new-fracture-adjacent", "up to 10%", 0.0, 0.10, "rbft-leaflet",
        _RBFT_RISKS,
        "There is also the possibility of a new vertebra fracture above or below the one being "
        "treated, which can occur in up to 10% of cases",
        Confidence.CONFIRMED, "vertebroplasty at the Royal Berkshire (patient leaflet)",
        note="The leaflet adds that patients are at higher risk of vertebral fracture anyway.",
    ),
    # Context only: figures for another device, listed in the reference notes section 6.
    Benchmark(
        "ipg568-leakage", "cement-leak", "3% to 55%", 0.03, 0.55, "coding-and-policy", "6",
        "3 % to 55 % of patients", Confidence.CONFIRMED,
        "craniocaudal expandable implants (NICE IPG568; 11 studies, 1,243 patients)",
        compare=False,
    ),
    Benchmark(
        "ipg568-new-fractures", "new-fracture-any", "8% to 21%", 0.08, 0.21, "coding-and-policy",
        "6", "8 % to 21 % of patients", Confidence.CONFIRMED,
        "craniocaudal expandable implants (NICE IPG568)", compare=False,
    ),
)


def benchmarks_for(metric: str) -> list[Benchmark]:
    """The figures compared with a metric, in table order."""
    return [b for b in BENCHMARKS if b.metric == metric and b.compare]


def context_figures() -> list[Benchmark]:
    """Figures shown for context but not compared (another procedure or device)."""
    return [b for b in BENCHMARKS if not b.compare]
