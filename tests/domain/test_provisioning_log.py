"""The provisioning log's property changes (domain/provisioning_log.py)."""

from __future__ import annotations

from provisiond.domain.provisioning_log import PropertyChange, property_changes


def test_a_value_equal_as_text_is_no_change() -> None:
    """The app answers `true` where the mapping computes "True"; a matched user must not show
    `active: True -> True` in its entry or in a preview."""
    assert property_changes({"active": True, "title": "A"}, {"active": "True", "title": "B"}) == [
        PropertyChange("title", "A", "B")
    ]


def test_added_and_removed_values_are_changes_from_and_to_none() -> None:
    assert property_changes({"mail": "a@x"}, {"title": "T"}) == [
        PropertyChange("mail", "a@x", None),
        PropertyChange("title", None, "T"),
    ]
