"""The shipped pathway file: every quote is verbatim, every figure is in its quote, the loader is strict."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from vertebro.adapters import pathway_files
from vertebro.adapters.errors import InputError
from vertebro.core.catalogue import BLOOD_THINNERS
from vertebro.core.criteria import Citation, walk
from vertebro.core.pathway.model import DrugAction, Pathway

pathway = pathway_files.shipped()
SHIPPED = (
    Path(pathway_files.__file__).resolve().parents[1] / "pathway" / "royal-berkshire-2026.yaml"
)


def _citations(pathway: Pathway) -> list[tuple[str, Citation]]:
    found: list[tuple[str, Citation]] = [("hospital", c) for c in pathway.hospital.citations]
    for check in pathway.checks:
        found += [(check.id, c) for c in (*check.citations, *check.fail_advice.citations)]
        found += [(node.id, c) for node in walk(check.pass_when) for c in node.citations]
    plan = pathway.plan
    for rule in plan.drugs.values():
        found += [(rule.drug, c) for c in rule.citations]
    for name in ("bridging", "restart", "other_medicines", "antibiotics", "outpatient_discharge",
                 "inpatient_stay", "aftercare", "fasting", "bed_rest"):  # fmt: skip
        found += [(name, c) for c in getattr(plan, name).citations]
    found += [(item.text, c) for item in pathway.what_to_bring for c in item.citations]
    found += [(item.id, c) for item in pathway.consent for c in item.citations]
    return found


def _normalise(text: str) -> str:
    return " ".join(text.split())


def test_every_quote_is_verbatim_in_its_source(shared: Path) -> None:
    texts: dict[str, str] = {}
    for source in pathway.sources.values():
        assert source.text_file, f"source {source.id} has no text_file"
        path = shared / source.text_file
        if not path.is_file():
            pytest.skip(f"{path} is not available")
        texts[source.id] = _normalise(path.read_text(encoding="utf-8"))
    wrong = [
        f"{where}: {c.source} does not contain {c.words!r}"
        for where, c in _citations(pathway)
        if _normalise(c.words) not in texts[c.source]
    ]
    assert wrong == []


def test_every_figure_appears_in_its_quotes() -> None:
    for item in pathway.consent:
        if item.figure is None:
            continue
        quoted = " ".join(c.words for c in item.citations)
        for number in re.findall(r"\d+", item.figure):
            assert re.search(rf"\b{number}\b", quoted), f"{item.id}: {number} is not quoted"


def test_the_consent_figures_the_issue_asks_for() -> None:
    figures = {item.id: item.figure for item in pathway.consent}
    assert figures["cement-presses-on-nerve"] == "1 in 500"
    assert figures["cement-to-lungs"] == "1 in 500"
    assert figures["new-fracture"] == "up to 10%"
    assert figures["less-pain"] == figures["more-mobile"] == "about 50%"
    assert figures["nice-pain-relief"] == "58% to 97%"
    assert figures["nice-cement-leakage"] == "up to 27%"
    second = next(i for i in pathway.consent if i.id == "new-fracture")
    assert any("20% chance of a second fracture" in c.words for c in second.citations)


def test_only_the_named_drugs_have_dated_rules() -> None:
    rules = pathway.plan.drugs
    assert {d for d, r in rules.items() if r.action is DrugAction.STOP} == {
        "warfarin",
        "clopidogrel",
    }
    assert rules["warfarin"].stop_days_before == rules["clopidogrel"].stop_days_before == 5
    assert rules["warfarin"].clotting_check and not rules["clopidogrel"].clotting_check
    assert rules["aspirin"].action is DrugAction.CONTINUE
    assert set(rules) <= set(BLOOD_THINNERS) - {"other"}


def test_hospital_details_and_fasting_are_data() -> None:
    assert pathway.hospital.phone == "0118 322 7991"
    assert pathway.hospital.department == "Radiology Department"
    assert (pathway.plan.fasting.food_hours_before, pathway.plan.fasting.drinks_hours_before) == (
        6,
        2,
    )
    assert pathway.hospital.working_days == frozenset(range(5))


def test_a_hospital_can_change_fasting_and_phone_without_code(tmp_path: Path) -> None:
    text = SHIPPED.read_text(encoding="utf-8")
    text = text.replace("food_hours_before: 6", "food_hours_before: 8")
    text = text.replace('phone: "0118 322 7991"', 'phone: "01234 567890"')
    path = tmp_path / "local.yaml"
    path.write_text(text, encoding="utf-8")
    local = pathway_files.resolve(str(path))
    assert local.plan.fasting.food_hours_before == 8
    assert local.hospital.phone == "01234 567890"
    assert local.content_hash != pathway_files.shipped().content_hash


def _broken(tmp_path: Path, old: str, new: str) -> str:
    text = SHIPPED.read_text(encoding="utf-8")
    assert old in text, old
    path = tmp_path / "broken.yaml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(InputError) as caught:
        pathway_files.load_pathway_path(path)
    return str(caught.value)


def _line_of(text: str) -> int:
    lines = SHIPPED.read_text(encoding="utf-8").splitlines()
    return next(i for i, line in enumerate(lines, 1) if text in line)


def test_unknown_key_is_rejected_with_its_line(tmp_path: Path) -> None:
    message = _broken(
        tmp_path, "    drinks_hours_before: 2\n", "    drinks_hours_before: 2\n    snacks: 1\n"
    )
    line = _line_of("drinks_hours_before: 2") + 1
    assert (
        message
        == f"{tmp_path / 'broken.yaml'}:{line}: unknown key 'snacks' (at plan.fasting.snacks)"
    )


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("      action: stop\n      stop_days_before: 5\n      clotting_check: true\n",
         "      action: stop\n      clotting_check: true\n",
         "action 'stop' needs stop_days_before"),
        ("- drug: aspirin", "- drug: aspirine", "'aspirine' is not a blood thinner in the catalogue"),
        ("fact: patient.pacemaker", "fact: patient.pacemakers", "unknown fact 'patient.pacemakers'"),
        ("{source: lcd-summaries,", "{source: lcd,", "citation names source 'lcd'"),
        ("food_hours_before: 6", "food_hours_before: -6", "greater than 0"),
        ("  - id: right-purpose\n", "  - id: consent\n", "duplicate check id 'consent'"),
        ("working_days: [monday,", "working_days: [mondays,", "monday"),
    ],
)  # fmt: skip
def test_format_errors_name_file_and_line(
    tmp_path: Path, old: str, new: str, expected: str
) -> None:
    message = _broken(tmp_path, old, new)
    assert message.startswith(f"{tmp_path / 'broken.yaml'}:")
    assert re.match(r".*broken\.yaml:\d+: ", message), message
    assert expected in message


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    message = _broken(tmp_path, "plan:\n", "plan: [\n")
    assert re.match(r".*broken\.yaml:\d+: ", message), message


def test_unknown_shipped_pathway_lists_the_known_ones() -> None:
    with pytest.raises(InputError, match="shipped pathways: royal-berkshire-2026"):
        pathway_files.resolve("nowhere")
