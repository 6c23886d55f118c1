"""Generate docs/requirements-coverage.md: each Da Vinci PAS / CRD / DTR (and CDS Hooks)
requirement the service implements, mapped to the tests that show it.

Tests name requirements with `@pytest.mark.requirement("pas-2.2.1:spec-12", ...)`; the prefix
names the requirement set of the Inferno test kits' CSV files in
../shared/fixtures/requirements/. The script fails on an id the CSV files do not hold.

    .venv/bin/python scripts/requirements_coverage.py          # write the document
    .venv/bin/python scripts/requirements_coverage.py --check  # fail if it is out of date
"""

from __future__ import annotations

import argparse
import ast
import csv
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CSV_DIR = REPO.parent / "shared" / "fixtures" / "requirements"
OUTPUT = REPO / "docs" / "requirements-coverage.md"
TEST_DIRS = (REPO / "tests",)

SETS = {
    "pas-2.0.1": "hl7.fhir.us.davinci-pas_2.0.1",
    "pas-2.2.1": "hl7.fhir.us.davinci-pas_2.2.1",
    "crd-2.0.1": "hl7.fhir.us.davinci-crd_2.0.1",
    "cds-hooks-2.0": "cds-hooks_2.0",
    "cds-hooks-library-1.0.1": "cds-hooks-library_1.0.1",
    "dtr-2.0.1": "hl7.fhir.us.davinci-dtr_2.0.1",
}
# The actors whose requirements a payer-side service answers for.
SERVER_ACTORS = ("Server", "Service", "PAS Payer", "Payer Service")

NOTES = {
    "dtr-2.0.1:175": "Pre-filled answers carry information-origin `auto-server` (the DTR 2.2.0 "
                     "code; 2.0.1 spelled it `auto`).",
    "crd-2.0.1:5": "Measured by benchmarks/service_load.py against the 5 s target.",
    "pas-2.0.1:192": "Server-to-server OAuth2 client credentials (`POST /auth/token`), plus API "
                     "keys.",
    "dtr-2.0.1:151": "OAuth2 client credentials bearer tokens; SMART Backend Services' signed "
                     "client assertions are not implemented.",
    "pas-2.0.1:66": "A request that software cannot settle is pended (A4) at once.",
}

GAPS = [
    ("PAS Subscriptions (R4 backport, rest-hook)", "pas-2.0.1:141, 145, 149-152, 209-211; "
     "pas-2.2.1:spec-51, spec-54..62", "not implemented: clients poll with `Claim/$inquire`"),
    ("X12 278/275 translation", "pas-2.0.1:6, 63, 64, 91-99", "not applicable: the service "
     "processes the PAS FHIR bundle directly (the CMS exception, pas-2.0.1:1-3)"),
    ("PAS updates and cancellations (infoChanged / infoCancelled)", "pas-2.2.1:spec-63..72",
     "not implemented: a changed request under the same identifier is refused with 409"),
    ("CDS Hooks JWT from the client (asymmetric, JWKS)", "cds-hooks-2.0:176, 199, 201, 203",
     "not implemented: callers use this server's bearer tokens or API keys"),
    ("CRD hooks other than order-select / order-sign", "crd-2.0.1:152, 170, 185, 196, 204",
     "not implemented: appointment-book, encounter-start/-discharge and order-dispatch are "
     "refused with 400 (hook mismatch)"),
    ("CRD cards (external reference, instructions) and configuration-options discovery",
     "crd-2.0.1:108-122, 247-249", "not implemented: coverage information is returned as a "
     "system action only"),
    ("DTR CQL libraries, ValueSet $expand, adaptive $next-question",
     "dtr-2.0.1:57, 62, 83-102, 240, 241", "not implemented: the server pre-fills answers "
     "itself (origin auto-server); answer options are embedded"),
    ("HTTPS", "cds-hooks-2.0:2, 168; crd-2.0.1:89", "deployment: terminate TLS in front of "
     "`vertebro serve`"),
]


@dataclass(frozen=True)
class Requirement:
    """One row of the requirement CSV files."""

    req_set: str
    id: str
    url: str
    text: str
    conformance: str
    actors: str


def load_requirements() -> dict[tuple[str, str], Requirement]:
    """Every requirement, by (set, id)."""
    found: dict[tuple[str, str], Requirement] = {}
    for path in sorted(CSV_DIR.glob("*.csv")):
        with path.open(encoding="utf-8-sig", newline="") as handle:
            for row in csv.DictReader(handle):
                req = Requirement(row["Req Set"], row["ID"], row["URL"], row["Requirement"],
                                  row["Conformance"], row["Actors"])
                found[(req.req_set, req.id)] = req
    return found


def marked_tests() -> dict[str, list[str]]:
    """Requirement key ('pas-2.2.1:spec-12') -> the tests that carry it."""
    found: dict[str, list[str]] = defaultdict(list)
    for folder in TEST_DIRS:
        for path in sorted(folder.rglob("test_*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    continue
                for decorator in node.decorator_list:
                    if (isinstance(decorator, ast.Call)
                            and isinstance(decorator.func, ast.Attribute)
                            and decorator.func.attr == "requirement"):
                        for arg in decorator.args:
                            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                                name = f"{path.relative_to(REPO)}::{node.name}"
                                found[arg.value].append(name)
    return found


def render(requirements: dict[tuple[str, str], Requirement],
           marks: dict[str, list[str]]) -> str:
    """The Markdown document."""
    unknown = []
    covered: dict[str, list[tuple[Requirement, list[str]]]] = defaultdict(list)
    for key, tests in sorted(marks.items()):
        prefix, _, rid = key.partition(":")
        req_set = SETS.get(prefix)
        req = requirements.get((req_set or "", rid))
        if req is None:
            unknown.append(key)
            continue
        covered[prefix].append((req, sorted(set(tests))))
    if unknown:
        raise SystemExit(f"unknown requirement ids in tests: {', '.join(unknown)}")
    source = (CSV_DIR / "SOURCE.md").read_text(encoding="utf-8").strip().removeprefix("Source: ")
    lines = [
        "# Requirement coverage: Da Vinci PAS, CRD, DTR and CDS Hooks",
        "",
        "Generated by `scripts/requirements_coverage.py` from the Inferno test kits' requirement",
        "lists (`../shared/fixtures/requirements/*.csv`) and the `@pytest.mark.requirement`",
        "marks on the tests; do not edit by hand. Source of the lists: " + source,
        "",
        "A requirement is listed when a test shows the service meeting it. *Server-side* counts",
        f"the rows whose actor is one this payer service plays ({', '.join(SERVER_ACTORS)}).",
        "",
        "| requirement set | rows | server-side | server-side SHALL | shown by a test | of "
        "which SHALL |",
        "|---|---|---|---|---|---|",
    ]
    for prefix, req_set in SETS.items():
        rows = [r for (s, _), r in requirements.items() if s == req_set]
        server = [r for r in rows if any(a in r.actors for a in SERVER_ACTORS)]
        shall = [r for r in server if r.conformance.startswith("SHALL")]
        shown = covered.get(prefix, [])
        shown_shall = [r for r, _ in shown if r.conformance.startswith("SHALL")]
        lines.append(f"| {req_set} | {len(rows)} | {len(server)} | {len(shall)} | "
                     f"{len(shown)} | {len(shown_shall)} |")
    total = sum(len(v) for v in covered.values())
    lines += ["", f"**{total} requirements shown by tests.**", ""]
    for prefix, req_set in SETS.items():
        shown = covered.get(prefix, [])
        if not shown:
            continue
        lines += [f"## {req_set}", "", "| id | level | actor | requirement | tests |",
                  "|---|---|---|---|---|"]
        for req, tests in sorted(shown, key=lambda item: _order(item[0].id)):
            text = " ".join(req.text.replace("|", "\\|").split())
            if len(text) > 220:
                text = text[:217] + "..."
            note = NOTES.get(f"{prefix}:{req.id}")
            if note:
                text += f" *Note: {note}*"
            links = "<br>".join(f"`{t}`" for t in tests)
            lines.append(f"| [{req.id}]({req.url}) | {req.conformance} | {req.actors} | "
                         f"{text} | {links} |")
        lines.append("")
    lines += ["## Known gaps (server-side requirements not implemented)", "",
              "| area | requirements | status |", "|---|---|---|"]
    lines += [f"| {area} | {ids} | {status} |" for area, ids, status in GAPS]
    lines.append("")
    return "\n".join(lines)


def _order(rid: str) -> tuple[str, int, str]:
    head, _, tail = rid.rpartition("-")
    return (head, int(tail), "") if tail.isdigit() else (rid, 0, rid)


def main() -> int:
    """Write the document, or with --check fail when it is out of date."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the document differs")
    args = parser.parse_args()
    text = render(load_requirements(), marked_tests())
    if args.check:
        current = OUTPUT.read_text(encoding="utf-8") if OUTPUT.exists() else ""
        if current != text:
            sys.stderr.write(f"{OUTPUT.relative_to(REPO)} is out of date: run "
                             "scripts/requirements_coverage.py\n")
            return 1
        return 0
    OUTPUT.write_text(text, encoding="utf-8")
    sys.stdout.write(f"wrote {OUTPUT.relative_to(REPO)}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
