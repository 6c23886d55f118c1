"""Bulk FHIR to the facts table in set-based SQL: the per-case FHIR reader's rules, per table.

Input is a relation per resource type, `src_<Type>(file, line_no, grp, r)`: where the resource
was read, the case it belongs to when the input says so (a bundle) and the resource parsed into
a struct of the shape in `SCHEMAS` (parsed with `PARSED_SCHEMAS`, then `as_read`: a lone object
where FHIR has an array reads as an array of one, as the reader reads it; concepts stay JSON
text, read by the reader's own functions in the lookups). For NDJSON the case is the patient a
resource's subject (or patient) reference names; a Patient is its own case. In a bundle, the
patient is the one the reader chooses (`d_subject`), and the resources about another patient
are not read (`o_<Type>`).

The statements below follow `vertebro.adapters.fhir` reader by reader, and say where they
differ. What a code, a phrase or a status means is answered by the reader's own functions once
per distinct concept (`lookups`), so the code tables are shared, not copied. Readings (one
source's value for one fact, with its priority and date) are merged per fact by the rule of
`adapters.combine` for coded sources: agreeing readings give the value; a safety finding that
is affirmed anywhere wins; otherwise the reading tied to the request wins, then the more recent
one (not for facts that say what something is); otherwise the fact stays unknown. Text read by
the note reader joins as readings of their own rank (`NOTE_READINGS`).

References resolve as the reader's bundle index resolves them: by type and id, and in a
bundle also by fullUrl (`urn:uuid:` references, entries without an id: `d_url`); a '#id'
reference names a contained resource (a contained Medication). The PAS requestedService
extension of a Claim item adds the levels of the ServiceRequest it names. Reports, documents
and Compositions go whole to the note reader with the Binaries their attachments may name, so
their narrative (`text.div`) and attachments are read as the reader reads them.

Requests the note reader finds in text join the coded ones after the notes are read
(`_final_requests`), as reader._with_text_requests takes them.

Not covered (malformed input only; docs/batch.md lists them): a reference that names a
resource of another type than the one expected (a reason that is an Observation, a
requestedService that is not a ServiceRequest), or a name another type's entry holds first; a
JSON string holding JSON text where an object or array is expected.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass

from vertebro.adapters.combine import SAFETY_FACTS, TIMELESS_FACTS, Rank
from vertebro.adapters.fhir import (
    condition,
    encounter,
    medication,
    observation,
    patient,
    procedure,
    requests,
)
from vertebro.adapters.fhir.condition import TIED
from vertebro.adapters.fhir.context import LOOKBACK
from vertebro.adapters.fhir.observation import SEVERE_FROM
from vertebro.batch.compile import LEVELS_FACT, PROCEDURE_FACT, fact_column, fact_columns
from vertebro.batch.dialect import Dialect, JsonShape, SqlType, string_literal
from vertebro.batch.lookups import LEVEL_ORDER
from vertebro.core.catalogue import CATALOGUE, Procedure
from vertebro.core.facts import FactType

S, F, INT = SqlType.STRING, SqlType.DOUBLE, SqlType.BIGINT
# A CodeableConcept (or a Coding) is kept as its JSON text: only the lookups read it, with the
# reader's own functions, so it means what it means to the reader however it is written (a
# lone `"coding": {...}`, a bare Coding, a number for a code). `concept_value` parses it.
CONCEPT: JsonShape = S
CODING: JsonShape = S


def concept_value(value: object) -> object:
    """A concept as the lookups take it, from the JSON text the engine gives (a string's value
    comes unquoted, and stays a string)."""
    if not isinstance(value, str):
        return value
    try:
        parsed: object = json.loads(value)
    except ValueError:
        return value
    return parsed


REF: dict[str, JsonShape] = {"reference": S}
PERIOD: dict[str, JsonShape] = {"start": S, "end": S}
# A resource contained in a medicine's request or statement, as '#id' references read it.
CONTAINED_MEDICATION: dict[str, JsonShape] = {"id": S, "code": CONCEPT}

# The elements each resource type is read for.
SCHEMAS: Mapping[str, Mapping[str, JsonShape]] = {
    "Patient": {"id": S, "gender": S, "birthDate": S},
    "Claim": {
        "id": S,
        "status": S,
        "use": S,
        "patient": REF,
        "created": S,
        "item": [
            {
                "sequence": INT,
                "productOrService": CONCEPT,
                # one concept in R4; the reader takes a list too (requests._levels)
                "bodySite": [CONCEPT],
                "subSite": [CONCEPT],
                "diagnosisSequence": [INT],
                "extension": [{"url": S, "valueReference": REF}],
            }
        ],
        "diagnosis": [
            {"sequence": INT, "diagnosisCodeableConcept": CONCEPT, "diagnosisReference": REF}
        ],
    },
    "ServiceRequest": {
        "id": S,
        "status": S,
        "subject": REF,
        "code": CONCEPT,
        "bodySite": [CONCEPT],
        "authoredOn": S,
        "reasonCode": [CONCEPT],
        "reasonReference": [REF],
    },
    "Condition": {
        "id": S,
        "subject": REF,
        "code": CONCEPT,
        "clinicalStatus": CONCEPT,
        "verificationStatus": CONCEPT,
        "onsetDateTime": S,
        "onsetPeriod": PERIOD,
        "recordedDate": S,
        "bodySite": [CONCEPT],
    },
    "Observation": {
        "id": S,
        "status": S,
        "subject": REF,
        "code": CONCEPT,
        "effectiveDateTime": S,
        "effectivePeriod": PERIOD,
        "issued": S,
        "valueQuantity": {"value": F},
        "valueInteger": INT,
    },
    "Encounter": {
        "id": S,
        "status": S,
        "subject": REF,
        "class": CODING,
        "period": PERIOD,
        "reasonCode": [CONCEPT],
        "reasonReference": [REF],
        "diagnosis": [{"condition": REF, "use": CONCEPT}],
    },
    "MedicationRequest": {
        "id": S,
        "status": S,
        "intent": S,
        "subject": REF,
        "medicationCodeableConcept": CONCEPT,
        "medicationReference": REF,
        "contained": [CONTAINED_MEDICATION],
        "authoredOn": S,
        "dosageInstruction": [{"timing": {"repeat": {"boundsPeriod": PERIOD}}}],
        "dispenseRequest": {
            "numberOfRepeatsAllowed": INT,
            "expectedSupplyDuration": {"value": F, "unit": S, "code": S},
        },
    },
    "MedicationStatement": {
        "id": S,
        "status": S,
        "subject": REF,
        "medicationCodeableConcept": CONCEPT,
        "medicationReference": REF,
        "contained": [CONTAINED_MEDICATION],
        "effectivePeriod": PERIOD,
        "effectiveDateTime": S,
    },
    "Medication": {"id": S, "code": CONCEPT},
    "Procedure": {
        "id": S,
        "status": S,
        "subject": REF,
        "code": CONCEPT,
        "performedPeriod": PERIOD,
        "performedDateTime": S,
    },
}


def _tolerant(shape: JsonShape) -> bool:
    """Whether an array of this shape is read as the reader reads arrays of objects, a lone
    object counting as an array of one (`elements.objs`): arrays of objects and of concepts
    (kept as text) are; arrays of numbers (Claim.item.diagnosisSequence) are not, since the
    reader takes only a real array there."""
    return isinstance(shape, list) and not (isinstance(shape[0], SqlType) and shape[0] is not S)


def _parsed(shape: JsonShape) -> JsonShape:
    """The shape the engines parse for `shape`: each tolerant array as its JSON text (made
    into the array by `as_read`)."""
    if isinstance(shape, SqlType):
        return shape
    if isinstance(shape, list):
        return S if _tolerant(shape) else shape
    return {key: _parsed(value) for key, value in shape.items()}


# The shape each resource type is parsed with (by the engine's JSON reader), then made into
# the shape of SCHEMAS by `as_read`.
PARSED_SCHEMAS: Mapping[str, Mapping[str, JsonShape]] = {
    rtype: {key: _parsed(value) for key, value in shape.items()} for rtype, shape in SCHEMAS.items()
}


def as_read(d: Dialect, expr: str, rtype: str) -> str:
    """A resource of `rtype` parsed with `PARSED_SCHEMAS` (`expr`, a column: it is named
    several times) in the shape of `SCHEMAS`, every array given as a lone object made an array
    of one as the reader reads it. One pass over the parsed rows, in the statement that parses
    them; resources whose arrays are arrays (nearly all) come out as the typed parse gave them.
    """
    return _read_as(d, expr, SCHEMAS[rtype], 1)


def _read_as(d: Dialect, expr: str, shape: JsonShape, depth: int) -> str:
    if isinstance(shape, SqlType) or _parsed(shape) == shape:
        return expr
    if isinstance(shape, list):
        element = shape[0]

        def parsed(text: str) -> str:
            """The array in `text`, a JSON object {"v": [...]}, when it is valid JSON (the
            engines give a string's value unquoted: it may be any text)."""
            return d.field(f"({d.parse_json_or_null(text, {'v': [_parsed(element)]})})", "v")

        array = parsed(f"concat('{{\"v\":', {expr}, '}}')")
        if element is S:  # concepts, kept as text: a lone one is the text itself
            lone = d.string_array([expr])
        else:
            lone = parsed(f"concat('{{\"v\":[', {expr}, ']}}')")
        items = f"CASE WHEN {expr} LIKE '{{%' THEN {lone} WHEN {expr} LIKE '[%' THEN {array} END"
        if _parsed(element) == element:
            return items
        var = f"e{depth}"
        return d.transform(items, var, _read_as(d, var, element, depth + 1))
    fields = {key: _read_as(d, d.field(expr, key), value, depth) for key, value in shape.items()}
    return f"CASE WHEN {expr} IS NULL THEN NULL ELSE {d.struct(fields)} END"


# Resource types whose text goes to the note reader (read whole, not through a schema), and
# the types kept whole: those and the Binaries their attachments may name.
TEXT_TYPES = ("DocumentReference", "DiagnosticReport", "Composition")
TEXT_KEPT = (*TEXT_TYPES, "Binary")
SUBJECT = {"Claim": "patient"}  # the element naming the patient, where it is not `subject`
# In a bundle, the resources read only when they are about the patient the request is for
# (context.about_patient; the requests are read whoever they name).
ABOUT_PATIENT = (
    "Condition",
    "Encounter",
    "MedicationRequest",
    "MedicationStatement",
    "Observation",
    "Procedure",
    *TEXT_TYPES,
)
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


class Extraction:
    """The SQL of the set-based reader for one dialect and the resource types present."""

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

    # --- 1. flattening: one row per element read, with lookup keys --------------------------

    def flatten(self) -> list[Stage]:
        """Tables of the elements read, with the keys of the concepts the lookups answer for."""
        self._concepts.clear()
        d, f = self.d, self._f
        stages = []
        if self.bundles:
            stages += [
                Stage("d_patient_key", self._patient_keys()),
                Stage("d_subject", self._chosen_patients()),
                *(
                    Stage(f"o_{rtype}", self._about_patient(rtype), view=True)
                    for rtype in ABOUT_PATIENT
                    if self._has(rtype)
                ),
            ]
        stages.append(Stage("f_patient", self._patients()))
        items = []
        claim_items = self._each("Claim", "c", "item", position=True)
        if self._has("Claim"):
            claim_ok = (
                f"{self._s(f('c.r', 'use'))} = 'preauthorization' AND "
                f"{self._not_in(f('c.r', 'status'), requests.SKIPPED_CLAIM_STATUS)}"
            )
            items.append(
                f"SELECT {self._pid_of('Claim', 'c')} AS pid, 0 AS src, c.file, c.line_no, "
                f"CAST(c.pos AS BIGINT) AS pos, {self._date(f('c.r', 'created'))} AS day, "
                f"{self._key(f('c.x', 'productOrService'), 'lk_procedure', claim_items)} AS "
                "proc_key, "
                f"{f('c.x', 'diagnosisSequence')} AS seqs FROM {claim_items} WHERE {claim_ok}"
            )
        if self._has("ServiceRequest"):
            orders = "src_ServiceRequest o"
            sr_ok = self._not_in(f("o.r", "status"), requests.SKIPPED_SR_STATUS)
            items.append(
                f"SELECT {self._pid_of('ServiceRequest', 'o')} AS pid, 1 AS src, o.file, "
                "o.line_no, "
                f"CAST(0 AS BIGINT) AS pos, {self._date(f('o.r', 'authoredOn'))} AS day, "
                f"{self._key(f('o.r', 'code'), 'lk_procedure', orders)} AS proc_key, "
                f"{d.null(SqlType.BIGINT_LIST)} AS seqs FROM {orders} WHERE {sr_ok}"
            )
        item_cols = (
            ("pid", S),
            ("src", INT),
            *_LINE,
            ("pos", INT),
            ("day", SqlType.DATE),
            ("proc_key", INT),
            ("seqs", SqlType.BIGINT_LIST),
        )
        stages.append(Stage("f_item", self._union(items, item_cols)))
        sites = []
        if self._has("Claim"):
            for element in ("bodySite", "subSite"):
                item_sites = (
                    d.exploded(
                        self._each("Claim", "i", "item", position=True),
                        "i.file, i.line_no, i.pos",
                        f("i.x", element),
                        "x",
                    )
                    + " AS s"
                )
                sites.append(
                    f"SELECT s.file, s.line_no, CAST(s.pos AS BIGINT) AS pos, "
                    f"{self._key('s.x', 'lk_levels', item_sites)} AS key FROM {item_sites}"
                )
        if self._has("ServiceRequest"):
            order_sites = self._each("ServiceRequest", "o", "bodySite")
            sites.append(
                f"SELECT o.file, o.line_no, CAST(0 AS BIGINT) AS pos, "
                f"{self._key('o.x', 'lk_levels', order_sites)} AS key FROM {order_sites}"
            )
        site_cols = (*_LINE, ("pos", INT), ("key", INT))
        stages.append(Stage("f_site", self._union(sites, site_cols)))
        stages.append(Stage("f_service_site", self._service_sites(site_cols)))
        links = []
        if self._has("Claim"):
            diagnoses = self._each("Claim", "c", "diagnosis")
            joins: list[str] = []
            cond_id = self._resolve(
                f("c.x", "diagnosisReference", "reference"), "Condition", "c", joins
            )
            links.append(
                f"SELECT c.file, c.line_no, {f('c.x', 'sequence')} AS seq, "
                f"{self._key(f('c.x', 'diagnosisCodeableConcept'), 'lk_condition', diagnoses)} "
                f"AS concept_key, {cond_id} AS cond_id FROM {diagnoses} {' '.join(joins)}"
            )
        if self._has("ServiceRequest"):
            reasons = self._each("ServiceRequest", "o", "reasonCode")
            links.append(
                "SELECT o.file, o.line_no, CAST(NULL AS BIGINT) AS seq, "
                f"{self._key('o.x', 'lk_condition', reasons)} AS concept_key, "
                f"{d.null(S)} AS cond_id FROM {reasons}"
            )
            references = self._each("ServiceRequest", "o", "reasonReference")
            joins = []
            cond_id = self._resolve(f("o.x", "reference"), "Condition", "o", joins)
            links.append(
                "SELECT o.file, o.line_no, CAST(NULL AS BIGINT) AS seq, "
                f"CAST(NULL AS BIGINT) AS concept_key, {cond_id} AS cond_id "
                f"FROM {references} {' '.join(joins)}"
            )
        link_cols = (
            *_LINE,
            ("seq", INT),
            ("concept_key", INT),
            ("cond_id", S),
        )
        stages.append(Stage("f_link", self._union(links, link_cols)))
        if self.bundles:
            stages.insert(0, Stage("d_url", self._urls()))
        stages += self._conditions()
        stages += self._observations()
        stages += self._encounters()
        stages += self._medications()
        stages += self._procedures()
        return stages

    def _service_sites(self, columns: tuple[tuple[str, SqlType], ...]) -> str:
        """The body sites of the ServiceRequest a Claim item's PAS requestedService extension
        names (requests.REQUESTED_SERVICE), per item: their levels join the item's own."""
        if not (self._has("Claim") and self._has("ServiceRequest")):
            return self._empty(columns)
        d, f = self.d, self._f
        extensions = (
            d.exploded(
                self._each("Claim", "i", "item", position=True),
                f"i.file, i.line_no, i.pos, {self._pid_of('Claim', 'i')} AS pid",
                f("i.x", "extension"),
                "e",
            )
            + " AS e"
        )
        joins: list[str] = []
        wanted = self._resolve(
            f("e.e", "valueReference", "reference"), "ServiceRequest", "e", joins
        )
        named = (
            f"SELECT e.file, e.line_no, e.pos, e.pid, {wanted} AS rid FROM {extensions} "
            f"{' '.join(joins)} WHERE trim({f('e.e', 'url')}) LIKE "
            f"{string_literal('%' + requests.REQUESTED_SERVICE)}"
        )
        order_sites = self._each("ServiceRequest", "o", "bodySite")
        sites = (
            f"SELECT {self._pid_of('ServiceRequest', 'o')} AS pid, "
            f"{self._rid('o', 'ServiceRequest')} AS rid, "
            f"{self._key('o.x', 'lk_levels', order_sites)} AS key FROM {order_sites}"
        )
        return (
            "SELECT n.file, n.line_no, CAST(n.pos AS BIGINT) AS pos, s.key "
            f"FROM ({named}) AS n JOIN ({sites}) AS s ON s.pid = n.pid AND s.rid = n.rid"
        )

    def _patients(self) -> str:
        f = self._f
        if not self._has("Patient"):
            return self._empty((("pid", S), ("gender", S), ("birth", SqlType.DATE)))
        order = "p.file * 10000000000 + p.line_no"  # file, then line (below 10^10 lines)
        # In a bundle, the patient the reader chooses (none: no patient facts).
        chosen = (
            " LEFT JOIN d_subject c ON c.file = p.file WHERE p.grp IS NULL OR c.line_no = p.line_no"
            if self.bundles
            else ""
        )
        return (
            "SELECT pid, min_by(gender, o) AS gender, min_by(birth, o) AS birth FROM ("
            f"SELECT {self._pid_of('Patient', 'p')} AS pid, {self._s(f('p.r', 'gender'))} AS "
            "gender, "
            f"{self._date(f('p.r', 'birthDate'))} AS birth, {order} AS o FROM src_Patient p"
            f"{chosen}) AS x WHERE pid IS NOT NULL GROUP BY pid"
        )

    def _conditions(self) -> list[Stage]:
        f = self._f
        cols = (
            *_OWNED_LINE,
            ("id", S),
            ("code_key", INT),
            ("clin_key", INT),
            ("ver_key", INT),
            ("onset", SqlType.DATE),
            ("recorded", SqlType.DATE),
        )
        if not self._has("Condition"):
            return [
                Stage("f_cond", self._empty(cols)),
                Stage("f_cond_site", self._empty((*_LINE, ("key", INT)))),
            ]
        onset = (
            f"coalesce({self._date(f('c.r', 'onsetDateTime'))}, "
            f"{self._date(f('c.r', 'onsetPeriod', 'start'))})"
        )
        source = f"{self._src('Condition')} c"
        cond = (
            f"SELECT {self._owned('Condition', 'c')}, "
            f"{self._rid('c', 'Condition')} AS id, "
            f"{self._key(f('c.r', 'code'), 'lk_condition', source)} AS code_key, "
            f"{self._key(f('c.r', 'clinicalStatus'), 'lk_status', source)} AS clin_key, "
            f"{self._key(f('c.r', 'verificationStatus'), 'lk_status', source)} AS ver_key, "
            f"{onset} AS onset, coalesce({self._date(f('c.r', 'recordedDate'))}, {onset}) AS "
            "recorded "
            f"FROM {source}"
        )
        self._concepts.setdefault("lk_reason", []).append((f("c.r", "code"), source))
        sites = self._each("Condition", "c", "bodySite")
        site = (
            f"SELECT c.file, c.line_no, {self._key('c.x', 'lk_spinal', sites)} AS key FROM {sites}"
        )
        return [Stage("f_cond", cond), Stage("f_cond_site", site)]

    def _observations(self) -> list[Stage]:
        f = self._f
        cols = (
            *_OWNED_LINE,
            ("status", S),
            ("code_key", INT),
            ("day", SqlType.DATE),
            ("value", F),
        )
        if not self._has("Observation"):
            return [Stage("f_obs", self._empty(cols))]
        day = (
            f"coalesce({self._date(f('o.r', 'effectiveDateTime'))}, "
            f"{self._date(f('o.r', 'effectivePeriod', 'start'))}, {self._date(f('o.r', 'issued'))})"
        )
        value = (
            f"coalesce({f('o.r', 'valueQuantity', 'value')}, "
            f"CAST({f('o.r', 'valueInteger')} AS DOUBLE))"
        )
        source = f"{self._src('Observation')} o"
        return [
            Stage(
                "f_obs",
                (
                    f"SELECT {self._owned('Observation', 'o')}, "
                    f"{self._s(f('o.r', 'status'))} AS status, "
                    f"{self._key(f('o.r', 'code'), 'lk_pain_score', source)} AS code_key, "
                    f"{day} AS day, {value} AS value FROM {source}"
                ),
            )
        ]

    def _encounters(self) -> list[Stage]:
        d, f = self.d, self._f
        cols = (
            *_OWNED_LINE,
            ("status", S),
            ("class_key", INT),
            ("start", SqlType.DATE),
            ("finish", SqlType.DATE),
        )
        reason_cols = (
            *_LINE,
            ("concept_key", INT),
            ("cond_id", S),
            ("use_key", INT),
        )
        if not self._has("Encounter"):
            return [
                Stage("f_enc", self._empty(cols)),
                Stage("f_enc_reason", self._empty(reason_cols)),
            ]
        source = f"{self._src('Encounter')} e"
        enc = (
            f"SELECT {self._owned('Encounter', 'e')}, "
            f"{self._s(f('e.r', 'status'))} AS status, "
            f"{self._key(f('e.r', 'class'), 'lk_inpatient', source)} AS class_key, "
            f"{self._date(f('e.r', 'period', 'start'))} AS start, "
            f"{self._date(f('e.r', 'period', 'end'))} AS finish FROM {source}"
        )
        codes = self._each("Encounter", "e", "reasonCode")
        references = self._each("Encounter", "e", "reasonReference")
        diagnoses = self._each("Encounter", "e", "diagnosis")
        no_key = "CAST(NULL AS BIGINT)"
        by_reference: list[str] = []
        by_diagnosis: list[str] = []
        reason_id = self._resolve(f("e.x", "reference"), "Condition", "e", by_reference)
        diagnosis_id = self._resolve(
            f("e.x", "condition", "reference"), "Condition", "e", by_diagnosis
        )
        reasons = " UNION ALL ".join(
            [
                f"SELECT e.file, e.line_no, {self._key('e.x', 'lk_reason', codes)} AS concept_key, "
                f"{d.null(S)} AS cond_id, {no_key} AS use_key FROM {codes}",
                f"SELECT e.file, e.line_no, {no_key} AS concept_key, {reason_id} AS cond_id, "
                f"{no_key} AS use_key FROM {references} {' '.join(by_reference)}",
                f"SELECT e.file, e.line_no, {no_key} AS concept_key, {diagnosis_id} AS cond_id, "
                f"{self._key(f('e.x', 'use'), 'lk_admission_role', diagnoses)} AS use_key "
                f"FROM {diagnoses} {' '.join(by_diagnosis)}",
            ]
        )
        return [Stage("f_enc", enc), Stage("f_enc_reason", reasons)]

    def _medications(self) -> list[Stage]:
        d, f = self.d, self._f
        cols = (
            *_OWNED_LINE,
            ("kind", S),
            ("status", S),
            ("intent", S),
            ("concept_key", INT),
            ("med_id", S),
            ("start", SqlType.DATE),
            ("finish", SqlType.DATE),
            ("authored", SqlType.DATE),
            ("supply_value", F),
            ("supply_unit", S),
            ("repeats", INT),
        )
        parts = []
        if self._has("MedicationRequest"):
            source = f"{self._src('MedicationRequest')} m"
            joins: list[str] = []
            supply = f("m.r", "dispenseRequest", "expectedSupplyDuration")
            unit = (
                f"lower(coalesce({self._s(f(supply, 'code'))}, {self._s(f(supply, 'unit'))}, ''))"
            )
            dosages = self._each("MedicationRequest", "di", "dosageInstruction", position=True)
            bounds = f("di.x", "timing", "repeat", "boundsPeriod")
            first_bounds = (
                "SELECT file, line_no, min_by(start, pos) AS start, min_by(finish, pos) AS finish "
                f"FROM (SELECT di.file, di.line_no, di.pos, {self._date(f(bounds, 'start'))} AS "
                "start, "
                f"{self._date(f(bounds, 'end'))} AS finish FROM {dosages}) AS b "
                "WHERE start IS NOT NULL GROUP BY file, line_no"
            )
            parts.append(
                f"SELECT {self._owned('MedicationRequest', 'm')}, "
                "'MedicationRequest' AS kind, "
                f"{self._s(f('m.r', 'status'))} AS status, {self._s(f('m.r', 'intent'))} AS "
                "intent, "
                f"{self._medicine(source, joins)}, b.start AS start, b.finish AS finish, "
                f"{self._date(f('m.r', 'authoredOn'))} AS authored, "
                f"{f(supply, 'value')} AS supply_value, {unit} AS supply_unit, "
                f"{f('m.r', 'dispenseRequest', 'numberOfRepeatsAllowed')} AS repeats "
                f"FROM {source} LEFT JOIN ({first_bounds}) AS b "
                f"ON b.file = m.file AND b.line_no = m.line_no {' '.join(joins)}"
            )
        if self._has("MedicationStatement"):
            source = f"{self._src('MedicationStatement')} m"
            joins = []
            parts.append(
                f"SELECT {self._owned('MedicationStatement', 'm')}, "
                "'MedicationStatement' AS kind, "
                f"{self._s(f('m.r', 'status'))} AS status, {d.null(S)} AS intent, "
                f"{self._medicine(source, joins)}, "
                f"coalesce({self._date(f('m.r', 'effectivePeriod', 'start'))}, "
                f"{self._date(f('m.r', 'effectiveDateTime'))}) AS start, "
                f"{self._date(f('m.r', 'effectivePeriod', 'end'))} AS finish, "
                f"{d.null(SqlType.DATE)} AS authored, {d.null(F)} AS supply_value, "
                f"{d.null(S)} AS supply_unit, {d.null(INT)} AS repeats FROM {source} "
                f"{' '.join(joins)}"
            )
        stages = [Stage("f_med", self._union(parts, cols))]
        if self._has("Medication"):
            source = "src_Medication x"
            stages.append(
                Stage(
                    "f_medication",
                    (
                        # A bundle's Medication is its own (grp); an export's, anyone's.
                        f"SELECT x.grp AS pid, {self._rid('x', 'Medication')} AS id, "
                        f"{self._key(f('x.r', 'code'), 'lk_medicine', source)} AS code_key FROM "
                        f"{source}"
                    ),
                )
            )
        else:
            columns = (("pid", S), ("id", S), ("code_key", INT))
            stages.append(Stage("f_medication", self._empty(columns)))
        return stages

    def _medicine(self, source: str, joins: list[str]) -> str:
        """concept_key and med_id of a medicine's request or statement (alias m of `source`),
        as medication._medication finds the medicine: its medicationCodeableConcept, else the
        contained resource a '#id' reference names, else the Medication the reference names
        (whose code f_medication keys)."""
        d, f = self.d, self._f
        ref = self._s(f("m.r", "medicationReference", "reference"))
        wanted = f"regexp_replace({ref}, '^#+', '')"
        contained = d.first_where(f("m.r", "contained"), f"trim(x.id) = {wanted}")
        concept = f("m.r", "medicationCodeableConcept")
        # Only an object is a medicationCodeableConcept to the reader (else the reference).
        own = f"CASE WHEN {concept} LIKE '{{%' THEN {self._key(concept, 'lk_medicine', source)} END"
        inner = self._key(f(f"({contained})", "code"), "lk_medicine", source)
        local = f"{ref} LIKE '#%'"
        reference = f("m.r", "medicationReference", "reference")
        named = self._resolve(reference, "Medication", "m", joins)
        return (
            f"coalesce({own}, CASE WHEN {local} THEN {inner} END) AS concept_key, "
            f"CASE WHEN NOT {local} THEN {named} END AS med_id"
        )

    def _procedures(self) -> list[Stage]:
        f = self._f
        cols = (
            *_OWNED_LINE,
            ("status", S),
            ("code_key", INT),
            ("period_start", SqlType.DATE),
            ("period_end", SqlType.DATE),
            ("performed", SqlType.DATE),
        )
        if not self._has("Procedure"):
            return [Stage("f_proc", self._empty(cols))]
        source = f"{self._src('Procedure')} p"
        return [
            Stage(
                "f_proc",
                (
                    f"SELECT {self._owned('Procedure', 'p')}, "
                    f"{self._s(f('p.r', 'status'))} AS status, "
                    f"{self._key(f('p.r', 'code'), 'lk_treatment', source)} AS code_key, "
                    f"{self._date(f('p.r', 'performedPeriod', 'start'))} AS period_start, "
                    f"{self._date(f('p.r', 'performedPeriod', 'end'))} AS period_end, "
                    f"{self._date(f('p.r', 'performedDateTime'))} AS performed FROM {source}"
                ),
            )
        ]

    # --- 2. lookups -------------------------------------------------------------------------

    def lookup_values(self) -> dict[str, str]:
        """For each lookup (call after `flatten`), the query giving each distinct concept once:
        (key, concept). Lookups whose concepts the input does not have are left out."""
        out = {}
        for name, sources in self._concepts.items():
            union = " UNION ALL ".join(
                f"SELECT {self.d.hash_key(expr)} AS key, {expr} AS value FROM {frm}"
                for expr, frm in dict.fromkeys(sources)
            )
            out[name] = (
                f"SELECT key, {self.d.any_value('value')} AS value FROM ({union}) AS k "
                "WHERE key IS NOT NULL GROUP BY key"
            )
        return out

    # --- 3. requests, conditions and the other readings -------------------------------------

    def derive(self) -> list[Stage]:
        """From the flattened tables and the lookups to the requests and the coded readings
        (then `merge` them with the readings from text, then `finish`)."""
        return self._requests() + self._episode_and_conditions() + self._other_readings()

    def merge(self, note_facts: set[str]) -> list[Stage]:
        """The requests, coded and found in text (`NOTE_REQUESTS`), and the readings merged
        into one value per case and fact.

        Facts that only one reading per case can give (the patient's, the latest pain score,
        admissions, weeks of treatment) skip the merge unless text gave them too; the facts
        of conditions, sets and those read from text are merged.
        """
        sets = {n for n, spec in CATALOGUE.items() if spec.type is FactType.CHOICES}
        self._note_facts = set(note_facts)
        from_wide = [
            f"SELECT {self._reading(fact, f'w.{fact_column(fact)}', pid='w.pid', when=when)} "
            f"FROM {table} w WHERE w.{fact_column(fact)} IS NOT NULL"
            for fact, (table, when) in WIDE_FACTS.items()
            if fact in note_facts
        ]
        readings = " UNION ALL ".join(
            ["SELECT * FROM r_condition", *from_wide, f"SELECT * FROM {NOTE_READINGS}"]
        )
        set_list = ", ".join(string_literal(f) for f in sorted(sets))
        set_readings = " UNION ALL ".join(
            f"SELECT * FROM {s} WHERE known AND fact IN ({set_list})"
            for s in ("r_medicine", "r_procedure", NOTE_READINGS)
        )
        return [
            self._final_requests(),
            Stage("readings", readings, view=True),
            *self._combine(),
            Stage("m_sets", self._sets(set_readings)),
        ]

    def finish(self, present: set[str]) -> list[Stage]:
        """The last two statements, once the facts with a merged value are known: the case
        facts pivoted wide, and the facts table (one row per request)."""
        pivot = self.pivot(present)
        return [pivot, Stage("facts", self._facts_sql())]

    def _requests(self) -> list[Stage]:
        """requests.py: recognised items grouped per procedure, in order of first appearance
        (claims before service requests); their levels; the request date; the diagnoses the
        requests name."""
        d = self.d
        order = (
            # claims before orders, then file, line and item (below 10^5 files, 10^10 lines
            # and 1000 items: within BIGINT)
            "((i.src * 100000 + i.file) * 10000000000 + i.line_no) * 1000 + i.pos"
        )
        item = Stage(
            "d_item",
            (
                "SELECT i.pid, i.src, i.file, i.line_no, i.pos, i.day, i.seqs, p.procedure, "
                f"p.levels AS code_levels, {order} AS k "
                "FROM f_item i JOIN lk_procedure p ON p.key = i.proc_key "
                "WHERE p.procedure IS NOT NULL AND i.pid IS NOT NULL"
            ),
        )

        def levels_of(sites: str) -> str:
            """(file, line_no, pos, lv): the level positions each item's body sites name."""
            named = (
                f"(SELECT s.file, s.line_no, s.pos, l.levels FROM {sites} s "
                "JOIN lk_levels l ON l.key = s.key) AS s"
            )
            return d.exploded(named, "s.file, s.line_no, s.pos", "s.levels", "lv")

        code_levels = d.exploded("d_item i", "i.file, i.line_no, i.pos", "i.code_levels", "lv")
        positions = (
            f"SELECT c.file, c.line_no, c.pos, CAST(c.lv AS BIGINT) AS lv FROM {code_levels} AS c "
            "UNION ALL SELECT v.file, v.line_no, v.pos, CAST(v.lv AS BIGINT) AS lv FROM "
            f"{levels_of('f_site')} AS v"
        )
        service_levels = levels_of("f_service_site")
        # An item of sacroplasty with no level of its own treats the sacrum; the levels of the
        # ServiceRequest a PAS item names are added after that (requests._read_claim).
        item_levels = (
            "SELECT i.pid, i.procedure, i.k, coalesce(x.lv, CASE WHEN i.procedure = "
            f"{string_literal(Procedure.SACROPLASTY.value)} THEN CAST({_SACRUM} AS BIGINT) END) "
            f"AS lv FROM d_item i LEFT JOIN ({positions}) AS x "
            "ON x.file = i.file AND x.line_no = i.line_no AND x.pos = i.pos "
            "UNION ALL SELECT i.pid, i.procedure, i.k, CAST(v.lv AS BIGINT) AS lv "
            f"FROM d_item i JOIN {service_levels} AS v "
            "ON v.file = i.file AND v.line_no = i.line_no AND v.pos = i.pos"
        )
        # Each request's levels as the bits of a BIGINT, turned into names once per distinct
        # set of levels (a few hundred in an export) rather than once per request.
        # (The levels found in text are added once the notes are read: `_final_requests`.)
        coded = Stage(
            "d_coded",
            f"SELECT pid, procedure, min(k) AS first, {d.bit_set('lv')} AS bits "
            f"FROM ({item_levels}) AS l GROUP BY pid, procedure",
        )
        # The cases: those with a coded request, and those with a report or document, whose
        # text may hold the request (reader._with_text_requests); the request date is coded.
        texts = " UNION ALL ".join(
            f"SELECT {self._pid_of(t, 'x')} AS pid, 2 AS src, {d.null(SqlType.DATE)} AS day "
            f"FROM {self._src(t)} x"
            for t in TEXT_TYPES
            if self._has(t)
        )
        items = "SELECT pid, src, day FROM d_item" + (f" UNION ALL {texts}" if texts else "")
        reqdate = Stage(
            "d_case",
            (
                "SELECT pid, coalesce(min(day) FILTER (WHERE src = 0), max(day) FILTER (WHERE src "
                f"= 1)) AS request_date FROM ({items}) AS i WHERE pid IS NOT NULL GROUP BY pid"
            ),
        )
        # Diagnoses the request names: a claim's items' diagnosisSequence (all of the claim's
        # diagnoses when an item has none), a service request's reasons.
        owners = (
            "SELECT file, line_no, max(src) AS src, max(CASE WHEN seqs IS NULL THEN 1 ELSE 0 END) "
            f"AS every, {d.any_value('pid')} AS pid FROM d_item GROUP BY file, line_no"
        )
        sequences = (
            "SELECT DISTINCT s.file, s.line_no, CAST(s.seq AS BIGINT) AS seq FROM "
            f"{d.exploded('d_item i', 'i.file, i.line_no, i.src', 'i.seqs', 'seq')} AS s "
            "WHERE s.src = 0"
        )
        linked = Stage(
            "d_linked",
            (
                f"SELECT DISTINCT o.pid, l.concept_key, l.cond_id FROM f_link l JOIN ({owners}) AS "
                "o "
                f"ON o.file = l.file AND o.line_no = l.line_no LEFT JOIN ({sequences}) AS s "
                "ON s.file = l.file AND s.line_no = l.line_no AND s.seq = l.seq "
                "WHERE o.src = 1 OR o.every = 1 OR s.seq IS NOT NULL"
            ),
        )
        return [item, coded, reqdate, linked]

    def _final_requests(self) -> Stage:
        """d_request: the coded requests, a coded request with no level taking the levels the
        text gives for its procedure; for a case with no coded request, those found in text,
        one per procedure in the order first found, their levels united
        (reader._with_text_requests). Cases the reader refuses are left out."""
        d = self.d
        text = (
            "SELECT pid, procedure, min(seq) AS first, bit_or(bits) AS bits "
            f"FROM {NOTE_REQUESTS} GROUP BY pid, procedure"
        )
        requests = (
            "SELECT c.pid, c.first, c.procedure, coalesce(c.bits, t.bits) AS bits FROM d_coded c "
            "LEFT JOIN t ON t.pid = c.pid AND t.procedure = c.procedure UNION ALL "
            "SELECT t.pid, t.first, t.procedure, t.bits FROM t "
            "WHERE t.pid NOT IN (SELECT pid FROM d_coded)"
        )
        # Each request's levels as the bits of a BIGINT, turned into names once per distinct
        # set of levels (a few hundred in an export) rather than once per request.
        names = (
            f"SELECT bits, {d.pick_bits(LEVEL_ORDER, 'bits')} AS levels FROM "
            "(SELECT DISTINCT bits FROM g) AS b WHERE bits IS NOT NULL"
        )
        return Stage(
            "d_request",
            (
                f"WITH t AS ({text}), g AS ({requests}) "
                "SELECT g.pid, CAST(row_number() OVER (PARTITION BY g.pid ORDER BY g.first) - 1 "
                "AS BIGINT) AS request_no, g.procedure, n.levels "
                f"FROM g LEFT JOIN ({names}) AS n ON n.bits = g.bits "
                f"WHERE g.pid NOT IN (SELECT pid FROM {REFUSED_CASES})"
            ),
        )

    def _episode_and_conditions(self) -> list[Stage]:
        d = self.d
        meaning = (
            "coalesce(m.known, FALSE) AS known, coalesce(m.vertebral, FALSE) AS vertebral, "
            "coalesce(m.fracture, FALSE) AS fracture, m.aetiology, "
            "coalesce(m.patient_level, FALSE) AS patient_level, "
            "coalesce(m.compression, FALSE) AS compression, coalesce(m.burst, FALSE) AS burst, "
            "m.unstable, coalesce(m.collapse, FALSE) AS collapse, "
            "coalesce(m.osteomyelitis, FALSE) AS osteomyelitis, "
            "coalesce(m.cord_compression, FALSE) AS cord_compression, "
            "coalesce(m.pain, FALSE) AS pain, coalesce(m.osteoporosis_only, FALSE) AS "
            "osteoporosis_only, "
            "m.seventh, m.type_words"
        )
        conditions = Stage(
            "d_condition",
            (
                "SELECT c.pid, (l.cond_id IS NOT NULL) AS linked, v.status AS verification, "
                "k.status AS clinical, c.onset, c.recorded, coalesce(sp.spinal, FALSE) AS spinal, "
                f"{meaning} FROM f_cond c JOIN d_case q ON q.pid = c.pid "
                "LEFT JOIN lk_condition m ON m.key = c.code_key "
                "LEFT JOIN lk_status v ON v.key = c.ver_key "
                "LEFT JOIN lk_status k ON k.key = c.clin_key "
                "LEFT JOIN (SELECT s.file, s.line_no, max(CASE WHEN p.spinal THEN 1 ELSE 0 END) = "
                "1 "
                "AS spinal FROM f_cond_site s JOIN lk_spinal p ON p.key = s.key "
                "GROUP BY s.file, s.line_no) AS sp ON sp.file = c.file AND sp.line_no = c.line_no "
                "LEFT JOIN (SELECT DISTINCT pid, cond_id FROM d_linked WHERE cond_id IS NOT NULL) "
                "AS l "
                "ON l.pid = c.pid AND l.cond_id = c.id "
                "UNION ALL "
                f"SELECT q.pid, TRUE AS linked, {d.null(S)} AS verification, {d.null(S)} AS "
                "clinical, "
                f"{d.null(SqlType.DATE)} AS onset, q.request_date AS recorded, FALSE AS spinal, "
                f"{meaning} "
                "FROM d_linked l JOIN d_case q ON q.pid = l.pid "
                "JOIN lk_condition m ON m.key = l.concept_key WHERE l.concept_key IS NOT NULL"
            ),
        )
        flags = Stage(
            "d_condition_flags",
            (
                "SELECT x.*, (ok AND NOT refuted AND NOT (osteomyelitis OR cord_compression) "
                "AND NOT suspected AND NOT (not_current AND coalesce(aetiology, '') <> 'myeloma')) "
                "AS normal, CASE WHEN (linked OR vertebral OR spinal) THEN "
                f"{TIED} ELSE 0 END AS prio, (linked OR vertebral OR spinal) AS tied FROM ("
                "SELECT c.*, (known AND coalesce(verification, '') <> 'entered-in-error') AS ok, "
                "coalesce(verification, '') = 'refuted' AS refuted, "
                f"{self._in('verification', condition.SUSPECTED)} AS "
                "suspected, "
                f"{self._in('clinical', condition.NOT_CURRENT)} AS not_current "
                "FROM d_condition c) AS x"
            ),
        )
        readings = self._condition_readings()
        onset = (
            "SELECT pid, min(d) AS episode_start FROM r_condition "
            "WHERE fact = 'fracture.onset_date' AND d IS NOT NULL GROUP BY pid"
        )
        reader_day = d.date_literal(self.dates.reader_day.isoformat())
        anchor = f"coalesce(q.request_date, {reader_day})"
        episode = Stage(
            "d_episode",
            (
                f"SELECT q.pid, q.request_date, {anchor} AS anchor, o.episode_start, "
                f"coalesce(o.episode_start, {d.add_days(anchor, str(-LOOKBACK.days))}) AS "
                "window_start "
                f"FROM d_case q LEFT JOIN ({onset}) AS o ON o.pid = q.pid"
            ),
        )
        return [conditions, flags, Stage("r_condition", readings), episode]

    def _condition_readings(self) -> str:
        r = self._reading
        tied, prio, when = str(TIED), "c.prio", "c.recorded"
        base = (
            "c.normal AND NOT c.pain AND NOT c.osteoporosis_only AND NOT c.patient_level "
            "AND c.tied AND NOT (c.fracture AND coalesce(c.seventh, '') = 'S')"
        )
        frac = f"{base} AND c.fracture"
        kind = (
            "CASE WHEN c.compression THEN 'compression' WHEN c.burst THEN 'burst' "
            "ELSE c.type_words END"
        )
        hedged = "(c.suspected OR c.not_current)"
        safety = "c.ok AND NOT c.refuted"
        parts = [
            (
                r("infection.osteomyelitis_at_site", "FALSE", priority=tied, when=when),
                "c.ok AND c.refuted AND c.osteomyelitis",
            ),
            (
                r("cord_compression.present", "FALSE", priority=tied, when=when),
                "c.ok AND c.refuted AND c.cord_compression",
            ),
            (
                r(
                    "infection.osteomyelitis_at_site",
                    f"CASE WHEN {hedged} THEN NULL ELSE TRUE END",
                    priority=tied,
                    when=when,
                    known=f"NOT {hedged}",
                ),
                f"{safety} AND c.osteomyelitis",
            ),
            (
                r(
                    "cord_compression.present",
                    f"CASE WHEN {hedged} THEN NULL ELSE TRUE END",
                    priority=tied,
                    when=when,
                    known=f"NOT {hedged}",
                ),
                f"{safety} AND NOT c.osteomyelitis AND c.cord_compression",
            ),
            (
                r("infection.active", "TRUE", priority=tied, when=when),
                f"{safety} AND c.osteomyelitis AND NOT {hedged}",
            ),
            (
                r("fracture.symptomatic", "TRUE", priority=tied, when=when),
                "c.normal AND c.pain AND c.linked",
            ),
            (
                r("fracture.aetiology", "'osteoporotic'", priority=tied, when=when),
                "c.normal AND NOT c.pain AND c.osteoporosis_only AND c.linked",
            ),
            (
                r("fracture.aetiology", "c.aetiology", priority=prio, when=when),
                "c.normal AND NOT c.pain AND NOT c.osteoporosis_only AND c.patient_level "
                "AND c.aetiology IS NOT NULL",
            ),
            (
                r("fracture.aetiology", "c.aetiology", priority=prio, when=when),
                f"{base} AND c.aetiology IS NOT NULL",
            ),
            (r("fracture.present", "TRUE", priority=prio, when=when), frac),
            (r("fracture.type", kind, priority=prio, when=when), f"{frac} AND {kind} IS NOT NULL"),
            (
                r("fracture.unstable", "c.unstable", priority=prio, when=when),
                f"{frac} AND c.unstable IS NOT NULL",
            ),
            (
                r("fracture.vertebral_body_collapse", "TRUE", priority=prio, when=when),
                f"{frac} AND c.collapse",
            ),
            (
                r("fracture.healed", "FALSE", priority=prio, when=when),
                f"{frac} AND coalesce(c.seventh, '') IN ('G', 'K')",
            ),
            (
                r("fracture.onset_date", "c.onset", priority=prio, when=when),
                f"{frac} AND c.onset IS NOT NULL",
            ),
        ]
        return " UNION ALL ".join(
            f"SELECT {cells} FROM d_condition_flags c WHERE {where}" for cells, where in parts
        )

    def _other_readings(self) -> list[Stage]:
        return [
            Stage("w_patient", self._patient_wide()),
            Stage("w_observation", self._observation_wide()),
            Stage("w_encounter", self._encounter_wide()),
            *self._treatment_readings(),
        ]

    def _patient_wide(self) -> str:
        """patient.sex and patient.age (on the anchor day) per case (patient.py)."""
        age = (
            "year(e.anchor) - year(p.birth) - CASE WHEN month(e.anchor) < month(p.birth) OR "
            "(month(e.anchor) = month(p.birth) AND day(e.anchor) < day(p.birth)) THEN 1 ELSE 0 END"
        )
        sexes = " ".join(
            f"WHEN {string_literal(k)} THEN {string_literal(v)}" for k, v in patient.SEXES.items()
        )
        return (
            f"SELECT p.pid, CASE p.gender {sexes} END AS patient__sex, "
            f"CASE WHEN ({age}) >= 0 THEN CAST(({age}) AS DOUBLE) END AS patient__age, "
            "e.anchor AS w_age FROM f_patient p JOIN d_episode e ON e.pid = p.pid"
        )

    def _observation_wide(self) -> str:
        """The latest pain score in the episode, and severe pain when it is 7-10
        (observation.py)."""
        skipped = self._not_in("o.status", observation.SKIPPED_STATUS)
        latest = (
            "SELECT o.pid, o.day, o.value, row_number() OVER (PARTITION BY o.pid "
            "ORDER BY o.day DESC, o.file, o.line_no) AS k FROM f_obs o "
            "JOIN d_episode e ON e.pid = o.pid JOIN lk_pain_score c ON c.key = o.code_key "
            f"WHERE c.pain_score AND {skipped} "
            f"AND o.day IS NOT NULL AND {self._in_window('o.day', 'o.day')} "
            "AND o.value IS NOT NULL AND o.value >= 0 AND o.value <= 10"
        )
        return (
            "SELECT pid, value AS pain__score, "
            f"CASE WHEN value >= {SEVERE_FROM} THEN TRUE END AS pain__severe, day AS w_pain "
            f"FROM ({latest}) AS x WHERE k = 1"
        )

    def _encounter_wide(self) -> str:
        """Admissions in the episode, and whether one was for pain (encounter.py)."""
        d = self.d
        anchor_ok = "NOT (e.anchor IS NOT NULL AND n.start IS NOT NULL AND n.start > e.anchor)"
        latest = "coalesce(n.finish, n.start)"
        early = d.add_days("e.episode_start", str(-encounter.EARLY.days))
        in_episode = (
            f"CASE WHEN e.episode_start IS NOT NULL THEN (NOT ({latest} IS NOT NULL AND "
            f"{latest} < {early}) AND {anchor_ok}) ELSE {self._in_window('n.start', 'n.finish')} "
            "END"
        )
        admissions = (
            "SELECT n.pid, n.file, n.line_no FROM f_enc n JOIN d_episode e ON e.pid = n.pid "
            "JOIN lk_inpatient c ON c.key = n.class_key WHERE c.inpatient AND "
            f"{self._not_in('n.status', encounter.SKIPPED_STATUS)} AND "
            f"{in_episode}"
        )
        # Each documented reason: a reasonCode with words, or a Condition the encounter names
        # (reasonReference, or a diagnosis whose use is admission, chief complaint or not given).
        reasons = (
            "SELECT a.pid, a.file, a.line_no, k.kind FROM ("
            f"{admissions}) AS a JOIN f_enc_reason x ON x.file = a.file AND x.line_no = a.line_no "
            "LEFT JOIN lk_admission_role u ON u.key = x.use_key "
            "LEFT JOIN f_cond c ON c.pid = a.pid AND c.id = x.cond_id "
            "JOIN lk_reason k ON k.key = coalesce(x.concept_key, c.code_key) "
            "WHERE k.has_words AND (x.use_key IS NULL OR u.counts)"
        )
        per_encounter = (
            "SELECT pid, file, line_no, max(CASE WHEN kind = 'pain' THEN 1 ELSE 0 END) AS pain, "
            "max(CASE WHEN kind = 'fracture' THEN 1 ELSE 0 END) AS fracture, "
            "min(CASE WHEN kind = 'other' THEN 1 ELSE 0 END) AS other_only "
            f"FROM ({reasons}) AS y GROUP BY pid, file, line_no"
        )
        per_case = (
            "SELECT pid, max(pain) = 1 AS pain, max(fracture) = 1 AS fracture, "
            f"max(other_only) = 1 AS other_only FROM ({per_encounter}) AS z GROUP BY pid"
        )
        return (
            "SELECT pid, CASE WHEN pain OR fracture THEN TRUE END AS hospitalisation__admitted, "
            "CASE WHEN pain THEN TRUE WHEN NOT fracture AND other_only THEN FALSE END "
            f"AS hospitalisation__for_pain_control FROM ({per_case}) AS h"
        )

    def _treatment_readings(self) -> list[Stage]:
        d, r = self.d, self._reading
        unit_days = " ".join(
            f"WHEN {string_literal(u)} THEN {n}" for u, n in medication.UNIT_DAYS.items()
        )
        fills = "(1 + coalesce(m.repeats, 0))"
        raw_days = f"m.supply_value * (CASE m.supply_unit {unit_days} END) * {fills}"
        whole = f"CASE WHEN {raw_days} >= 0 THEN floor({raw_days}) ELSE ceil({raw_days}) END"
        span = f"CASE WHEN {whole} - 1 > 0 THEN {whole} - 1 ELSE 0 END"
        # medication._supply_end: a negative or infinite supply gives no end; an end past the
        # calendar is its last day (elements.shift).
        finite = "m.supply_value >= 0 AND m.supply_value <= 1.7976931348623157e308"
        last = d.date_literal(dt.date.max.isoformat())
        supply_end = (
            f"CASE WHEN m.authored IS NOT NULL AND ({raw_days}) IS NOT NULL AND {finite} THEN "
            f"CASE WHEN {span} > {d.days_between('m.authored', last)} THEN {last} "
            f"ELSE {d.add_days('m.authored', span)} END END"
        )
        is_request = "m.kind = 'MedicationRequest'"
        start = f"CASE WHEN {is_request} AND m.start IS NULL THEN m.authored ELSE m.start END"
        finish = f"CASE WHEN {is_request} AND m.start IS NULL THEN {supply_end} ELSE m.finish END"
        ongoing = self._in("m.status", medication.ONGOING)
        skipped = (
            f"(({is_request}) AND "
            f"({self._in('m.status', medication.REQUEST_SKIPPED)} "
            f"OR {self._in('m.intent', medication.REQUEST_INTENTS_SKIPPED)})) "
            f"OR (NOT ({is_request}) AND "
            f"{self._in('m.status', medication.STATEMENT_SKIPPED)})"
        )
        medicines = Stage(
            "d_medicine",
            (
                "SELECT pid, status, analgesic, thinners, start, "
                "CASE WHEN finish IS NULL AND ongoing AND start IS NOT NULL THEN anchor ELSE "
                "finish END "
                "AS finish, anchor, window_start FROM ("
                f"SELECT m.pid, m.status, k.analgesic, k.thinners, {start} AS start, {finish} AS "
                "finish, "
                f"{ongoing} AS ongoing, e.anchor, e.window_start "
                "FROM f_med m JOIN d_episode e ON e.pid = m.pid "
                "LEFT JOIN f_medication x ON x.id = m.med_id AND (x.pid IS NULL OR x.pid = m.pid) "
                "JOIN lk_medicine k ON k.key = coalesce(m.concept_key, x.code_key) "
                f"WHERE NOT ({skipped})) AS y"
            ),
        )
        in_window = self._in_window("m.start", "m.finish", "m")
        analgesics = d.string_array([string_literal("analgesics")])
        given = r("conservative_treatment.modalities", analgesics, pid="m.pid", when="m.start")
        med_readings = (
            f"SELECT {given} "
            f"FROM d_medicine m WHERE m.analgesic AND m.start IS NOT NULL AND {in_window} "
            "UNION ALL SELECT "
            f"{r('medication.blood_thinners', 'm.thinners', pid='m.pid', when='m.anchor')} "
            f"FROM d_medicine m WHERE {self._in('m.status', medication.CURRENT)} "
            f"AND {d.count_where('m.thinners', 'TRUE')} > 0"
        )
        in_progress = "coalesce(p.status, '') = 'in-progress'"
        p_start = "coalesce(p.period_start, p.performed)"
        p_end = "CASE WHEN p.period_start IS NULL THEN p.performed ELSE p.period_end END"
        procedures = Stage(
            "d_treatment",
            (
                "SELECT pid, modality, start, CASE WHEN finish IS NULL AND in_progress THEN anchor "
                "ELSE finish END AS finish, course, anchor, window_start FROM ("
                f"SELECT p.pid, k.modality, {p_start} AS start, {p_end} AS finish, "
                f"{in_progress} AS in_progress, p.period_start IS NOT NULL AS course, e.anchor, "
                "e.window_start FROM f_proc p JOIN d_episode e ON e.pid = p.pid "
                "JOIN lk_treatment k ON k.key = p.code_key "
                f"WHERE {self._in('p.status', procedure.COUNTED_STATUS)} AND NOT "
                "k.augmentation "
                "AND k.modality IS NOT NULL) AS y"
            ),
        )
        t_window = self._in_window("t.start", "t.finish", "t")
        modalities = d.string_array(["t.modality"])
        done = r("conservative_treatment.modalities", modalities, pid="t.pid", when="t.start")
        treatment_readings = (
            f"SELECT {done} FROM d_treatment t WHERE t.start IS NOT NULL AND {t_window}"
        )
        courses = Stage(
            "d_course",
            (
                "SELECT m.pid, m.start, m.finish, m.anchor, m.window_start FROM d_medicine m "
                f"WHERE m.analgesic AND m.start IS NOT NULL AND {in_window} UNION ALL "
                "SELECT t.pid, t.start, t.finish, t.anchor, t.window_start FROM d_treatment t "
                f"WHERE t.course AND t.start IS NOT NULL AND {t_window}"
            ),
        )
        # conservative_duration: the days covered by the courses, clipped to the episode, when
        # every course has an end.
        clipped = (
            "SELECT pid, finish, CASE WHEN window_start IS NOT NULL AND window_start > start "
            "THEN window_start ELSE start END AS a, CASE WHEN anchor IS NOT NULL AND anchor < "
            "finish "
            "THEN anchor ELSE finish END AS b FROM d_course WHERE pid IN ("
            "SELECT pid FROM d_course GROUP BY pid HAVING count(*) = count(finish))"
        )
        runs = (
            "SELECT pid, a, b, max(b) OVER (PARTITION BY pid ORDER BY a, b "
            "ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS before "
            f"FROM ({clipped}) AS c WHERE b >= a"
        )
        islands = (
            "SELECT pid, a, b, sum(CASE WHEN before IS NULL OR a > "
            f"{d.add_days('before', '1')} THEN 1 ELSE 0 END) OVER (PARTITION BY pid ORDER BY a, b "
            f"ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS island FROM ({runs}) AS r"
        )
        spans = (
            f"SELECT pid, island, {d.days_between('min(a)', 'max(b)')} + 1 AS days "
            f"FROM ({islands}) AS i GROUP BY pid, island"
        )
        latest = "SELECT pid, max(finish) AS latest FROM d_course GROUP BY pid"
        duration = (
            "SELECT s.pid, round(CAST(s.days AS DOUBLE) / 7, 1) AS "
            "conservative_treatment__duration_weeks, l.latest AS w_duration "
            f"FROM (SELECT pid, sum(days) AS days FROM ({spans}) AS z GROUP BY pid) AS s "
            f"JOIN ({latest}) AS l ON l.pid = s.pid WHERE s.days > 0"
        )
        return [
            medicines,
            Stage("r_medicine", med_readings),
            procedures,
            Stage("r_procedure", treatment_readings),
            courses,
            Stage("w_duration", duration),
        ]

    def documents(self) -> str | None:
        """The resources whose text goes to the note reader: case, JSON text, request date,
        fullUrl (in a bundle), input file; in the order of the input."""
        present = [t for t in TEXT_TYPES if t in self.types]
        if not present:
            return None
        union = " UNION ALL ".join(
            f"SELECT {self._pid_of(t, 'x')} AS pid, x.text, x.url, x.file, x.line_no "
            f"FROM {self._src(t)} x"
            for t in present
        )
        return (
            f"SELECT t.pid, t.text, q.request_date, t.url, t.file FROM ({union}) AS t "
            "JOIN d_case q ON q.pid = t.pid ORDER BY t.pid, t.file, t.line_no"
        )

    def binaries(self) -> str | None:
        """The Binaries an attachment of a case's documents may name by url (a Binary names
        no patient): those in the case's bundle, and those of an export whose id a document
        of the case names ('Binary/id', relative or absolute). Case, fullUrl, JSON text."""
        present = [t for t in TEXT_TYPES if t in self.types]
        if "Binary" not in self.types or not present:
            return None
        d = self.d
        named = " UNION ALL ".join(
            d.exploded(
                f"{self._src(t)} x",
                f"{self._pid_of(t, 'x')} AS pid",
                f"regexp_extract_all(x.text, {string_literal(_BINARY_URL)}, 2)",
                "bid",
            )
            for t in present
        )
        own_id = f"trim({d.json_string('b.text', 'id')})"
        return (
            "SELECT pid, url, text FROM ("
            "SELECT b.grp AS pid, b.url, b.text, b.file, b.line_no FROM src_Binary b "
            "WHERE b.grp IS NOT NULL UNION "
            "SELECT n.pid, b.url, b.text, b.file, b.line_no "
            f"FROM ({named}) AS n JOIN src_Binary b ON b.grp IS NULL AND {own_id} = n.bid"
            ") AS a WHERE pid IN (SELECT pid FROM d_case) ORDER BY pid, file, line_no"
        )

    # --- 4. merging readings and the facts table --------------------------------------------

    def _combine(self) -> list[Stage]:
        """adapters.combine.merge for coded and text readings (no reviewer's answers here).

        Most facts have one reading, or readings that agree (min = max of their values); only
        the few that disagree go through the settling pools (rank, then tie to the request,
        then recency).
        """
        safety = ", ".join(string_literal(f) for f in sorted(SAFETY_FACTS))
        timeless = ", ".join(string_literal(f) for f in sorted(TIMELESS_FACTS))
        # Readings of one fact hold their value in one column; they agree when its least and
        # greatest values are equal. Sets (CHOICES) are united instead; levels read from text
        # are not used (the request's levels come from the request). A group's value is read
        # only when its readings agree: then it is their least value, an aggregate `agree`
        # computes anyway (cheaper than another per column).
        pick = ", ".join(f"min({c}) AS {c}" for c in ("b", "s", "n", "d"))
        agree = "coalesce(min(b) = max(b), min(s) = max(s), min(n) = max(n), min(d) = max(d))"
        lists = ", ".join(
            string_literal(name)
            for name, spec in CATALOGUE.items()
            if spec.type in (FactType.LEVELS, FactType.CHOICES)
        )
        keyed = Stage(
            "m_known", f"SELECT * FROM readings WHERE known AND fact NOT IN ({lists})", view=True
        )
        groups = Stage(
            "m_groups",
            (
                f"SELECT pid, fact, {agree} AS agree, {pick}, "
                "max(CASE WHEN b THEN 1 ELSE 0 END) = 1 AS any_true "
                "FROM m_known GROUP BY pid, fact"
            ),
        )
        conflicts = (
            "SELECT k.* FROM m_known k JOIN m_groups g ON g.pid = k.pid AND g.fact = k.fact "
            f"WHERE NOT g.agree AND g.fact NOT IN ({safety})"
        )
        ranked = (
            "SELECT * FROM (SELECT *, max(rank) OVER (PARTITION BY pid, fact) AS top "
            f"FROM ({conflicts}) AS c) AS a WHERE rank = top"
        )
        tied = (
            "SELECT * FROM (SELECT *, max(priority) OVER (PARTITION BY pid, fact) AS top2 "
            f"FROM ({ranked}) AS a) AS b WHERE priority = top2"
        )
        recent = (
            "SELECT * FROM (SELECT *, max(w) OVER (PARTITION BY pid, fact) AS latest, "
            "count(*) OVER (PARTITION BY pid, fact) AS c, count(w) OVER (PARTITION BY pid, fact) "
            f"AS cw FROM ({tied}) AS b) AS c WHERE c = cw AND w = latest AND fact NOT IN "
            f"({timeless})"
        )

        def pool(rows: str) -> str:
            return (
                f"SELECT pid, fact, {agree} AS agree, {pick} FROM ({rows}) AS p GROUP BY pid, fact"
            )

        settled = Stage(
            "m_settled",
            (
                "SELECT p1.pid, p1.fact, CASE WHEN p1.agree THEN 1 WHEN p2.agree THEN 2 "
                "WHEN p3.agree THEN 3 END AS pool, "
                + ", ".join(
                    f"CASE WHEN p1.agree THEN p1.{c} WHEN p2.agree THEN p2.{c} "
                    f"WHEN p3.agree THEN p3.{c} END AS {c}"
                    for c in ("b", "s", "n", "d")
                )
                + f" FROM ({pool(ranked)}) AS p1 "
                f"LEFT JOIN ({pool(tied)}) AS p2 ON p2.pid = p1.pid AND p2.fact = p1.fact "
                f"LEFT JOIN ({pool(recent)}) AS p3 ON p3.pid = p1.pid AND p3.fact = p1.fact"
            ),
        )
        suspected = (
            f"SELECT DISTINCT pid, fact FROM readings WHERE NOT known AND fact IN ({safety})"
        )

        def choose(column: str) -> str:
            agreed = (
                f"CASE WHEN g.fact IN ({safety}) AND g.b = FALSE AND u.fact IS NOT NULL "
                f"THEN NULL ELSE g.{column} END"
            )
            affirmed = "TRUE" if column == "b" else "NULL"
            return (
                f"CASE WHEN g.agree THEN {agreed} "
                f"WHEN g.fact IN ({safety}) THEN CASE WHEN g.any_true THEN {affirmed} END "
                f"ELSE t.{column} END AS {column}"
            )

        merged = Stage(
            "m_merged",
            (
                f"SELECT g.pid, g.fact, {', '.join(choose(c) for c in ('b', 's', 'n', 'd'))} "
                f"FROM m_groups g LEFT JOIN ({suspected}) AS u ON u.pid = g.pid AND u.fact = "
                "g.fact "
                "LEFT JOIN m_settled t ON t.pid = g.pid AND t.fact = g.fact"
            ),
        )
        return [keyed, groups, settled, merged]

    def _sets(self, readings: str) -> str:
        """The union of every reading of a set (adapters.combine, rule 2): known but empty
        sets stay known and empty."""
        d = self.d
        return (
            f"SELECT x.pid, x.fact, {d.sorted_set('x.v')} AS l FROM "
            f"{d.exploded(f'({readings}) AS k', 'k.pid, k.fact', 'k.l', 'v')} AS x "
            "GROUP BY x.pid, x.fact "
            f"UNION ALL SELECT pid, fact, CAST(l AS {d.type(SqlType.STRING_LIST)}) FROM ("
            f"SELECT pid, fact, {d.any_value('l')} AS l, max({d.count_where('l', 'TRUE')}) AS most "
            f"FROM ({readings}) AS k GROUP BY pid, fact) AS e WHERE most = 0"
        )

    def pivot(self, present: set[str]) -> Stage:
        """One row per case, one column per merged fact that has a value somewhere (`present`,
        from `m_merged` and `m_sets`)."""
        d = self.d
        columns = []
        for name, column, _ in fact_columns():
            if name in present and name not in (PROCEDURE_FACT, LEVELS_FACT):
                value = VALUE_COLUMN[CATALOGUE[name].type]
                columns.append(
                    f"{d.any_value(f'v.{value}')} FILTER (WHERE v.fact = {string_literal(name)}) "
                    f"AS {column}"
                )
        self._pivoted = present
        no_list = d.null(SqlType.STRING_LIST)
        return Stage(
            "m_facts",
            (
                "SELECT v.pid" + "".join(", " + c for c in columns) + " FROM ("
                f"SELECT pid, fact, b, s, n, d, {no_list} AS l FROM m_merged "
                f"UNION ALL SELECT pid, fact, {d.null(SqlType.BOOLEAN)} AS b, {d.null(S)} AS s, "
                f"{d.null(F)} AS n, {d.null(SqlType.DATE)} AS d, l FROM m_sets) AS v GROUP BY v.pid"
            ),
        )

    def facts_inputs(self) -> set[str]:
        """The tables the `facts` view reads (the others can go once it is made)."""
        return {"d_request", "d_case", "m_facts", *(t for t, _ in WIDE_FACTS.values())}

    def as_of_dates(self) -> str:
        """The distinct as-of dates of the requests (the `as_of` column of `facts`, without
        making the facts)."""
        return f"SELECT DISTINCT {self._as_of()} FROM d_request r JOIN d_case q ON q.pid = r.pid"

    def _as_of(self) -> str:
        d = self.d
        today = d.date_literal(self.dates.today.isoformat())
        given = d.date_literal(self.dates.as_of.isoformat()) if self.dates.as_of else "NULL"
        return f"CAST(coalesce({given}, q.request_date, {today}) AS DATE)"

    def _facts_sql(self) -> str:
        d = self.d
        as_of = self._as_of()
        columns = []
        for name, column, kind in fact_columns():
            if name == PROCEDURE_FACT:
                columns.append(f"r.procedure AS {column}")
            elif name == LEVELS_FACT:
                columns.append(f"CAST(r.levels AS {d.type(kind)}) AS {column}")
            elif name in self._pivoted:
                columns.append(f"CAST(f.{column} AS {d.type(kind)}) AS {column}")
            elif name in WIDE_FACTS and name not in self._note_facts:
                alias = WIDE_FACTS[name][0]
                columns.append(f"CAST({alias}.{column} AS {d.type(kind)}) AS {column}")
            else:
                columns.append(f"{d.null(kind)} AS {column}")
        return (
            f"SELECT r.pid AS case_id, r.request_no, {as_of} AS as_of, " + ", ".join(columns) + " "
            "FROM d_request r JOIN d_case q ON q.pid = r.pid "
            "LEFT JOIN m_facts f ON f.pid = r.pid"
            + "".join(
                f" LEFT JOIN {table} {table} ON {table}.pid = r.pid"
                for table in sorted({t for t, _ in WIDE_FACTS.values()})
            )
        )
