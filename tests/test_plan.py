"""Render plans (formats/plan.py): the generated function gives what the leaf functions give, value for value and
error for error, and a mapping's text is data in it, never code."""

from __future__ import annotations

import pytest

from mlc.formats.errors import RenderError
from mlc.formats.plan import compile_leaf, compile_spec

SPECS = [
    {"path": "A"}, {"path": "A", "required": True}, {"path": "A", "default": "USD"},
    {"path": "A", "default": "USD", "required": True}, {"path": "A", "type": "amount"},
    {"path": "A", "type": "amount", "required": True}, {"path": "A", "type": "amount", "default": "0"},
    {"path": "A", "type": "number"}, {"path": "A", "type": "date"}, {"path": "A", "type": "date", "format": "%Y%m%d"},
    {"path": "A", "lookup": {"x": "X"}, "lookup_default": "?"}, {"path": "A.B"}, {"const": "RE"}, {"const": ""},
    {"const": "", "default": "D"},
]
VALUES = [None, "", "  ", "abc", "120.00", "120.5", "-0.005", "1e3", "1,234.50", 7, 1.25, 0, "2026-11-02",
          "2026-11-02T10:00:00", "11/02/2026", "2026-02-30", "9" * 20 + ".00", "x", {"B": "deep"}, "\x00ctl"]


def outcome(function, record):
    try:
        return "value", function(record, 3)
    except RenderError as exc:
        return "error", (exc.record, exc.field, exc.reason)


@pytest.mark.parametrize("spec", SPECS, ids=[str(s) for s in SPECS])
def test_the_plan_answers_as_the_leaf_does_for_every_value(spec):
    plan, leaf = compile_spec(spec, "parties[1].name"), compile_leaf(spec, "parties[1].name")
    for value in VALUES:
        record = {"A": value}
        assert outcome(plan, record) == outcome(leaf, record), value
    assert outcome(plan, {}) == outcome(leaf, {})


def test_groups_lists_and_repeats_keep_their_shape_and_name_the_field():
    spec = {"number": {"path": "ID", "required": True},
            "parties": [{"role": {"const": "RE"}, "name": {"path": "NAME"}}],
            "lines": {"path": "ITEMS.ITEM", "fields": {"amount": {"path": "AMT", "type": "amount", "required": True}}}}
    plan = compile_spec(spec)

    assert plan({"ID": 5, "NAME": "Acme", "ITEMS": {"ITEM": [{"AMT": "1"}, {"AMT": "2.50"}]}}, 1) == {
        "number": "5", "parties": [{"role": "RE", "name": "Acme"}], "lines": [{"amount": "1.00"}, {"amount": "2.50"}]}
    assert plan({"ID": "6", "ITEMS": {"ITEM": {"AMT": "3"}}}, 2)["lines"] == [{"amount": "3.00"}]  # one child
    assert outcome(plan, {"ID": "7", "ITEMS": {"ITEM": [{"AMT": ""}]}}) == ("error", (3, "lines.amount", "is required"))
    assert outcome(plan, {"ITEMS": {}}) == ("error", (3, "number", "is required"))


@pytest.mark.parametrize("text", ['x"); import os; os._exit(3) #', "x'\n__import__('os')._exit(3)\n'", "{__class__}"])
def test_a_mappings_text_is_data_in_the_plan_never_code(text):
    plan = compile_spec({text: {"path": text, "required": True}, "c": {"const": text},
                         "d": {"path": text, "default": text}}, text)

    assert plan({text: "v"}, 1) == {text: "v", "c": text, "d": "v"}
    assert outcome(plan, {}) == ("error", (3, f"{text}.{text}", "is required"))
    assert len(plan.__doc__.splitlines()) == 2  # its source: the def line and one return, the text quoted inside


@pytest.mark.parametrize("text", ["11/02/2026", "02/29/2024", "02/29/2026", "13/01/2026", "00/10/2026", "1/02/2026",
                                  "11/02/2026 10:00", "+1/02/2026", "11/0 /2026", "11/02/0000", "１１/02/2026",
                                  "12/31/9999", "2026-11-02", "2026-11-02T10:00:00", "20261102", "2026-13-02", "x"])
def test_dates_read_without_strptime_read_as_strptime_reads_them(text):
    from datetime import datetime

    from mlc.formats.values import as_date

    def by_strptime(value: str):
        for fmt in ("%Y-%m-%d", "%Y%m%d", "%m/%d/%Y"):
            try:
                return datetime.strptime(value[:10] if fmt != "%Y%m%d" else value, fmt).date()
            except ValueError:
                continue
        return "not a date"

    try:
        ours = as_date(text, "date", 1)
    except RenderError as exc:
        ours = "not a date" if "is not a date" in exc.reason else exc.reason
    assert ours == by_strptime(text)


def test_an_amount_of_more_than_fifteen_integer_digits_is_refused_even_when_already_at_two_places():
    plan = compile_spec({"path": "A", "type": "amount"}, "amount")
    assert plan({"A": "9" * 15 + ".00"}, 1) == "9" * 15 + ".00"
    with pytest.raises(RenderError, match="too large for an amount"):
        plan({"A": "9" * 16 + ".00"}, 1)  # a typing or export error, never written as it came
