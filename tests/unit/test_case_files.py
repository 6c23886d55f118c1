"""Where case-file evidence points: a file line when there is one, nothing invented otherwise."""

from __future__ import annotations

from vertebro.adapters.case_files import parse_facts
from vertebro.adapters.yaml_lines import load


def test_facts_from_a_yaml_file_point_at_their_line() -> None:
    data = load("facts:\n  pain.score: 7\n  fracture.aetiology:\n    value: osteoporotic\n"
                "    source: MRI report\n")
    facts = parse_facts(data["facts"], "case.yaml")
    assert facts["pain.score"].evidence[0].location == "line 2"
    assert facts["fracture.aetiology"].evidence[0].location == "case.yaml line 3"


def test_facts_from_json_sent_to_the_api_have_no_made_up_line() -> None:
    facts = parse_facts({"pain.score": 7, "fracture.aetiology": {
        "value": "osteoporotic", "source": "MRI report"}}, "answers")
    assert facts["pain.score"].evidence[0].location is None
    assert facts["fracture.aetiology"].evidence[0].location == "answers"
