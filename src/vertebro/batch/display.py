"""What `vertebro batch` shows: progress bars with rate and time left, and the summary table."""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from vertebro.batch.bulk import BadLine
from vertebro.batch.runner import BatchResult, Display
from vertebro.core.policy import Outcome


class _Rate(ProgressColumn):
    """Items per second, from rich's own speed estimate."""

    def __init__(self, unit: str) -> None:
        super().__init__()
        self.unit = unit

    def render(self, task: Task) -> Text:
        """The speed, or nothing until rich has one."""
        speed = task.finished_speed or task.speed
        if speed is None:
            return Text("", style="progress.data.speed")
        return Text(
            f"{speed:,.0f} {task.fields.get('unit', self.unit)}/s", style="progress.data.speed"
        )


class RichDisplay(Display):
    """Progress on stderr: reading steps, note-reader documents, requests evaluated."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True)
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description:<12}"),
            BarColumn(),
            MofNCompleteColumn(),
            _Rate("steps"),
            TimeElapsedColumn(),
            TextColumn("left"),
            TimeRemainingColumn(),
            TextColumn("{task.fields[label]}", style="dim"),
            console=self.console,
            transient=False,
        )
        self._tasks: dict[str, TaskID] = {}

    def __enter__(self) -> RichDisplay:
        self.progress.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.progress.stop()

    def _task(self, key: str, description: str, unit: str) -> TaskID:
        if key not in self._tasks:
            self._tasks[key] = self.progress.add_task(description, total=None, label="", unit=unit)
        return self._tasks[key]

    def reading(self, done: int, total: int, label: str) -> None:
        """See `Display.reading`."""
        task = self._task("reading", "Reading", "steps")
        self.progress.update(task, completed=done, total=total, label=label)
        if label == "facts ready":
            self.progress.update(task, completed=total, label="")

    def documents(self, done: int, total: int) -> None:
        """See `Display.documents`."""
        task = self._task("notes", "Notes", "docs")
        self.progress.update(task, completed=done, total=total)

    def evaluating(self, done: int, total: int) -> None:
        """See `Display.evaluating`."""
        task = self._task("evaluating", "Evaluating", "requests")
        self.progress.update(task, completed=done, total=total)

    def note(self, message: str) -> None:
        """See `Display.note`."""
        self.progress.console.print(f"[dim]{message}[/dim]")


def output_console() -> Console:
    """The console for the summary: the terminal's width, or a wide one when piped."""
    probe = Console()
    return probe if probe.is_terminal else Console(width=160, soft_wrap=True)


def summary(result: BatchResult) -> Table:
    """Outcome counts per procedure, with totals."""
    outcomes = [o.value for o in Outcome]
    table = Table(
        title=(
            f"{result.requests:,} requests of {result.cases:,} cases under "
            f"{result.policy_id} {result.policy_version} in {result.seconds:,.1f} s "
            f"({result.requests / max(result.seconds, 1e-9):,.0f} requests/s)"
        ),
        title_justify="left",
    )
    table.add_column("procedure")
    for outcome in outcomes:
        table.add_column(outcome, justify="right")
    table.add_column("total", justify="right")
    totals = dict.fromkeys(outcomes, 0)
    for procedure in sorted(result.outcomes):
        counts = result.outcomes[procedure]
        row = [counts.get(o, 0) for o in outcomes]
        for outcome, count in zip(outcomes, row, strict=True):
            totals[outcome] += count
        table.add_row(procedure, *(f"{n:,}" for n in row), f"{sum(row):,}")
    table.add_row(
        "all", *(f"{totals[o]:,}" for o in outcomes), f"{sum(totals.values()):,}", style="bold"
    )
    return table


def read_notes(result: BatchResult) -> list[str]:
    """Lines about what was read: resources, bad lines skipped, types and texts not read."""
    read = result.read
    if read is None:
        return ["facts reused from an earlier run of the same input"]
    lines = [
        f"read {sum(read.resources.values()):,} resources from {read.files} files: "
        + ", ".join(f"{n:,} {t}" for t, n in sorted(read.resources.items()))
    ]
    if read.bad_total:
        lines.append(f"skipped {read.bad_total:,} bad line(s) or case(s) (--skip-bad)")
    if read.ignored_types:
        lines.append(
            "not read (no fact comes from them): "
            + ", ".join(f"{n:,} {t}" for t, n in sorted(read.ignored_types.items()))
        )
    if read.documents_unread:
        lines.append(
            f"{read.documents_unread:,} report/document text(s) not read: the note reader "
            "(vertebro.adapters.nlp) is not available"
        )
    if read.patients_without_request:
        lines.append(
            f"{read.patients_without_request:,} patient(s) with no vertebroplasty, kyphoplasty "
            "or sacroplasty request: not assessed"
        )
    if result.chunks_reused:
        lines.append(f"resumed: {result.chunks_reused} of {result.chunks} chunks were already done")
    return lines


def bad_line_messages(lines: list[BadLine], total: int) -> list[str]:
    """One message per bad line shown, and how many more there are."""
    out = [str(line) for line in lines]
    if total > len(lines):
        out.append(f"... and {total - len(lines):,} more bad line(s) or case(s)")
    return out
