"""The two engines: DuckDB (embedded, the default) and Spark (local mode, or a cluster).

Both run the same statements (`extract.Stage`, the compiled policy) in their own dialect and
offer the same few operations: read the lines of NDJSON files or the entries of bundles,
materialise a statement as a table, answer a small query, register a small table made in
Python, and write a query to Parquet. Everything that touches the two libraries is here.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa

from vertebro.batch.dialect import (
    DUCKDB,
    SPARK,
    Dialect,
    JsonShape,
    SqlType,
    duckdb_type,
    string_literal,
)
from vertebro.batch.facts_table import ARROW_TYPES

Columns = tuple[tuple[str, SqlType], ...]
# Up to this many NDJSON files of a type are read one statement each (see `_file_groups`).
_FILES_READ_ALONE = 16

# Columns of the lines relation: where a line (or bundle entry) is (the file's number and the
# line's), its case when the input says so, the entry's fullUrl (bundles only), its text.
LINE_COLUMNS = "file, line_no, grp, url, text"


@dataclass(frozen=True, slots=True)
class InputFile:
    """One input file: its number (the `file` column of every table: an integer keeps the
    joins on (file, line_no) cheap), its path, and whether it holds one bundle."""

    number: int
    path: str
    bundle: bool
    stem: str  # the case id of a bundle without Bundle.id


class Engine(Protocol):
    """What the runner needs from an engine."""

    dialect: Dialect
    numbered: bool  # whether `lines` gives true line numbers

    def lines(self, files: Sequence[InputFile]) -> str:
        """A relation (SQL text) of LINE_COLUMNS over the files; line_no may be NULL."""
        ...

    def run(self, name: str, sql: str) -> None:
        """Materialise the query as a table called `name`."""
        ...

    def view(self, name: str, sql: str) -> None:
        """Name a query without materialising it (it runs wherever it is read)."""
        ...

    def typed_lines(
        self,
        files: Sequence[InputFile],
        rtype: str,
        shape: Mapping[str, JsonShape],
        strict: bool = False,
    ) -> str | None:
        """A faster relation like `lines`, already parsed: file, line_no (increasing with the
        record's place in its file, for order only), grp, url, rtype and r, for NDJSON files
        of one resource type; lines that are not such a resource have a NULL rtype, and
        elements of another shape read as NULL. `strict`: a line that is not a JSON object of
        this shape is an error of the statement reading the relation (see `try_run`) instead.
        None when the engine has no such reader."""
        ...

    def try_run(self, name: str, sql: str) -> bool:
        """`run`, or False (nothing made) when the engine's reader finds input that does not
        fit a strict `typed_lines` read."""
        ...

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        """The rows of a small query."""
        ...

    def drop(self, name: str) -> None:
        """Forget a table made by `run`."""
        ...

    def values(self, sql: str) -> list[tuple[Any, Any]]:
        """The (key, value) rows of a small query, structs as plain dicts and lists."""
        ...

    def register(self, name: str, columns: Columns, rows: Sequence[tuple[object, ...]]) -> None:
        """A small table made in Python."""
        ...

    def write_parquet(self, sql: str, path: Path, compress: bool = True) -> None:
        """Write the query's rows to Parquet at `path` (a file; replaced if present); without
        compression for short-lived files."""
        ...

    def read_parquet(self, name: str, path: Path) -> None:
        """Make the Parquet file or folder at `path` readable as `name`."""
        ...

    def close(self) -> None:
        """Release the engine."""
        ...


class DuckDbEngine:
    """DuckDB in this process; spills to `temp` when memory runs short."""

    dialect = DUCKDB
    numbered = True

    def __init__(self, temp: Path, threads: int | None = None) -> None:
        import duckdb

        temp.mkdir(parents=True, exist_ok=True)
        self._con = duckdb.connect(
            config={
                "threads": threads or os.cpu_count() or 1,
                "temp_directory": str(temp),
                "preserve_insertion_order": False,
            }
        )
        self._views: set[str] = set()
        self._bundle_lists = 0
        self._threads = threads or os.cpu_count() or 1

    def lines(self, files: Sequence[InputFile]) -> str:
        """See `Engine.lines`."""
        parts = []
        bundles = [f for f in files if f.bundle]
        if bundles:
            parts.append(self._bundles(bundles))
        plain = [f for f in files if not f.bundle]
        for group in _file_groups(plain, self._threads):
            # As in `typed_lines`: the file is its place in the group's list, and ORDINALITY
            # runs on across the group's files (blank lines included), so a line's number is
            # its ordinality less its file's first.
            numbers = "[" + ", ".join(str(f.number) for f in group) + "]"
            paths = "[" + ", ".join(string_literal(f.path) for f in group) + "]"
            first = "1" if len(group) == 1 else "min(l.ordinality) OVER (PARTITION BY l.file_index)"
            parts.append(
                f"SELECT CAST({numbers}[CAST(l.file_index AS BIGINT) + 1] AS BIGINT) AS file, "
                f"CAST(l.ordinality - {first} + 1 AS BIGINT) AS line_no, "
                "CAST(NULL AS VARCHAR) AS grp, CAST(NULL AS VARCHAR) AS url, "
                f"l.line AS text FROM read_csv({paths}, "
                "columns={'line': 'VARCHAR'}, delim='\x01', quote='', escape='', "
                "header=false, auto_detect=false, strict_mode=false, "
                "max_line_size=1000000000) WITH ORDINALITY AS l"
            )
        return "(" + " UNION ALL ".join(parts) + ") AS lines"

    def _bundles(self, files: Sequence[InputFile]) -> str:
        """The entries of the bundle files, read by one `read_text` over their list (a union
        of one statement per file takes time that grows with the square of the files)."""
        self._bundle_lists += 1
        name = f"bundle_files_{self._bundle_lists}"
        self._con.execute(f"SET VARIABLE {name} = ?", [[f.path for f in files]])
        self.register(
            name,
            (("path", SqlType.STRING), ("number", SqlType.BIGINT), ("stem", SqlType.STRING)),
            [(f.path, f.number, f.stem) for f in files],
        )
        return _duckdb_bundles(f"read_text(getvariable({string_literal(name)}))", name)

    def run(self, name: str, sql: str) -> None:
        """See `Engine.run`."""
        self._con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS {sql}")

    def view(self, name: str, sql: str) -> None:
        """See `Engine.view`."""
        self._con.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS {sql}")
        self._views.add(name)

    def typed_lines(
        self,
        files: Sequence[InputFile],
        rtype: str,
        shape: Mapping[str, JsonShape],
        strict: bool = False,
    ) -> str | None:
        """See `Engine.typed_lines`."""
        columns = {"resourceType": "VARCHAR", **{k: duckdb_type(v) for k, v in shape.items()}}
        spec = (
            "{"
            + ", ".join(f"{string_literal(k)}: {string_literal(v)}" for k, v in columns.items())
            + "}"
        )
        fields = ", ".join(f'"{k}" := j."{k}"' for k in shape)
        parts = []
        for group in _file_groups(files, self._threads):
            # One read over a group's files: the file is its position in the list; ORDINALITY
            # runs on across the group's files in their order, so it orders a file's records.
            numbers = "[" + ", ".join(str(f.number) for f in group) + "]"
            paths = "[" + ", ".join(string_literal(f.path) for f in group) + "]"
            parts.append(
                f"SELECT CAST({numbers}[CAST(j.file_index AS BIGINT) + 1] AS BIGINT) AS file, "
                "CAST(j.ordinality AS BIGINT) AS line_no, "
                "CAST(NULL AS VARCHAR) AS grp, CAST(NULL AS VARCHAR) AS url, "
                f"j.resourceType AS rtype, struct_pack({fields}) AS r "
                f"FROM read_json({paths}, format='newline_delimited', "
                f"columns={spec}, ignore_errors={str(not strict).lower()}, "
                "maximum_object_size=1000000000) "
                "WITH ORDINALITY AS j"
            )
        return "(" + " UNION ALL ".join(parts) + ") AS typed"

    def try_run(self, name: str, sql: str) -> bool:
        """See `Engine.try_run`."""
        import duckdb

        try:
            self.run(name, sql)
        except (duckdb.InvalidInputException, duckdb.ConversionException):
            # The JSON reader's errors: a line that is not an object of the shape asked for.
            self.drop(name)
            return False
        return True

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        """See `Engine.rows`."""
        return self._con.execute(sql).fetchall()

    def drop(self, name: str) -> None:
        """See `Engine.drop`."""
        kind = "VIEW" if name in self._views else "TABLE"
        self._views.discard(name)
        self._con.execute(f"DROP {kind} IF EXISTS {name}")

    def values(self, sql: str) -> list[tuple[Any, Any]]:
        """See `Engine.values`."""
        return [(key, value) for key, value in self._con.execute(sql).fetchall()]

    def register(self, name: str, columns: Columns, rows: Sequence[tuple[object, ...]]) -> None:
        """See `Engine.register`."""
        table = _arrow(columns, rows)
        self._con.register(f"{name}__arrow", table)
        self._con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM {name}__arrow")
        self._con.unregister(f"{name}__arrow")

    def write_parquet(self, sql: str, path: Path, compress: bool = True) -> None:
        """See `Engine.write_parquet`."""
        codec = "zstd" if compress else "uncompressed"
        self._con.execute(
            f"COPY ({sql}) TO {string_literal(str(path))} (FORMAT parquet, COMPRESSION {codec})"
        )

    def read_parquet(self, name: str, path: Path) -> None:
        """See `Engine.read_parquet`."""
        self._con.execute(
            f"CREATE OR REPLACE VIEW {name} AS SELECT * FROM "
            f"read_parquet({string_literal(str(path))})"
        )

    def close(self) -> None:
        """See `Engine.close`."""
        self._con.close()


def _file_groups(files: Sequence[InputFile], threads: int) -> list[Sequence[InputFile]]:
    """The files in runs of neighbours, each read by one statement. A read WITH ORDINALITY
    runs on one thread, so a few large files are read one per statement (their statements
    run side by side); many files are read in a few runs, since a statement per file costs
    about 2 ms however small the file (an export split into thousands of small files)."""
    runs = max(2 * threads, _FILES_READ_ALONE)
    if len(files) <= runs:
        return [[f] for f in files]
    size = -(-len(files) // runs)
    return [files[start : start + size] for start in range(0, len(files), size)]


def _duckdb_bundles(source: str, files: str) -> str:
    """The entries of bundle files (or the one resource, or bad text, each holds), numbered
    from 1 in each file, with their fullUrl; `files` maps each path to its number and stem."""
    content = "t.content"
    bundle = (
        f"json_valid({content}) AND json_extract_string({content}, '$.resourceType') = 'Bundle'"
    )
    entry = (
        "lambda x: {'url': json_extract_string(x, '$.fullUrl'), "
        "'text': CAST(json_extract(x, '$.resource') AS VARCHAR)}"
    )
    entries = (
        f"CASE WHEN {bundle} THEN list_transform(json_extract({content}, '$.entry[*]'), "
        f"{entry}) ELSE [{{'url': CAST(NULL AS VARCHAR), 'text': {content}}}] END"
    )
    case_id = (
        f"coalesce(CASE WHEN {bundle} THEN "
        f"NULLIF(trim(json_extract_string({content}, '$.id')), '') END, m.stem)"
    )
    return (
        f"SELECT m.number AS file, CAST(e.pos AS BIGINT) AS line_no, "
        f"{case_id} AS grp, NULLIF(trim(e.x.url), '') AS url, e.x.text AS text "
        f"FROM {source} AS t JOIN {files} AS m ON m.path = t.filename "
        f"CROSS JOIN LATERAL unnest({entries}) WITH ORDINALITY AS e(x, pos)"
    )


def _arrow(columns: Columns, rows: Sequence[tuple[object, ...]]) -> pa.Table:
    arrays = [
        pa.array([row[index] for row in rows], type=ARROW_TYPES[kind])
        for index, (_, kind) in enumerate(columns)
    ]
    return pa.table(arrays, names=[name for name, _ in columns])


# Spark names local files as URIs (file:/tmp/x); the runner names them as paths.
_LOCAL_PATH = "regexp_replace(_metadata.file_path, '^file:/+', '/')"


def _spark_file_number(files: Sequence[InputFile]) -> str:
    """The number of the file a row of spark.read.text came from."""
    cases = " ".join(
        f"WHEN {string_literal(f.path)} THEN CAST({f.number} AS BIGINT)" for f in files
    )
    return f"CASE {_LOCAL_PATH} {cases} END"


class SparkEngine:
    """Spark SQL through PySpark: local mode by default, or the cluster that PYSPARK_SUBMIT_ARGS
    (or spark-defaults.conf) names.

    No Python runs on the executors: every step is SQL, and the lookups are small tables made
    on the driver. Intermediate tables are local checkpoints (kept by the executors, lineage
    cut) because most are read by several later statements.
    """

    dialect = SPARK
    # line_no is an increasing id, not the line number: a bad line is found again in its file.
    numbered = False

    def __init__(self, session: Any | None = None) -> None:
        self._spark = session if session is not None else local_session()
        self._frames: dict[str, Any] = {}
        self._sources = 0

    @property
    def session(self) -> Any:
        """The SparkSession."""
        return self._spark

    def lines(self, files: Sequence[InputFile]) -> str:
        """See `Engine.lines`."""
        plain = [f for f in files if not f.bundle]
        bundles = [f for f in files if f.bundle]
        parts = []
        self._sources += 1
        if plain:
            # Line numbers are not known here (a bad line is found again in its file); the
            # increasing id keeps each file's order.
            frame = self._spark.read.text([f.path for f in plain]).selectExpr(
                f"{_spark_file_number(plain)} AS file",
                "monotonically_increasing_id() AS line_no",
                "CAST(NULL AS STRING) AS grp",
                "CAST(NULL AS STRING) AS url",
                "value AS text",
            )
            name = f"ndjson_lines_{self._sources}"
            frame.createOrReplaceTempView(name)
            parts.append(f"SELECT {LINE_COLUMNS} FROM {name}")
        if bundles:
            frame = self._spark.read.text([f.path for f in bundles], wholetext=True).selectExpr(
                f"{_spark_file_number(bundles)} AS file", "value AS content"
            )
            frame.createOrReplaceTempView(f"bundle_files_{self._sources}")
            stems = " ".join(
                f"WHEN file = {f.number} THEN {string_literal(f.stem)}" for f in bundles
            )
            parts.append(
                "SELECT file, CAST(e.pos + 1 AS BIGINT) AS line_no, "
                "coalesce(CASE WHEN b.resourceType = 'Bundle' THEN NULLIF(trim(b.id), '') END, "
                f"CASE {stems} END) AS grp, NULLIF(trim(e.x.fullUrl), '') AS url, "
                "e.x.resource AS text FROM (SELECT file, content, from_json(content, "
                "'resourceType STRING, id STRING, "
                "entry ARRAY<STRUCT<fullUrl: STRING, resource: STRING>>') AS b "
                f"FROM bundle_files_{self._sources}) AS f LATERAL VIEW posexplode(CASE WHEN "
                "b.resourceType = 'Bundle' THEN b.entry "
                "ELSE array(named_struct('fullUrl', CAST(NULL AS STRING), 'resource', content)) "
                "END) e AS pos, x"
            )
        return "(" + " UNION ALL ".join(parts) + ") AS lines"

    def typed_lines(
        self,
        files: Sequence[InputFile],
        rtype: str,
        shape: Mapping[str, JsonShape],
        strict: bool = False,
    ) -> str | None:
        """See `Engine.typed_lines`."""
        return None

    def try_run(self, name: str, sql: str) -> bool:
        """See `Engine.try_run` (Spark has no typed reader: it only runs)."""
        self.run(name, sql)
        return True

    def run(self, name: str, sql: str) -> None:
        """See `Engine.run`."""
        # A local checkpoint materialises the rows and cuts the lineage: each statement reads
        # the ones before it as data, not as ever-growing plans (CACHE TABLE keeps the plans,
        # and planning fifty chained statements runs out of memory).
        frame = self._spark.sql(sql).localCheckpoint(eager=True)
        frame.createOrReplaceTempView(name)
        self._frames[name] = frame

    def view(self, name: str, sql: str) -> None:
        """See `Engine.view`."""
        self._spark.sql(sql).createOrReplaceTempView(name)

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        """See `Engine.rows`."""
        return [tuple(row) for row in self._spark.sql(sql).collect()]

    def values(self, sql: str) -> list[tuple[Any, Any]]:
        """See `Engine.values`."""
        return [(row[0], _plain(row[1])) for row in self._spark.sql(sql).collect()]

    def drop(self, name: str) -> None:
        """See `Engine.drop`."""
        self._spark.catalog.dropTempView(name)
        frame = self._frames.pop(name, None)
        if frame is not None:
            frame.unpersist()

    def register(self, name: str, columns: Columns, rows: Sequence[tuple[object, ...]]) -> None:
        """See `Engine.register`."""
        schema = ", ".join(f"`{n}` {SPARK.type(kind)}" for n, kind in columns)
        frame = self._spark.createDataFrame(list(rows), schema)
        frame.createOrReplaceTempView(name)

    def write_parquet(self, sql: str, path: Path, compress: bool = True) -> None:
        """See `Engine.write_parquet`."""
        folder = path.with_name(path.name + ".spark")
        writer = self._spark.sql(sql).coalesce(1).write.mode("overwrite")
        writer = writer.option("compression", "zstd" if compress else "none")
        writer.parquet(str(folder))
        parts = sorted(folder.glob("part-*.parquet"))
        if len(parts) != 1:
            raise RuntimeError(f"Spark wrote {len(parts)} files to {folder}, expected one")
        os.replace(parts[0], path)
        shutil.rmtree(folder, ignore_errors=True)

    def read_parquet(self, name: str, path: Path) -> None:
        """See `Engine.read_parquet`."""
        self._spark.read.parquet(str(path)).createOrReplaceTempView(name)

    def close(self) -> None:
        """See `Engine.close`."""
        for name in list(self._frames):
            self.drop(name)


def _plain(value: Any) -> Any:
    """A Spark Row (struct) as a dict, recursively; lists of them as lists."""
    if hasattr(value, "asDict"):
        return {k: _plain(v) for k, v in value.asDict().items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def local_session(cores: int | None = None) -> Any:
    """A SparkSession for this machine (`local[n]`), or the one spark-submit configured.

    Under spark-submit the master and resources come from its command line; here only
    settings that suit a single machine are set, and only when no master is configured.
    """
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName("vertebro-batch")
    if not os.environ.get("SPARK_MASTER") and "PYSPARK_SUBMIT_ARGS" not in os.environ:
        builder = (
            builder.master(f"local[{cores or os.cpu_count() or 1}]")
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.sql.shuffle.partitions", str(2 * (cores or os.cpu_count() or 1)))
            .config("spark.driver.memory", os.environ.get("VERTEBRO_SPARK_MEMORY", "4g"))
        )
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session
