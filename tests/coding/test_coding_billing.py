"""Payer billing rules as data, and `vertebro claim-check`: every rule fires where it should, not
where it should not, and each finding cites its source."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from vertebro.adapters import code_tables
from vertebro.adapters.coding_input import read_claim
from vertebro.adapters.errors import InputError
from vertebro.cli import main
from vertebro.core.coding.billing import check_claim

DATA = Path(__file__).resolve().parent / "data"
CPT = "http://www.ama-assn.org/go/cpt"
CM = "http://hl7.org/fhir/sid/icd-10-cm"
SOURCES = Path(__file__).resolve().parents[3] / "shared" / "sources"


def claim(
    items: list[tuple[str, int, str]],
    diagnoses: list[str],
    *,
    preauth: bool = True,
    use: str = "claim",
) -> dict[str, Any]:
    insurance: dict[str, Any] = {
        "sequence": 1,
        "focal": True,
        "coverage": {"reference": "Coverage/c"},
    }
    if preauth:
        insurance["preAuthRef"] = ["PA-1"]
    return {
        "resourceType": "Claim",
        "id": "t",
        "use": use,
        "insurance": [insurance],
        "diagnosis": [
            {"sequence": i, "diagnosisCodeableConcept": {"coding": [{"system": CM, "code": c}]}}
            for i, c in enumerate(diagnoses, 1)
        ],
        "item": [
            {
                "sequence": i,
                "productOrService": {"coding": [{"system": CPT, "code": c}]},
                "quantity": {"value": n},
                "bodySite": {"text": site},
            }
            for i, (c, n, site) in enumerate(items, 1)
        ],
    }


def fired(resource: dict[str, Any]) -> set[str]:
    findings = check_claim(read_claim(resource, "t"), code_tables.shipped_rulesets())
    return {f"{f.ruleset.id}:{f.rule.id}" for f in findings}


CASES = [
    # (items, diagnoses, preauth, rules expected to fire)
    ([("22513", 1, "T12"), ("22515", 1, "L1")], ["M80.08XA"], True, set()),
    ([("22510", 1, "T11"), ("22513", 1, "T12")], ["M80.08XA"], True, {"carefirst:kyphoplasty-not-paid-with-vertebroplasty"}),
    ([("22511", 1, "L2")], ["M80.08XA"], False, {"carefirst:preauthorization-required"}),
    ([("22511", 1, "sacrum")], ["M80.08XA"], True, {"carefirst:sacroplasty-category-iii-code"}),
    ([("22511", 1, "L5")], ["M48.58XA"], True, {"carefirst:sacroplasty-category-iii-code"}),
    ([("0201T", 1, "sacrum")], ["M80.08XA"], True, {"carefirst:sacroplasty-investigational"}),
    ([("22899", 1, "T12 thoracic")], ["M80.08XA"], True, {"carefirst:category-i-codes"}),
    ([("22899", 1, "C2 cervical")], ["M80.08XA"], True, set()),
    ([("22511", 1, "L3")], ["C79.51"], True, {"medicare:malignant-diagnosis-needs-m84-58"}),
    ([("22511", 1, "L3")], ["M84.58XA", "C79.51"], True, set()),
    ([("22513", 1, "T9")], ["C90.02"], True, {"medicare:malignant-diagnosis-needs-m84-58"}),
    ([("22513", 1, "T9")], ["C90.01"], True, set()),
    ([("22515", 1, "L1")], ["M80.08XA"], True, {"cpt:add-on-22515-without-primary"}),
    ([("22512", 2, "L1")], ["M80.08XA"], True, {"cpt:add-on-22512-without-primary"}),
    ([("22510", 1, "T12"), ("22511", 1, "L1")], ["M80.08XA"], True, {"cpt:one-primary-vertebroplasty"}),
    ([("22513", 2, "T12")], ["M80.08XA"], True, {"cpt:one-primary-augmentation"}),
    ([("22513", 1, "C5 cervical")], ["M80.08XA"], True, {"cpt:cervical-augmentation-unlisted"}),
    ([("22523", 1, "T12")], ["M80.08XA"], True, {"cpt:deleted-2015-codes"}),
]  # fmt: skip


@pytest.mark.parametrize(("items", "diagnoses", "preauth", "expected"), CASES)
def test_rules(
    items: list[tuple[str, int, str]], diagnoses: list[str], preauth: bool, expected: set[str]
) -> None:
    assert fired(claim(items, diagnoses, preauth=preauth)) == expected


def test_a_preauthorisation_request_needs_no_preauthorisation_reference() -> None:
    request = claim([("22511", 1, "L2")], ["M80.08XA"], preauth=False, use="preauthorization")
    assert fired(request) == set()


def test_item_authorisation_number_counts_as_preauthorisation() -> None:
    resource = claim([("22511", 1, "L2")], ["M80.08XA"], preauth=False)
    resource["item"][0]["extension"] = [
        {
            "url": "http://hl7.org/fhir/us/davinci-pas/StructureDefinition/extension-authorizationNumber",
            "valueString": "A1",
        }
    ]
    assert fired(resource) == set()


def test_every_rule_cites_a_listed_source_with_words() -> None:
    for ruleset in code_tables.shipped_rulesets():
        for rule in ruleset.rules:
            assert rule.cite.document and rule.cite.section and rule.cite.words
            assert rule.message and rule.severity in {"deny", "warn", "info"}


def test_carefirst_citations_quote_the_policy_text() -> None:
    path = SOURCES / "carefirst-medical-policy-vertebroplasty-kyphoplasty-sacroplasty.txt"
    if not path.is_file():
        pytest.skip("the CareFirst source text is not available")
    text = " ".join(path.read_text().split())
    carefirst = next(r for r in code_tables.shipped_rulesets() if r.id == "carefirst")
    for rule in carefirst.rules:
        assert rule.cite.words in text, rule.id


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "id: x\ntitle: t\npayer: p\nsources: [{id: s, title: t}]\nrules: []\n",
            "at least one rule",
        ),
        (
            "id: x\ntitle: t\npayer: p\nsources: [{id: s, title: t}]\nrules:\n"
            "  - {id: r, title: t, severity: maybe, when: {codes_any: [1]}, message: m,"
            " cite: {source: s, section: a, words: w}, confidence: confirmed}\n",
            "severity must be",
        ),
        (
            "id: x\ntitle: t\npayer: p\nsources: [{id: s, title: t}]\nrules:\n"
            "  - {id: r, title: t, severity: deny, when: {codes_some: [1]}, message: m,"
            " cite: {source: s, section: a, words: w}, confidence: confirmed}\n",
            "unknown key 'codes_some'",
        ),
        (
            "id: x\ntitle: t\npayer: p\nsources: [{id: s, title: t}]\nrules:\n"
            "  - {id: r, title: t, severity: deny, when: {codes_any: [1]}, message: m,"
            " cite: {source: other, section: a, words: w}, confidence: confirmed}\n",
            "source 'other' is not listed",
        ),
    ],
)
def test_bad_rule_files_are_rejected(text: str, message: str) -> None:
    with pytest.raises(InputError) as info:
        code_tables.parse_rules_text(text, "rules.yaml")
    assert message in info.value.message


def test_cli_claim_check_explains_each_finding_with_its_source() -> None:
    result = CliRunner().invoke(
        main, ["claim-check", str(DATA / "claim-carefirst.json"), "--payer", "carefirst"]
    )
    assert result.exit_code == 1  # a finding denies payment
    assert (
        "[DENY] CareFirst BlueCross BlueShield: Kyphoplasty is not paid in addition"
        in result.output
    )
    assert "Benefit Applications" in result.output
    assert "Additional benefits for kyphoplasty are not provided" in result.output
    assert "[WARN] CareFirst BlueCross BlueShield: Preauthorisation is required" in result.output


def test_cli_claim_check_json_and_payer_selection() -> None:
    path = str(DATA / "claim-medicare-malignant.json")
    result = CliRunner().invoke(
        main, ["claim-check", path, "--payer", "medicare", "--format", "json"]
    )
    report = json.loads(result.output)
    assert report["rulesets"] == ["cpt", "medicare"]
    assert [f["rule"] for f in report["findings"]] == ["malignant-diagnosis-needs-m84-58"]
    assert (
        report["findings"][0]["citation"]["words"]
        == "*Must be reported with either M84.58XA or M84.58XS"
    )
    carefirst = CliRunner().invoke(main, ["claim-check", path, "--payer", "carefirst"])
    assert carefirst.exit_code == 0 and "No findings." in carefirst.output


def test_cli_claim_check_bad_input() -> None:
    runner = CliRunner()
    no_claim = runner.invoke(main, ["claim-check", str(DATA / "bundle-kyphoplasty.json")])
    assert no_claim.exit_code == 2 and "holds no FHIR Claim" in no_claim.output
    unknown = runner.invoke(
        main, ["claim-check", str(DATA / "claim-carefirst.json"), "--payer", "aetna"]
    )
    assert unknown.exit_code == 2 and "unknown payer 'aetna'" in unknown.output


def test_shared_pas_claim_is_read_without_findings() -> None:
    path = (
        Path(__file__).resolve().parents[3]
        / "shared"
        / "fixtures"
        / "davinci-pas"
        / "pas_claim.json"
    )
    if not path.is_file():
        pytest.skip("the Da Vinci PAS fixtures are not available")
    result = CliRunner().invoke(main, ["claim-check", str(path)])
    assert result.exit_code == 0, result.output
    assert "No findings." in result.output
