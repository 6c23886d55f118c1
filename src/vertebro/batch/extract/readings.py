"""Step 3 of the set-based reader: the requests, the episode and conditions, and the other
coded readings, rule by rule as the per-case reader reads them."""

from __future__ import annotations

import datetime as dt

from vertebro.adapters.fhir import (
    condition,
    encounter,
    medication,
    observation,
    patient,
    procedure,
)
from vertebro.adapters.fhir.condition import TIED
from vertebro.adapters.fhir.context import LOOKBACK
from vertebro.adapters.fhir.observation import SEVERE_FROM
from vertebro.batch.dialect import SqlType, string_literal
from vertebro.batch.extract.base import (
    _SACRUM,
    ReaderSql,
    Stage,
)
from vertebro.batch.extract.shapes import (
    TEXT_TYPES,
    S,
)
from vertebro.core.catalogue import Procedure


class Readings(ReaderSql):
    """The requests and the coded readings (`derive`)."""

    # --- 3. requests, conditions and the other readings -------------------------------------

    def derive(self) -> list[Stage]:
        """From the flattened tables and the lookups to the requests and the coded readings
        (then `merge` them with the readings from text, then `finish`)."""
        return self._requests() + self._episode_and_conditions() + self._other_readings()

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
