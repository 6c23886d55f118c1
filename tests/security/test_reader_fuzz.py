"""Property-based fuzzing of the three readers of outside input: whatever they are given, the
FHIR reader, the note reader and the policy reader return a reading or raise `InputError` with
a one-line message - never another exception - and none takes longer than the per-example
deadline.

Inputs are random JSON and text, and mutations of the real material: the shared FHIR fixtures
(Da Vinci PAS and DTR, Synthea records, vertebro's own bundles), the shared and labelled notes,
and the shipped policies. `VERTEBRO_FUZZ_EXAMPLES` sets the examples per test (default 40) for
a deeper run; `VERTEBRO_FUZZ_DEADLINE` the per-example deadline in seconds (default 20).
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Callable

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vertebro.adapters import policy_files
from vertebro.adapters.errors import InputError
from vertebro.adapters.fhir import parse_json, read_fhir
from vertebro.adapters.nlp import read_note

from .strategies import (
    FHIR,
    NOTES,
    POLICIES,
    SENTENCES,
    Json,
    fhir_documents,
    json_values,
    mutated,
)

EXAMPLES = int(os.environ.get("VERTEBRO_FUZZ_EXAMPLES", "40"))
# The suite runs a fixed sequence of examples, so CI is repeatable; VERTEBRO_FUZZ_RANDOM=1
# explores new ones (with VERTEBRO_FUZZ_EXAMPLES for depth), and what it finds becomes a test.
RANDOM = os.environ.get("VERTEBRO_FUZZ_RANDOM") == "1"
DEADLINE = dt.timedelta(seconds=float(os.environ.get("VERTEBRO_FUZZ_DEADLINE", "20")))
FUZZ = settings(max_examples=EXAMPLES, deadline=DEADLINE, database=None, derandomize=not RANDOM,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.large_base_example])


def only_input_errors(read: Callable[[], object]) -> None:
    """The property: a result, or an InputError whose message is one line."""
    try:
        read()
    except InputError as exc:
        assert "\n" not in str(exc) and "\r" not in str(exc), repr(str(exc)[:300])
        assert str(exc).strip()


# --- The FHIR reader --------------------------------------------------------------------------


@FUZZ
@given(data=json_values)
def test_fhir_reader_on_random_json(data: Json) -> None:
    only_input_errors(lambda: read_fhir(data, "fuzz", as_of=dt.date(2026, 10, 6)))


@FUZZ
@given(data=fhir_documents, as_of=st.one_of(st.none(), st.dates(), st.sampled_from(
    [dt.date.min, dt.date.max, dt.date(2026, 10, 6)])))
def test_fhir_reader_on_mutated_fixtures(data: Json, as_of: dt.date | None) -> None:
    only_input_errors(lambda: read_fhir(data, "fuzz", as_of=as_of))


@st.composite
def damaged_bytes(draw: st.DrawFn) -> bytes:
    name = draw(st.sampled_from(sorted(n for n in FHIR if not n[0].isupper())))  # not Synthea
    raw = bytearray(json.dumps(FHIR[name]).encode("utf-8"))
    for _ in range(draw(st.integers(min_value=1, max_value=6))):
        if not raw:
            break
        at = draw(st.integers(min_value=0, max_value=len(raw) - 1))
        action = draw(st.sampled_from(["flip", "delete", "insert", "truncate"]))
        if action == "flip":
            raw[at] = draw(st.integers(min_value=0, max_value=255))
        elif action == "delete":
            del raw[at: at + draw(st.integers(min_value=1, max_value=50))]
        elif action == "insert":
            raw[at:at] = draw(st.sampled_from([b"[", b"{", b'"', b"\\u0000", b"\\ud800",
                                               b"\xff\xfe", b"\x00", b"]]]]", b"1e999", b"1" * 5000,
                                               b'"\\', b"NaN", b"[" * 200]))
        else:
            del raw[at:]
    return bytes(raw)


@FUZZ
@given(raw=damaged_bytes())
def test_fhir_reader_on_damaged_bytes(raw: bytes) -> None:
    only_input_errors(lambda: read_fhir(parse_json(raw, "fuzz.json"), "fuzz.json",
                                        as_of=dt.date(2026, 10, 6)))


# --- The note reader --------------------------------------------------------------------------


@st.composite
def notes(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["unicode", "sentences", "long line", "mixed"]))
    if kind == "unicode":
        return draw(st.text(max_size=3000))
    if kind == "sentences":
        picked = draw(st.lists(st.sampled_from(SENTENCES), min_size=1, max_size=40))
        joiner = draw(st.sampled_from([" ", "\n", "\n\n", "\r\n", "\t"]))
        return joiner.join(picked)
    if kind == "long line":  # no full stop: up to and past the passage limit
        words = draw(st.lists(st.sampled_from(
            ["L1", "T12", "fracture", "no", "osteomyelitis", "pain", "vertebroplasty", "x"]),
            min_size=1, max_size=5))
        count = draw(st.integers(min_value=1, max_value=1400))
        return " ".join(words[i % len(words)] for i in range(count))
    base = draw(st.sampled_from(NOTES))
    cut = draw(st.integers(min_value=0, max_value=len(base)))
    return base[:cut] + draw(st.text(max_size=200)) + base[cut:]


@FUZZ
@given(text=notes(), note_date=st.one_of(st.none(), st.dates()))
def test_note_reader(text: str, note_date: dt.date | None) -> None:
    only_input_errors(lambda: read_note(text, source="fuzz.txt", note_date=note_date))


# --- The policy reader ------------------------------------------------------------------------

YAML_BITS = ["", "  ", "-", ":", "[", "]", "{", "}", "&a", "*a", "!!binary x", "!!python/tuple",
             "2022-02-30", "2022-01-01 25:00:00", "0x1F", "1e999", ".nan", "~", "'", '"',
             "? x", "|", ">", "\t", "é🦴", "id: x", "all: []", "fact: no.such", "in: [1]"]


@st.composite
def policy_texts(draw: st.DrawFn) -> str:
    text = POLICIES[draw(st.sampled_from(sorted(POLICIES)))]
    if draw(st.booleans()):  # structure: change the parsed document, dump it again
        return yaml.safe_dump(draw(mutated(yaml.safe_load(text))), allow_unicode=True)
    lines = text.splitlines()
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        at = draw(st.integers(min_value=0, max_value=len(lines) - 1))
        action = draw(st.sampled_from(["delete", "duplicate", "indent", "dedent", "value",
                                       "insert", "truncate"]))
        if action == "delete":
            del lines[at]
        elif action == "duplicate":
            lines.insert(at, lines[at])
        elif action == "indent":
            lines[at] = "  " + lines[at]
        elif action == "dedent":
            lines[at] = lines[at].lstrip()
        elif action == "value" and ":" in lines[at]:
            lines[at] = lines[at].split(":", 1)[0] + ": " + draw(st.sampled_from(YAML_BITS))
        elif action == "insert":
            lines.insert(at, draw(st.sampled_from(YAML_BITS)) + draw(st.text(max_size=10)))
        else:
            lines = lines[:at]
        if not lines:
            lines = [""]
    return "\n".join(lines)


@FUZZ
@given(text=policy_texts())
def test_policy_reader_on_mutated_policies(text: str) -> None:
    only_input_errors(lambda: policy_files.parse_policy_text(text, "fuzz/policy.yaml"))


@FUZZ
@given(text=st.text(max_size=500))
def test_policy_reader_on_random_text(text: str) -> None:
    only_input_errors(lambda: policy_files.parse_policy_text(text, "fuzz/policy.yaml"))


@pytest.mark.parametrize("text", [
    "id: x\neffective: {from: 2022-02-30}\n",  # a date PyYAML cannot build
    "id: x\nversion: 2022-01-01 25:00:00\n",
    "[" * 5000 + "]" * 5000,  # deeper than Python's recursion limit
    "a: &a [1, 2, 3, 4, 5, 6, 7, 8, 9]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
    "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
    "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
    "id: [*f, *f, *f, *f, *f, *f, *f, *f, *f]\n",  # "billion laughs"
], ids=["bad date", "bad time", "deep nesting", "alias bomb"])
def test_policy_reader_known_hostile_yaml(text: str) -> None:
    only_input_errors(lambda: policy_files.parse_policy_text(text, "hostile/policy.yaml"))
