"""`vertebro code`: text and JSON output, systems, folders and bad input."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from vertebro.cli import main

NOTES = Path(__file__).resolve().parent.parent / "fixtures" / "operative_notes"
DATA = Path(__file__).resolve().parent / "data"


def test_json_has_the_documented_shape() -> None:
    result = CliRunner().invoke(
        main, ["code", str(NOTES / "05-metastatic-breast-l3-biopsy.txt"), "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert {"input", "procedures", "codes", "warnings"} <= set(out)
    code = out["codes"][0]
    assert set(code) >= {
        "system",
        "code",
        "display",
        "units",
        "sequence",
        "evidence",
        "confidence",
        "notes",
    }
    assert code["system"] == "https://fhir.nhs.uk/Id/opcs-4"
    assert out["procedures"][0]["level"] == "L3" and out["procedures"][0]["evidence"]
    assert all(w["question"] for w in out["warnings"])


def test_uk_text_marks_unconfirmed_codes() -> None:
    result = CliRunner().invoke(
        main, ["code", str(NOTES / "01-vertebroplasty-l1-postmenopausal.txt"), "--system", "uk"]
    )
    assert result.exit_code == 0
    assert "OPCS-4  (https://fhir.nhs.uk/Id/opcs-4)" in result.output
    assert "V44.4      Vertebroplasty of fracture of spine  [L1]  UNCONFIRMED" in result.output
    assert "V55.1      One level of spine  [L1]  confirmed" in result.output
    assert "ICD-10 (WHO)" in result.output and "CPT" not in result.output
    assert "Questions" in result.output


def test_us_only() -> None:
    result = CliRunner().invoke(
        main,
        [
            "code",
            str(NOTES / "02-kyphoplasty-t12-l1-senile.txt"),
            "--system",
            "us",
            "--format",
            "json",
        ],
    )
    out = json.loads(result.output)
    assert {c["system"] for c in out["codes"]} == {
        "http://www.ama-assn.org/go/cpt",
        "http://hl7.org/fhir/sid/icd-10-cm",
    }


def test_single_system() -> None:
    result = CliRunner().invoke(
        main,
        [
            "code",
            str(NOTES / "06-myeloma-relapse-kyphoplasty-three-levels.txt"),
            "--system",
            "cpt",
            "--format",
            "json",
        ],
    )
    out = json.loads(result.output)
    assert [(c["code"], c["units"]) for c in out["codes"]] == [("22513", 1), ("22515", 2)]


def test_folder_gives_one_json_line_per_input() -> None:
    result = CliRunner().invoke(main, ["code", str(NOTES), "--format", "json"])
    assert result.exit_code == 0
    lines = [json.loads(line) for line in result.output.splitlines()]
    assert len(lines) == len(list(NOTES.glob("*.txt")))


def test_no_augmentation_message() -> None:
    result = CliRunner().invoke(main, ["code", str(NOTES / "20-clinic-letter-planned.txt")])
    assert result.exit_code == 0
    assert "No codes: the procedure is mentioned only in the history or assessment" in result.output


def test_bad_inputs_are_reported_and_the_rest_coded(tmp_path: Path) -> None:
    not_fhir = tmp_path / "x.json"
    not_fhir.write_text('{"hello": 1}')
    broken = tmp_path / "y.json"
    broken.write_text("{")
    result = CliRunner().invoke(
        main,
        [
            "code",
            str(not_fhir),
            str(broken),
            str(tmp_path / "missing.txt"),
            str(NOTES / "24-no-diagnosis.txt"),
            "--format",
            "json",
        ],
    )
    assert result.exit_code == 2
    assert "must be a FHIR resource or Bundle" in result.output
    assert "not valid JSON" in result.output
    assert "no such file or folder" in result.output
    assert '"input":' in result.output  # the good note was still coded


def test_fhir_bundle_input() -> None:
    result = CliRunner().invoke(
        main, ["code", str(DATA / "bundle-kyphoplasty.json"), "--system", "cpt"]
    )
    assert result.exit_code == 0
    assert "22513" in result.output and "22515" in result.output
