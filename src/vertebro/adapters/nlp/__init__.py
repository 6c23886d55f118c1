"""Free-text clinical notes read into facts with medspaCy.

`read_note` reads note text (also used for FHIR DocumentReference and DiagnosticReport text);
`read_note_file` reads a .txt note into a case for `vertebro assess`. The spaCy pipeline is built
on first use (pipeline.py) from the rules in `rules/` (rules.py).
"""

from vertebro.adapters.nlp.extract import (
    MAX_NOTE_BYTES,
    MAX_NOTE_CHARS,
    NoteReading,
    note_date_from_text,
    read_note,
    read_note_file,
)

__all__ = [
    "MAX_NOTE_BYTES",
    "MAX_NOTE_CHARS",
    "NoteReading",
    "note_date_from_text",
    "read_note",
    "read_note_file",
]
