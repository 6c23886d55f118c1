"""Loading official release files: the accepted formats, the user data directory, and how a
loaded table confirms (or contradicts) the crosswalk.

The OPCS-4 lines below are SYNTHETIC test data written for these tests (titles marked
"synthetic" where they are not quoted in the project's sources); they are not OPCS-4 content.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from vertebro.adapters import code_tables
from vertebro.adapters.errors import InputError
from vertebro.cli import main
from vertebro.coding_service import code_one, read_record
from vertebro.core.coding.run import code_record
from vertebro.core.coding.tables import CodeSystem, Confidence

NOW = dt.datetime(2026, 5, 1, 12, 0, tzinfo=dt.UTC)
OPCS_LINES = [
    "V44.4\tVertebroplasty of fracture of spine",
    "V44.6\tAugmentation vertebroplasty of fracture of spine using intravertebral implant",
    "V55.1\tOne level of spine",
    "V55.2\tTwo levels of spine (synthetic)",
    "V55.9\tUnspecified levels of spine",
    "Y53.4\tApproach to organ under fluoroscopic control",
    "Y53.9\tUnspecified approach to organ under image control",
    "Z901\tThoracic vertebra (synthetic)",
    "Z902\tLumbar vertebra (synthetic)",
]


def write(tmp_path: Path, name: str, lines: list[str]) -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_opcs_codes_and_titles_with_and_without_dots() -> None:
    entries, fmt = code_tables.parse_release("\n".join(OPCS_LINES), CodeSystem.OPCS4, "f")
    assert entries["Z90.1"] == "Thoracic vertebra (synthetic)"
    assert entries["V44.4"] == "Vertebroplasty of fracture of spine"
    assert fmt == "tab-separated code and title"


def test_icd10cm_order_file() -> None:
    rows = [
        ("M8008XA", "1", "Age-rel osteopor w current path fracture, vertebra(e), init",
         "Age-related osteoporosis with current pathological fracture, vertebra(e), initial encounter for fracture"),
        ("M80", "0", "Osteoporosis with current pathological fracture",
         "Osteoporosis with current pathological fracture"),
    ]  # fmt: skip
    text = "\n".join(
        f"{i:05d} {c:<7} {h} {s:<60} {long}" for i, (c, h, s, long) in enumerate(rows, 1)
    )
    entries, fmt = code_tables.parse_release(text, CodeSystem.ICD10CM, "order.txt")
    assert fmt == "CMS ICD-10-CM order file"
    assert entries["M80.08XA"].startswith("Age-related osteoporosis")
    assert "M80" in entries


def test_icd10cm_codes_file() -> None:
    text = "M8008XA Age-related osteoporosis w current path fracture\nC7951   Secondary malignant neoplasm of bone\n"
    entries, _ = code_tables.parse_release(text, CodeSystem.ICD10CM, "codes.txt")
    assert set(entries) == {"M80.08XA", "C79.51"}


def test_icd10_file_with_code_and_description_columns() -> None:
    text = "CODE\tALT_CODE\tDESCRIPTION\nM80.0\tM800\tPostmenopausal osteoporosis with pathological fracture\nM48.5\tM485\tCollapsed vertebra, not elsewhere classified\n"
    entries, _ = code_tables.parse_release(text, CodeSystem.ICD10, "uk.txt")
    assert entries["M80.0"].startswith("Postmenopausal")


def test_cpt_csv_with_header() -> None:
    text = 'code,descriptor\n22510,"Percutaneous vertebroplasty (licensed text)"\n22899,"Unlisted procedure, spine"\n'
    entries, fmt = code_tables.parse_release(text, CodeSystem.CPT, "cpt.csv")
    assert entries == {
        "22510": "Percutaneous vertebroplasty (licensed text)",
        "22899": "Unlisted procedure, spine",
    }
    assert fmt == "comma-separated code and title"


@pytest.mark.parametrize(
    ("system", "text"),
    [
        (CodeSystem.OPCS4, "this is not\na release file\n"),
        (CodeSystem.OPCS4, "22510\tPercutaneous vertebroplasty\n"),
        (CodeSystem.CPT, ""),
    ],
)
def test_files_that_are_not_releases_are_refused(system: CodeSystem, text: str) -> None:
    with pytest.raises(InputError):
        code_tables.parse_release(text, system, "bad.txt")


def test_loaded_release_replaces_the_shipped_table_until_unloaded(tmp_path: Path) -> None:
    home = tmp_path / "home"
    release = write(tmp_path, "OPCS411 CodesAndTitles.txt", OPCS_LINES)
    info = code_tables.install_release(release, CodeSystem.OPCS4, home, NOW)
    assert info.count == len(OPCS_LINES)
    table = code_tables.load_codeset(home).tables[CodeSystem.OPCS4]
    assert table.origin == "loaded"
    assert table.entries["V44.4"].confidence is Confidence.CONFIRMED
    assert "OPCS411 CodesAndTitles.txt" in table.label
    assert code_tables.unload(CodeSystem.OPCS4, home)
    assert code_tables.load_codeset(home).tables[CodeSystem.OPCS4].origin == "shipped"
    assert not code_tables.unload(CodeSystem.OPCS4, home)


def test_loaded_release_confirms_codes_and_finds_site_codes_by_title(
    tmp_path: Path, notes_dir: Path
) -> None:
    home = tmp_path / "home"
    code_tables.install_release(write(tmp_path, "r.txt", OPCS_LINES), CodeSystem.OPCS4, home, NOW)
    record = read_record(notes_dir / "02-kyphoplasty-t12-l1-senile.txt")
    result = code_record(record, (CodeSystem.OPCS4,), code_tables.load_codeset(home))
    lines = result.for_system(CodeSystem.OPCS4)
    assert [line.code for line in lines] == ["V44.4", "V55.2", "Y53.4", "Z90.1", "Z90.2"]
    assert [line.confidence for line in lines] == [
        Confidence.CONFIRMED, Confidence.CONFIRMED, Confidence.CONFIRMED,
        Confidence.LIKELY, Confidence.LIKELY,
    ]  # fmt: skip
    assert any("found by title" in note for note in lines[3].notes)


def test_loaded_release_that_contradicts_the_crosswalk_is_flagged(
    tmp_path: Path, notes_dir: Path
) -> None:
    home = tmp_path / "home"
    lines = [line for line in OPCS_LINES if not line.startswith("V44.4")]
    lines.append("V44.4\tSomething else entirely (synthetic)")
    code_tables.install_release(write(tmp_path, "r.txt", lines), CodeSystem.OPCS4, home, NOW)
    record = read_record(notes_dir / "01-vertebroplasty-l1-postmenopausal.txt")
    out = code_one(record, (CodeSystem.OPCS4,), code_tables.load_codeset(home))
    assert out.codes[0].code == "V44.4" and out.codes[0].confidence == "unconfirmed"
    assert any("does not say" in w.message for w in out.warnings)


def test_code_missing_from_the_loaded_release_is_flagged(tmp_path: Path, notes_dir: Path) -> None:
    home = tmp_path / "home"
    lines = [line for line in OPCS_LINES if not line.startswith("V55.1")]
    code_tables.install_release(write(tmp_path, "r.txt", lines), CodeSystem.OPCS4, home, NOW)
    record = read_record(notes_dir / "01-vertebroplasty-l1-postmenopausal.txt")
    out = code_one(record, (CodeSystem.OPCS4,), code_tables.load_codeset(home))
    assert out.codes[1].code == "V55.1" and out.codes[1].confidence == "unconfirmed"
    assert any("V55.1 is not in the OPCS-4 table" in w.message for w in out.warnings)


def test_cli_codes_load_list_unload(tmp_path: Path, empty_home: Path) -> None:
    release = write(tmp_path, "OPCS.txt", OPCS_LINES)
    runner = CliRunner()
    loaded = runner.invoke(main, ["codes", "load", "--system", "opcs4", str(release)])
    assert loaded.exit_code == 0, loaded.output
    assert "loaded 9 OPCS-4 codes" in loaded.output
    assert (empty_home / "codes" / "opcs4.json").is_file()
    listing = runner.invoke(main, ["codes", "list", "--system", "opcs4", "--format", "json"])
    data = json.loads(listing.output)
    assert {row["origin"] for row in data["codes"]} == {"loaded"}
    site = next(c for c in data["crosswalk"] if c["concept"] == "site.thoracic")
    assert site["code"] == "Z90.1" and site["confidence"] == "likely"
    unloaded = runner.invoke(main, ["codes", "unload", "--system", "opcs4"])
    assert "loaded release removed" in unloaded.output


def test_cli_codes_load_refuses_a_bad_file(tmp_path: Path) -> None:
    bad = write(tmp_path, "bad.txt", ["hello", "world"])
    result = CliRunner().invoke(main, ["codes", "load", "--system", "icd10cm", str(bad)])
    assert result.exit_code == 2
    assert "does not look like a release of ICD-10-CM" in result.output


def test_cli_codes_list_shows_source_and_confidence() -> None:
    result = CliRunner().invoke(main, ["codes", "list", "--system", "opcs4"])
    assert result.exit_code == 0
    assert "V44.4     unconfirmed" in result.output
    assert "V55.1     confirmed" in result.output
    assert "NICE IPG12 clinical coding recommendations" in result.output
    assert "site.thoracic" in result.output and "(open)" in result.output
