"""Step 4 of the set-based reader: the requests found in text joined in, readings merged per
case and fact by the rule of `adapters.combine`, the facts pivoted wide and the facts table."""

from __future__ import annotations

from vertebro.adapters.combine import SAFETY_FACTS, TIMELESS_FACTS
from vertebro.batch.compile import LEVELS_FACT, PROCEDURE_FACT, fact_column, fact_columns
from vertebro.batch.dialect import SqlType, string_literal
from vertebro.batch.extract.base import (
    NOTE_READINGS,
    NOTE_REQUESTS,
    REFUSED_CASES,
    VALUE_COLUMN,
    WIDE_FACTS,
    ReaderSql,
    Stage,
)
from vertebro.batch.extract.shapes import (
    F,
    S,
)
from vertebro.batch.lookups import LEVEL_ORDER
from vertebro.core.catalogue import CATALOGUE
from vertebro.core.facts import FactType


class Merging(ReaderSql):
    """Merging the readings, and the facts table (`merge`, then `finish`)."""

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
