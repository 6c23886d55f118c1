"""Note reader accuracy and speed: assertion detection, fact extraction, throughput.

Usage: .venv/bin/python benchmarks/nlp_accuracy.py [--seconds S] [--out PATH]

(a) Assertion detection on ../shared/fixtures/negex/rsAnnotations-1-120-random.txt (the ConText
    test set: a condition, its sentence, and whether it is negated and historical). Each
    condition is located in its sentence (the annotated words are upper-cased there) and given to
    ConText as the only target. vertebro's rules (plus its section effects: a condition under
    "PAST MEDICAL HISTORY:" is historical) are compared with plain medspaCy ConText defaults in the
    same run, on the same tokenizer and sentence splitter. Rows whose condition is not in its
    sentence are skipped and counted.
(b) Fact extraction on the labelled notes (tests/fixtures/notes/labels.yaml): per-fact precision,
    recall and F1, and the explicit check that no safety finding (osteomyelitis, instability,
    cord compression) is read as absent unless the label says so.
(c) Throughput: notes read per second (pipeline already built), on one CPU where the platform
    allows pinning.

Prints a markdown report and writes it to benchmarks/results/nlp.md.
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from vertebro.adapters.nlp import note_date_from_text, read_note
from vertebro.adapters.nlp.labelled import (
    SAFETY_FACTS,
    FactScore,
    NoteLabel,
    Scores,
    describe,
    load_labels,
    score,
)
from vertebro.adapters.nlp.pipeline import ContextRules, get_pipeline
from vertebro.adapters.nlp.rules import load_rules
from vertebro.core.facts import FactSet

ROOT = Path(__file__).resolve().parents[1]
NEGEX = ROOT.parent / "shared" / "fixtures" / "negex" / "rsAnnotations-1-120-random.txt"
LABELS = ROOT / "tests" / "fixtures" / "notes" / "labels.yaml"
OUT = ROOT / "benchmarks" / "results" / "nlp.md"


# ---- (a) assertion detection --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Row:
    """One annotated condition of the ConText test set."""

    line: str
    condition: str
    sentence: str
    negated: bool
    historical: bool


def read_negex(path: Path) -> tuple[list[Row], int]:
    """The rows whose condition can be found in its sentence, and how many could not."""
    rows: list[Row] = []
    skipped = 0
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        next(reader)  # header: line number, Condition, sentence, negation, temporality, experiencer
        for fields in reader:
            if len(fields) != 6:
                skipped += 1
                continue
            line, condition, sentence, negation, temporality, _experiencer = fields
            rows.append(
                Row(line, condition, sentence, negation == "Negated", temporality == "Historical")
            )
    return rows, skipped


def locate(row: Row) -> tuple[int, int] | None:
    """The condition's characters in its sentence: the upper-cased occurrence first."""
    words = [re.escape(word) for word in row.condition.split()]
    if not words:
        return None
    pattern = r"\s+".join(words)
    exact = re.search(pattern, row.sentence)
    if exact is None:
        exact = re.search(pattern.upper(), row.sentence)
    if exact is None:
        exact = re.search(pattern, row.sentence, re.IGNORECASE)
    return None if exact is None else (exact.start(), exact.end())


@dataclass
class Confusion:
    """Counts for one assertion (negated or historical) by one rule set."""

    tp: int = 0
    fp: int = 0
    fn: int = 0

    def add(self, gold: bool, said: bool) -> None:
        """Count one decision."""
        self.tp += gold and said
        self.fp += said and not gold
        self.fn += gold and not said

    def as_score(self) -> FactScore:
        """The counts as precision/recall/F1."""
        return FactScore(self.tp, self.fp, self.fn)


def assertion_benchmark() -> tuple[dict[str, dict[str, Confusion]], int, int]:
    """Negation and historical counts per rule set, rows used, rows skipped."""
    rows, skipped = read_negex(NEGEX)
    effects = load_rules().sections.effects
    results: dict[str, dict[str, Confusion]] = {}
    used = 0
    located = [(row, locate(row)) for row in rows]
    skipped += sum(1 for _, span in located if span is None)
    kinds: tuple[ContextRules, ...] = ("default", "vertebro")
    for kind in kinds:
        pipeline = get_pipeline(kind)
        counts = {"negated": Confusion(), "historical": Confusion()}
        used = 0
        for row, span in located:
            if span is None:
                continue
            used += 1
            categories, section = pipeline.assert_target(row.sentence, *span)
            if kind == "vertebro":
                negated = bool(categories & {"NEGATED_EXISTENCE", "RESOLVED"})
                historical = (
                    "HISTORICAL" in categories or effects.get(section or "") == "historical"
                )
            else:
                negated = "NEGATED_EXISTENCE" in categories
                historical = "HISTORICAL" in categories
            counts["negated"].add(row.negated, negated)
            counts["historical"].add(row.historical, historical)
        results[kind] = counts
    return results, used, skipped


# ---- (b) fact extraction --------------------------------------------------------------------


def available(labels: list[NoteLabel]) -> tuple[list[NoteLabel], list[str]]:
    """The labelled notes that exist here (the shared real notes may be absent)."""
    present = [label for label in labels if (ROOT / label.path).is_file()]
    missing = [label.path for label in labels if not (ROOT / label.path).is_file()]
    return present, missing


def read_label(label: NoteLabel) -> FactSet:
    """Read one labelled note as `vertebro assess` would (its date from its "Date:" line)."""
    text = (ROOT / label.path).read_text(encoding="utf-8")
    return read_note(text, source=label.path, note_date=note_date_from_text(text)).facts


# ---- (c) throughput ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Speed:
    """Notes per second over repeated passes of the labelled notes."""

    notes: int
    characters: int
    passes: int
    seconds: float
    build_seconds: float

    @property
    def per_second(self) -> float:
        """Notes read per second."""
        return self.notes * self.passes / self.seconds

    @property
    def characters_per_second(self) -> float:
        """Characters read per second."""
        return self.characters * self.passes / self.seconds


def throughput(labels: list[NoteLabel], seconds: float, build_seconds: float) -> Speed:
    """Read every note repeatedly for at least `seconds` after a warm-up pass."""
    texts = [((ROOT / label.path).read_text(encoding="utf-8"), label.path) for label in labels]
    for text, name in texts:  # warm-up
        read_note(text, source=name, note_date=None)
    passes = 0
    started = time.perf_counter()
    while True:
        for text, name in texts:
            read_note(text, source=name, note_date=note_date_from_text(text))
        passes += 1
        elapsed = time.perf_counter() - started
        if elapsed >= seconds:
            break
    return Speed(len(texts), sum(len(t) for t, _ in texts), passes, elapsed, build_seconds)


# ---- report -------------------------------------------------------------------------------


def pin_one_core() -> str:
    """Pin the process to one CPU where possible; say what was done."""
    if hasattr(os, "sched_setaffinity"):
        cpu = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpu})
        return f"pinned to CPU {cpu}"
    return "not pinned (platform has no sched_setaffinity)"


def f3(value: float) -> str:
    """A score to three decimals."""
    return f"{value:.3f}"


# The eight held-out notes were written and labelled after the rules had been tuned on the others,
# and read once before any change: this is what that first reading scored. Their misses were then
# fixed, so their live figure below is no longer a held-out measure.
HELD_OUT_FIRST_RUN = (
    "precision 0.933, recall 0.845, F1 0.887 (98 correct, 7 false, 18 missed) against the labels "
    "as first written; 0.943, 0.846, 0.892 after one label was corrected to match the other "
    "notes (a failed course of analgesics on the pre-authorisation form is pain resistant to "
    "analgesia); 0 false readings of absence for safety facts, but two wrong readings of "
    "presence (cord compression from the name of the MSCC meeting, osteomyelitis from a "
    "'No' answer on the form), both since fixed"
)


def summary(scores: Scores) -> str:
    """One line of micro-averaged figures."""
    total = scores.total()
    return (
        f"precision {f3(total.precision)}, recall {f3(total.recall)}, F1 {f3(total.f1)} "
        f"({total.true_positive} correct, {total.false_positive} false, "
        f"{total.false_negative} missed)"
    )


def report(
    assertions: tuple[dict[str, dict[str, Confusion]], int, int] | None,
    scores: Scores,
    subsets: dict[str, Scores],
    missing: list[str],
    speed: Speed,
    pinned: str,
) -> str:
    """The markdown report."""
    lines = ["# Note reader: accuracy and speed", ""]
    lines += [
        f"Run: `.venv/bin/python benchmarks/nlp_accuracy.py` — Python {platform.python_version()}, "
        f"{platform.machine()}, {pinned}.",
        "",
        "## (a) Assertion detection on the ConText test set",
        "",
    ]
    if assertions is None:
        lines += [f"Skipped: {NEGEX} is not present.", ""]
    else:
        results, used, skipped = assertions
        lines += [
            f"`{NEGEX.relative_to(ROOT.parent)}`: {used} conditions scored, {skipped} skipped "
            "(the condition is not in its sentence). Gold: negation status `Negated`; temporality "
            "`Historical`. Both rule sets run on the same tokenizer and sentence splitter.",
            "",
            "| assertion | rule set | TP | FP | FN | precision | recall | F1 |",
            "|---|---|---|---|---|---|---|---|",
        ]
        names = {"default": "medspaCy ConText defaults (baseline)", "vertebro": "vertebro rules"}
        for assertion in ("negated", "historical"):
            for kind in ("default", "vertebro"):
                c = results[kind][assertion]
                s = c.as_score()
                lines.append(
                    f"| {assertion} | {names[kind]} | {c.tp} | {c.fp} | {c.fn} | "
                    f"{f3(s.precision)} | {f3(s.recall)} | {f3(s.f1)} |"
                )
        lines += [
            "",
            "vertebro counts a finding as negated when ConText marks it negated or resolved, and "
            "as historical when ConText marks it historical or it stands in a past-history "
            "section.",
            "",
        ]
    total = scores.total()
    lines += [
        "## (b) Fact extraction on the labelled notes",
        "",
        f"{scores.notes} notes (`tests/fixtures/notes/labels.yaml`), labels exhaustive: a value "
        "for a fact the label does not list is a false reading. A reading counts as correct when "
        "it equals the label (durations within half a week).",
        "",
    ]
    if missing:
        lines += [f"Not available here and skipped: {', '.join(missing)}.", ""]
    lines += [
        f"**All facts (micro average): precision {f3(total.precision)}, recall "
        f"{f3(total.recall)}, F1 {f3(total.f1)}** "
        f"({total.true_positive} correct, {total.false_positive} false, "
        f"{total.false_negative} missed).",
        "",
    ]
    for name, subset in subsets.items():
        lines.append(f"- {name} ({subset.notes} notes): {summary(subset)}")
    lines += [
        f"- held-out notes on their first reading, before any rule change: {HELD_OUT_FIRST_RUN}",
        "",
        "The rules were developed on these notes (and the ConText changes were checked against "
        "the test set in (a)), so these figures are optimistic; the first reading of the "
        "held-out notes is the fairer estimate for new notes.",
        "",
        f"**Safety check: {len(scores.false_safety_absent)} false readings of absence** for "
        f"{', '.join(SAFETY_FACTS)} (a note read as 'no osteomyelitis', 'stable' or 'no cord "
        "compression' when its label does not say so).",
        "",
        "| fact | labelled | TP | FP | FN | precision | recall | F1 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name in sorted(scores.facts):
        s = scores.facts[name]
        lines.append(
            f"| {name} | {s.true_positive + s.false_negative} | {s.true_positive} | "
            f"{s.false_positive} | {s.false_negative} | {f3(s.precision)} | {f3(s.recall)} | "
            f"{f3(s.f1)} |"
        )
    lines += ["", "Mismatches:", ""]
    if not scores.mismatches:
        lines.append("- none")
    for m in scores.mismatches:
        lines.append(f"- `{m.note}` {m.fact}: label {describe(m.expected)}, read {describe(m.got)}")
    lines += [
        "",
        "## (c) Throughput",
        "",
        f"{speed.notes} notes ({speed.characters:,} characters) read {speed.passes} times in "
        f"{speed.seconds:.2f} s on one core: **{speed.per_second:.1f} notes/s** "
        f"({speed.characters_per_second:,.0f} characters/s). Building the pipeline once: "
        f"{speed.build_seconds:.2f} s.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the three benchmarks, print the report and write it to benchmarks/results/nlp.md."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="throughput run length")
    parser.add_argument("--out", type=Path, default=OUT, help="where to write the report")
    args = parser.parse_args(argv)
    pinned = pin_one_core()
    started = time.perf_counter()
    get_pipeline("vertebro")
    build_seconds = time.perf_counter() - started
    assertions = assertion_benchmark() if NEGEX.is_file() else None
    labels, missing = available(load_labels(LABELS))
    scores = score(labels, read_label)
    subsets = {
        "written for vertebro, development": score(
            [x for x in labels if x.path.startswith("tests/") and not x.held_out], read_label
        ),
        "written for vertebro, held out": score([x for x in labels if x.held_out], read_label),
        "real sample notes (../shared)": score(
            [x for x in labels if not x.path.startswith("tests/")], read_label
        ),
    }
    speed = throughput(labels, args.seconds, build_seconds)
    text = report(assertions, scores, subsets, missing, speed, pinned)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n", encoding="utf-8")
    return 1 if scores.false_safety_absent else 0


if __name__ == "__main__":
    sys.exit(main())
