"""Step 1 and 2 of the set-based reader: each resource type flattened to one row per element
read, with the keys of the concepts the lookups answer for; and the texts for the note
reader."""

from __future__ import annotations

from vertebro.adapters.fhir import (
    requests,
)
from vertebro.batch.dialect import SqlType, string_literal
from vertebro.batch.extract.base import (
    _BINARY_URL,
    _LINE,
    _OWNED_LINE,
    ReaderSql,
    Stage,
)
from vertebro.batch.extract.shapes import (
    ABOUT_PATIENT,
    INT,
    TEXT_TYPES,
    F,
    S,
)


class Flattening(ReaderSql):
    """Flattening, the lookups' queries, and the documents and Binaries for the note reader."""

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
