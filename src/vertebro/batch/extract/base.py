"""What the statements of the set-based reader share: the readings table, the run's dates,
and `ReaderSql`, the state and SQL helpers every step builds on."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from vertebro.adapters.combine import Rank
from vertebro.batch.dialect import Dialect, SqlType, string_literal
from vertebro.batch.extract.shapes import (
    ABOUT_PATIENT,
    INT,
    SUBJECT,
    F,
    S,
)
from vertebro.batch.lookups import LEVEL_ORDER
from vertebro.core.catalogue import CATALOGUE
from vertebro.core.facts import FactType

# The Type/id a URL ends in (bundle._TAIL_RE): a bundle's index names an entry by it too.
_TAIL = "(^|/)([A-Z][A-Za-z]+/[A-Za-z0-9.-]{1,64})$"

# The readings table: one row per reading, one value column per kind of value.
READING_COLUMNS: tuple[tuple[str, SqlType], ...] = (
    ("pid", S),
    ("fact", S),
    ("known", SqlType.BOOLEAN),
    ("b", SqlType.BOOLEAN),
    ("s", S),
    ("n", F),
    ("d", SqlType.DATE),
    ("l", SqlType.STRING_LIST),
    ("rank", INT),
    ("priority", INT),
    ("w", SqlType.DATE),
)
NOTE_READINGS = "note_readings"
# The requests the note reader found, in the order the reader meets them (`seq`), each with
# its levels as bits (the positions in LEVEL_ORDER, as `bit_set` makes them; NULL: none).
NOTE_REQUESTS = "note_requests"
NOTE_REQUEST_COLUMNS: tuple[tuple[str, SqlType], ...] = (
    ("pid", S),
    ("seq", INT),
    ("procedure", S),
    ("bits", INT),
)
# Cases the reader refuses (more text than it takes from one bundle), left out (--skip-bad).
REFUSED_CASES = "refused_cases"

# The column of the readings table holding a value of each type of fact.
VALUE_COLUMN = {
    FactType.BOOLEAN: "b",
    FactType.CHOICE: "s",
    FactType.NUMBER: "n",
    FactType.DATE: "d",
    FactType.CHOICES: "l",
    FactType.LEVELS: "l",
}
_DATE_PATTERN = "^[0-9]{4}-[0-9]{2}-[0-9]{2}(T[0-9:.]+(Z|[+-][0-9]{2}:[0-9]{2})?)?$"
_ID = "([A-Za-z0-9.-]{1,64})(/_history/[^/]*)?$"
# An attachment url naming a Binary by type and id (group 2), in a resource's JSON text.
_BINARY_URL = '"url"[ ]*:[ ]*"([^"]*/)?Binary/([-A-Za-z0-9.]{1,64})(/_history/[^"]*)?"'
# The facts a Condition (or a diagnosis a request names) gives; several per case are merged.
CONDITION_FACTS = frozenset(
    {
        "infection.osteomyelitis_at_site",
        "cord_compression.present",
        "infection.active",
        "fracture.symptomatic",
        "fracture.aetiology",
        "fracture.present",
        "fracture.type",
        "fracture.unstable",
        "fracture.vertebral_body_collapse",
        "fracture.healed",
        "fracture.onset_date",
    }
)
# Facts one reading per case gives (no merge needed unless text gives them too): the table
# that holds them one row per case, and the column dating the reading.
WIDE_FACTS: Mapping[str, tuple[str, str]] = {
    "patient.sex": ("w_patient", "NULL"),
    "patient.age": ("w_patient", "w.w_age"),
    "pain.score": ("w_observation", "w.w_pain"),
    "pain.severe": ("w_observation", "w.w_pain"),
    "hospitalisation.admitted": ("w_encounter", "NULL"),
    "hospitalisation.for_pain_control": ("w_encounter", "NULL"),
    "conservative_treatment.duration_weeks": ("w_duration", "w.w_duration"),
}
_SACRUM = LEVEL_ORDER.index("sacrum") + 1
# The columns naming where a row was read (input file, line), and the case it belongs to.
_LINE: tuple[tuple[str, SqlType], ...] = (("file", INT), ("line_no", INT))
_OWNED_LINE: tuple[tuple[str, SqlType], ...] = (("pid", S), *_LINE)


@dataclass(frozen=True, slots=True)
class Stage:
    """One statement: a table to materialise from a query, or a view (`view`: a query read
    where it is used, for a step that would only copy rows)."""

    name: str
    sql: str
    view: bool = False


@dataclass(frozen=True, slots=True)
class RunDates:
    """The dates a run is made on: `as_of` given on the command line (or None) and today."""

    as_of: dt.date | None
    today: dt.date

    @property
    def reader_day(self) -> dt.date:
        """What the per-case reader dates treatments against when a case has no request date."""
        return self.as_of or self.today


class ReaderSql:
    """The state of the set-based reader for one dialect and the resource types present,
    and the SQL helpers its steps share (references, patients, dates, readings)."""

    def __init__(
        self, dialect: Dialect, types: set[str], dates: RunDates, bundles: bool = False
    ) -> None:
        self.d = dialect
        self.types = types
        self.dates = dates
        # Whether the input holds bundles, whose entries may be named by their fullUrl
        # (urn:uuid:...) rather than by type and id.
        self.bundles = bundles
        self._concepts: dict[str, list[tuple[str, str]]] = {}
        self._pivoted: set[str] = set()
        self._note_facts: set[str] = set()

    # --- helpers ----------------------------------------------------------------------------

    def _f(self, base: str, *names: str) -> str:
        return self.d.field(base, *names)

    def _s(self, expr: str) -> str:
        """FHIR string: trimmed; empty reads as absent (elements.string)."""
        return f"NULLIF(trim({expr}), '')"

    def _date(self, expr: str) -> str:
        """A full FHIR date or dateTime as a DATE; partial or malformed ones read as absent."""
        text = f"trim({expr})"
        ok = self.d.regex_match(text, string_literal(_DATE_PATTERN))
        return f"CASE WHEN {ok} THEN try_cast(substr({text}, 1, 10) AS DATE) END"

    def _ref_id(self, ref: str, rtype: str) -> str:
        """The id in a reference to a resource of `rtype` ('Patient/123', an absolute URL,
        with or without /_history/n); NULL for other references. The plain relative form is
        read without a regular expression (most references in an export are plain)."""
        text = f"trim({ref})"
        prefix = f"{rtype}/"
        tail = f"substr({text}, {len(prefix) + 1})"
        pattern = string_literal(f"(^|/){rtype}/{_ID}")
        return (
            f"CASE WHEN {text} LIKE {string_literal(prefix + '%')} AND instr({tail}, '/') = 0 "
            f"AND {tail} <> '' THEN {tail} "
            f"ELSE NULLIF(regexp_extract({text}, {pattern}, 2), '') END"
        )

    def _rid(self, alias: str, rtype: str) -> str:
        """What references resolve to for a resource of `rtype` (`alias.r`, `alias.url`): its
        id; in a bundle, for an entry without one, the id its fullUrl ends in, else the fullUrl
        itself (bundle.BundleIndex names entries by all three)."""
        own = self._s(self._f(f"{alias}.r", "id"))
        if not self.bundles:
            return own
        return f"coalesce({own}, {self._ref_id(f'{alias}.url', rtype)}, {alias}.url)"

    def _resolve(self, ref: str, rtype: str, alias: str, joins: list[str]) -> str:
        """The `_rid` of the `rtype` resource a reference (`ref`, an element of a row of
        `alias`) names: in a bundle first by fullUrl (urn:uuid references), then by type and
        id. Adds the join it needs (on `d_url`) to `joins`."""
        by_id = self._ref_id(ref, rtype)
        if not self.bundles:
            return by_id
        u = f"u{len(joins)}"
        target = f"regexp_replace(trim({ref}), '/_history/.*$', '')"
        joins.append(
            f"LEFT JOIN d_url {u} ON {u}.file = {alias}.file AND {u}.url = {target} "
            f"AND {u}.rtype = {string_literal(rtype)}"
        )
        return f"coalesce({u}.rid, {by_id})"

    def _urls(self) -> str:
        """d_url: each bundle entry of a type references are resolved to, by fullUrl (the
        first entry with that fullUrl in its bundle, as the reader's index keeps it)."""
        targets = [t for t in ("Condition", "Medication", "ServiceRequest") if self._has(t)]
        columns = (("file", INT), ("url", S), ("rtype", S), ("rid", S))
        if not targets:
            return self._empty(columns)
        union = " UNION ALL ".join(
            f"SELECT x.file, x.line_no, x.url, {string_literal(t)} AS rtype, "
            f"{self._rid('x', t)} AS rid FROM src_{t} x WHERE x.url IS NOT NULL"
            for t in targets
        )
        return (
            "SELECT file, url, min_by(rtype, line_no) AS rtype, min_by(rid, line_no) AS rid "
            f"FROM ({union}) AS u GROUP BY file, url"
        )

    def _pid_of(self, rtype: str, alias: str) -> str:
        """The case a resource belongs to: its bundle, else the patient it names."""
        if rtype == "Patient":
            return f"coalesce({alias}.grp, {self._s(self._f(f'{alias}.r', 'id'))})"
        ref = self._f(f"{alias}.r", SUBJECT.get(rtype, "subject"), "reference")
        return f"coalesce({alias}.grp, {self._ref_id(ref, 'Patient')})"

    def _src(self, rtype: str) -> str:
        """The relation a resource type is read from: in a bundle, only the resources about
        the patient the reader chooses (`_about_patient`)."""
        if self.bundles and rtype in ABOUT_PATIENT:
            return f"o_{rtype}"
        return f"src_{rtype}"

    def _patient_entry(self, ref: str, alias: str, joins: list[str]) -> str:
        """The line of the Patient entry of the bundle a reference (`ref`, of a row of
        `alias`) resolves to, as bundle.BundleIndex.resolve finds it (by the reference, else
        the Type/id it ends in); NULL when it names no Patient of the bundle. Adds its joins."""
        base = f"regexp_replace(trim({ref}), '/_history/.*$', '')"
        tail = f"NULLIF(regexp_extract({base}, {string_literal(_TAIL)}, 2), '')"
        found = []
        for key in (base, tail):
            k = f"k{len(joins)}"
            joins.append(
                f"LEFT JOIN d_patient_key {k} ON {k}.file = {alias}.file AND {k}.key = {key}"
            )
            found.append(f"{k}.line_no")
        return f"coalesce({', '.join(found)})"

    def _patient_keys(self) -> str:
        """d_patient_key: the names a bundle's index knows each Patient entry by (its fullUrl,
        the Type/id the fullUrl ends in, Patient/id), the first entry for each name."""
        columns = (("file", INT), ("key", S), ("line_no", INT))
        if not self._has("Patient"):
            return self._empty(columns)
        url = "regexp_replace(p.url, '/_history/.*$', '')"
        own = self._s(self._f("p.r", "id"))
        keys = (
            "p.url",
            f"NULLIF(regexp_extract({url}, {string_literal(_TAIL)}, 2), '')",
            f"CASE WHEN {own} IS NOT NULL THEN concat('Patient/', {own}) END",
        )
        union = " UNION ALL ".join(
            f"SELECT p.file, {key} AS key, p.line_no FROM src_Patient p WHERE p.grp IS NOT NULL"
            for key in keys
        )
        return (
            f"SELECT file, key, min(line_no) AS line_no FROM ({union}) AS k "
            "WHERE key IS NOT NULL GROUP BY file, key"
        )

    def _chosen_patients(self) -> str:
        """d_subject: per bundle file, the Patient entry the reader takes (patient.find_patient):
        the one the first prior-authorisation Claim names, else the one a ServiceRequest names,
        else the only Patient; with its id."""
        f = self._f
        columns = (("file", INT), ("line_no", INT), ("id", S))
        if not self._has("Patient"):
            return self._empty(columns)
        named = []
        for rank, rtype in enumerate(("Claim", "ServiceRequest")):
            if not self._has(rtype):
                continue
            joins: list[str] = []
            ref = f("x.r", SUBJECT.get(rtype, "subject"), "reference")
            line = self._patient_entry(ref, "x", joins)
            claims_only = (
                f" AND {self._s(f('x.r', 'use'))} = 'preauthorization'" if rtype == "Claim" else ""
            )
            named.append(
                f"SELECT x.file, {rank} AS rank, x.line_no AS k, {line} AS line FROM "
                f"src_{rtype} x {' '.join(joins)} WHERE x.grp IS NOT NULL{claims_only}"
            )
        named.append(
            "SELECT file, 2 AS rank, 0 AS k, min(line_no) AS line FROM src_Patient "
            "WHERE grp IS NOT NULL GROUP BY file HAVING count(*) = 1"
        )
        first = (
            "SELECT file, min_by(line, rank * 10000000000 + k) AS line_no FROM ("
            f"{' UNION ALL '.join(named)}) AS n WHERE line IS NOT NULL GROUP BY file"
        )
        return (
            f"SELECT c.file, c.line_no, {self._s(f('p.r', 'id'))} AS id FROM ({first}) AS c "
            "JOIN src_Patient p ON p.file = c.file AND p.line_no = c.line_no"
        )

    def _about_patient(self, rtype: str) -> str:
        """o_<Type>: the resources of an NDJSON export, and those of a bundle about the
        patient chosen for it (context.about_patient): all when none was chosen or the
        resource names no patient; else those naming that Patient entry, or naming no Patient
        entry of the bundle and not ending in Patient/<another id>."""
        joins: list[str] = []
        ref = self._s(self._f("s.r", SUBJECT.get(rtype, "subject"), "reference"))
        line = self._patient_entry(ref, "s", joins)
        other = f"NULLIF(regexp_extract({ref}, '(^|/)Patient/([^/]+)/*$', 2), '')"
        return (
            f"SELECT s.* FROM src_{rtype} s LEFT JOIN d_subject c ON c.file = s.file "
            f"{' '.join(joins)} WHERE s.grp IS NULL OR c.line_no IS NULL OR {ref} IS NULL OR "
            f"CASE WHEN {line} IS NOT NULL THEN {line} = c.line_no "
            f"ELSE NOT coalesce({other} <> c.id, FALSE) END"
        )

    def _owned(self, rtype: str, alias: str) -> str:
        """The select list of a resource's case and where it was read: pid, file, line_no."""
        return f"{self._pid_of(rtype, alias)} AS pid, {alias}.file, {alias}.line_no"

    def _each(self, rtype: str, alias: str, *path: str, position: bool = False) -> str:
        """The resources of `rtype` with one row per element of the array at `path`, as x (and
        its pos), with their file, line_no, grp, url and r: a derived table called `alias`."""
        columns = "s.file, s.line_no, s.grp, s.url, s.r"
        array = self._f("s.r", *path)
        source = f"{self._src(rtype)} s"
        rows = self.d.exploded(source, columns, array, "x", "pos" if position else None)
        return f"{rows} AS {alias}"

    def _union(self, parts: list[str], columns: tuple[tuple[str, SqlType], ...]) -> str:
        """The parts' rows together; no rows (of these columns) when there is no part."""
        return " UNION ALL ".join(parts) or self._empty(columns)

    def _key(self, expr: str, lookup: str, frm: str) -> str:
        """The lookup key of a concept (a hash of the struct), noting where the lookup finds it."""
        self._concepts.setdefault(lookup, []).append((expr, frm))
        return self.d.hash_key(expr)

    def _not_in(self, expr: str, values: set[str] | frozenset[str]) -> str:
        items = ", ".join(string_literal(v) for v in sorted(values))
        return f"coalesce({self._s(expr)}, '') NOT IN ({items})"

    def _in(self, expr: str, values: set[str] | frozenset[str]) -> str:
        items = ", ".join(string_literal(v) for v in sorted(values))
        return f"coalesce({expr}, '') IN ({items})"

    def _has(self, rtype: str) -> bool:
        return rtype in self.types

    def _empty(self, columns: tuple[tuple[str, SqlType], ...]) -> str:
        cols = ", ".join(f"{self.d.null(t)} AS {n}" for n, t in columns)
        return f"SELECT {cols} FROM (SELECT 1 AS one) AS e WHERE 1 = 0"

    def _in_window(self, start: str, end: str, episode: str = "e") -> str:
        """context.in_window: the span overlaps the episode, up to the anchor (the columns
        window_start and anchor of the `episode` alias)."""
        latest = f"coalesce({end}, {start})"
        first, anchor = f"{episode}.window_start", f"{episode}.anchor"
        return (
            f"(NOT ({first} IS NOT NULL AND {latest} IS NOT NULL AND {latest} < {first})"
            f" AND NOT ({anchor} IS NOT NULL AND {start} IS NOT NULL AND {start} > {anchor}))"
        )

    def _reading(
        self,
        fact: str,
        value: str | None,
        *,
        pid: str = "pid",
        priority: str = "0",
        when: str = "NULL",
        known: str | None = None,
        rank: Rank = Rank.CODED,
    ) -> str:
        """The select list of one reading; `value` None is a suspected (unknown) reading."""
        column = VALUE_COLUMN[CATALOGUE[fact].type]
        cells = {name: self.d.null(kind) for name, kind in READING_COLUMNS}
        cells["pid"] = pid
        cells["fact"] = string_literal(fact)
        cells["known"] = known if known is not None else ("TRUE" if value is not None else "FALSE")
        if value is not None:
            cells[column] = value
        cells["rank"] = f"CAST({int(rank)} AS BIGINT)"
        cells["priority"] = f"CAST({priority} AS BIGINT)"
        cells["w"] = f"CAST({when} AS DATE)"
        return ", ".join(f"{cells[name]} AS {name}" for name, _ in READING_COLUMNS)
