"""The one set of crew rules (kpi_core/records/crews.py): parsing a technicians cell, settling a crew
(one lead, shares summing to 1, equal by default), and writing it back out."""

from __future__ import annotations

import pytest

from kpi_core.records.crews import (
    MAX_CREW,
    CrewMember,
    CrewProblem,
    crew_rows,
    format_crew,
    lead_of,
    parse_crew,
    settle_crew,
)


def settled(text: str) -> list[tuple[str, str | None, float | None]]:
    return [(member.technician, member.role, round(member.share or 0, 6)) for member in settle_crew(parse_crew(text))]


def test_parsing_reads_refs_roles_and_shares_and_checks_only_the_syntax():
    assert parse_crew(" T1 : Lead : 0.6 ; T2::0.4 ; T3 ;") == [
        CrewMember("T1", "lead", 0.6),
        CrewMember("T2", None, 0.4),
        CrewMember("T3", None, None),
    ]
    assert parse_crew("T1;T1") == [CrewMember("T1"), CrewMember("T1")]  # settle_crew refuses it


def test_members_without_a_share_split_what_the_others_leave_equally():
    assert settled("T1:lead;T2") == [("T1", "lead", 0.5), ("T2", "helper", 0.5)]
    assert settled("T1:lead:0.5;T2;T3") == [("T1", "lead", 0.5), ("T2", "helper", 0.25), ("T3", "helper", 0.25)]
    assert settled("T1") == [("T1", "lead", 1.0)]


def test_the_lead_comes_first_wherever_it_was_written():
    crew = settle_crew(parse_crew("T2:helper:0.3;T1:lead:0.7"))

    assert [member.technician for member in crew] == ["T1", "T2"]
    assert lead_of(crew) == "T1"


@pytest.mark.parametrize(
    ("text", "message", "member"),
    [
        ("T1;T2", "no technician is the lead", None),
        ("T1:helper", "no technician is the lead", None),
        ("T1:lead;T2:lead;T3:lead", "(T1 and T2 and T3 are all marked lead)", 1),
        ("T1:lead;T2:lead", "(T1 and T2 are both marked lead)", 1),
        ("T1:lead;T2;T2", "T2 is listed twice", 2),
        ("T1:lead:0.5;T2:helper:0.4", "the shares sum to 0.9; they must sum to 1", None),
        ("T1:lead:0.7;T2:0.5;T3", "role '0.5'", None),
        ("T1:lead:0.7;T2::0.5;T3", "the shares given already sum to 1.2", None),
        ("T1:lead:0;T2", "T1's share must be above 0 and at most 1", 0),
        ("T1:lead:nan;T2", "T1's share must be above 0 and at most 1", 0),
    ],
)
def test_a_crew_that_breaks_a_rule_says_which_and_where(text, message, member):
    with pytest.raises(CrewProblem) as raised:
        settle_crew(parse_crew(text))

    assert message in str(raised.value)
    if member is not None:
        assert raised.value.member == member


@pytest.mark.parametrize(
    ("text", "message", "member"),
    [
        ("T1:lead;:helper", "item 2 has no technician", 1),
        ("T1:lead:0.5:x", "has too many parts", 0),
        ("T1:chief", "T1's role 'chief' is not one of lead, helper", 0),
        ("T1:lead;T2:0.4", "(a share without a role is written T2::0.4)", 1),
        ("T1:lead:half", "T1's share 'half' is not a number such as 0.5", 0),
    ],
)
def test_a_cell_that_cannot_be_read_says_which_item(text, message, member):
    with pytest.raises(CrewProblem) as raised:
        parse_crew(text)

    assert message in str(raised.value)
    assert raised.value.member == member


def test_an_empty_crew_and_a_crew_too_large_are_refused():
    with pytest.raises(CrewProblem, match="at least one technician"):
        settle_crew([])
    with pytest.raises(CrewProblem, match=f"at most {MAX_CREW}"):
        settle_crew([CrewMember(f"T{n}", "lead" if n == 0 else None) for n in range(MAX_CREW + 1)])


def test_shares_rounded_to_hundredths_sum_to_one():
    assert [share for _, _, share in settled("T1:lead:0.33;T2::0.33;T3::0.34")] == [0.33, 0.33, 0.34]


def test_a_crew_is_written_back_as_a_cell_and_as_job_assignments_rows():
    equal = settle_crew(parse_crew("T1:lead;T2;T3"))
    given = settle_crew([CrewMember(7, "lead", 0.6), CrewMember(9, None, 0.4)])

    assert format_crew(equal) == "T1:lead;T2:helper;T3:helper"
    assert format_crew(settle_crew(parse_crew("T1:lead:0.6;T2::0.4"))) == "T1:lead:0.6;T2:helper:0.4"
    assert crew_rows(5, given) == [
        {"job_id": 5, "technician_id": 7, "role": "lead", "share": 0.6},
        {"job_id": 5, "technician_id": 9, "role": "helper", "share": 0.4},
    ]
