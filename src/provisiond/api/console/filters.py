"""Scoping filters as the console shows and edits them: an object mapping's `scope.groups`
(the filter whose leavers are deprovisioned) as readable clauses, and the editor's form read
back into Graph's filterGroup shape.

Groups are OR-ed and the clauses of a group AND-ed (mapping/scoping.py). The operators offered
are exactly the engine's (`FILTER_OPERATORS`, what `schema/filterOperators` serves); what a
clause means is checked by the schema validation Save runs, not here, so the console accepts
and refuses exactly what PUT .../schema does. `inputFilterGroups` and `categoryFilterGroups`
(experimental in Graph) are shown but not edited, and a save keeps them as they are.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from provisiond.graph.enums import ScopeOperatorType
from provisiond.mapping.scoping import FILTER_OPERATORS

MAX_GROUPS = 50
MAX_CLAUSES = 50
DEFAULT_OPERATOR = "EQUALS"

# What each operator means, in a few words (mapping/scoping.py has the exact semantics).
MEANINGS = {
    "&": "has all bits of the mask set",
    "!&": "lacks some bit of the mask",
    "ENDS_WITH": "ends with",
    "EQUALS": "is one of the values",
    "Greater_Than": "integer greater than",
    "Greater_Than_OR_EQUALS": "integer at least",
    "Includes": "contains",
    "IS FALSE": "is false",
    "IS NOT NULL": "has a value",
    "IS NULL": "has no value",
    "IS TRUE": "is true",
    "NOT EQUALS": "is none of the values",
    "NOT REGEX MATCH": "matches no regular expression",
    "REGEX MATCH": "matches a regular expression",
}
NEGATED = frozenset({"!&", "NOT EQUALS", "NOT REGEX MATCH"})
SETS = (
    ("groups", "Scoping filter"),
    ("inputFilterGroups", "Input filter"),
    ("categoryFilterGroups", "Category filter"),
)


def operators() -> list[dict[str, Any]]:
    """The operators the editor offers, in the engine's order."""
    return [
        {
            "name": name,
            "unary": spec.arity is ScopeOperatorType.Unary,
            "meaning": MEANINGS.get(name, ""),
            "types": ", ".join(t.value for t in spec.supported_attribute_types),
        }
        for name, spec in FILTER_OPERATORS.items()
    ]


def _known(operator: str) -> str | None:
    """The engine's spelling of an operator name (matched case-insensitively, as it does)."""
    folded = operator.casefold()
    return next((name for name in FILTER_OPERATORS if name.casefold() == folded), None)


def is_unary(operator: str) -> bool:
    known = _known(operator)
    return known is not None and FILTER_OPERATORS[known].arity is ScopeOperatorType.Unary


def clause_values(clause: Mapping[str, Any]) -> list[str]:
    return [str(v) for v in ((clause.get("targetOperand") or {}).get("values") or [])]


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def clause_text(clause: Mapping[str, Any]) -> str:
    """`department EQUALS "Sales" or "Marketing"`, `accountEnabled IS TRUE`."""
    attribute = str(clause.get("sourceOperandName") or "(no attribute)")
    operator = str(clause.get("operatorName") or "(no operator)")
    values = clause_values(clause)
    if is_unary(operator) or not values:
        return f"{attribute} {operator}"
    if len(values) == 1:
        return f"{attribute} {operator} {_quoted(values[0])}"
    if (_known(operator) or operator) in NEGATED:
        return f"{attribute} {operator} any of {', '.join(map(_quoted, values))}"
    return f"{attribute} {operator} {' or '.join(map(_quoted, values))}"


def group_text(group: Mapping[str, Any]) -> str:
    clauses = group.get("clauses") or []
    if not clauses:
        return "(no clauses: always true)"
    return " and ".join(clause_text(c) for c in clauses)


def scope_text(groups: Sequence[Mapping[str, Any]]) -> str:
    """A whole set of groups on one line; '' when there are none."""
    if len(groups) == 1:
        return group_text(groups[0])
    return " or ".join(f"({group_text(g)})" for g in groups)


def scope_view(scope: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """Each non-empty filter set of an object mapping's scope, its groups as readable clauses."""
    sets = []
    for key, title in SETS:
        groups = list((scope or {}).get(key) or [])
        if key == "groups" or groups:
            sets.append(
                {
                    "key": key,
                    "title": title,
                    "groups": [
                        {
                            "name": g.get("name") or "",
                            "clauses": [clause_text(c) for c in g.get("clauses") or []],
                        }
                        for g in groups
                    ],
                }
            )
    return sets


def editor_groups(groups: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The groups as the editor's form fields show them."""
    return [
        {
            "name": str(group.get("name") or ""),
            "clauses": [
                {
                    "attribute": str(clause.get("sourceOperandName") or ""),
                    "operator": _known(str(clause.get("operatorName") or ""))
                    or str(clause.get("operatorName") or ""),
                    "values": "\n".join(clause_values(clause)),
                }
                for clause in group.get("clauses") or []
            ],
        }
        for group in groups
    ]


def _count(form: Mapping[str, Any], name: str, limit: int, what: str) -> int:
    try:
        count = int(str(form.get(name) or "0"))
    except ValueError:
        raise ValueError(f"The form's {name} is not a number.") from None
    if not 0 <= count <= limit:
        raise ValueError(f"A scoping filter has at most {limit} {what}.")
    return count


def groups_from_form(form: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The editor's fields as Graph filterGroups (ValueError for a malformed form). A unary
    operator's values are dropped (it takes none); nothing else is judged here."""
    groups = []
    for g in range(_count(form, "groups", MAX_GROUPS, "groups")):
        clauses = []
        for c in range(_count(form, f"g{g}-clauses", MAX_CLAUSES, "clauses in a group")):
            prefix = f"g{g}-c{c}-"
            operator = str(form.get(prefix + "operator") or "").strip()
            values = [v.strip() for v in str(form.get(prefix + "values") or "").splitlines() if v.strip()]
            clauses.append(
                {
                    "sourceOperandName": str(form.get(prefix + "attribute") or "").strip(),
                    "operatorName": _known(operator) or operator,
                    "targetOperand": {"values": [] if is_unary(operator) else values},
                }
            )
        name = str(form.get(f"g{g}-name") or "").strip()
        groups.append({"name": name or None, "clauses": clauses})
    return groups


def restructure(groups: list[dict[str, Any]], op: str) -> tuple[list[dict[str, Any]], str | None]:
    """Add or remove a group or a clause (`add-group`, `remove-group:G`, `add-clause:G`,
    `remove-clause:G:C`); the new groups and the id of the field to focus next. ValueError for an
    operation on nothing, or beyond the limits."""
    kind, _, where = op.partition(":")
    try:
        indexes = [int(i) for i in where.split(":")] if where else []
    except ValueError:
        raise ValueError("That button names no group or clause.") from None
    empty_clause = {
        "sourceOperandName": "",
        "operatorName": DEFAULT_OPERATOR,
        "targetOperand": {"values": []},
    }
    try:
        if kind == "add-group" and not indexes:
            if len(groups) >= MAX_GROUPS:
                raise ValueError(f"A scoping filter has at most {MAX_GROUPS} groups.")
            groups.append({"name": None, "clauses": [dict(empty_clause)]})
            return groups, f"g{len(groups) - 1}-c0-attribute"
        if kind == "remove-group" and len(indexes) == 1:
            groups.pop(_index(indexes[0], groups))
            return groups, "add-group"
        if kind == "add-clause" and len(indexes) == 1:
            clauses = groups[_index(indexes[0], groups)]["clauses"]
            if len(clauses) >= MAX_CLAUSES:
                raise ValueError(f"A group has at most {MAX_CLAUSES} clauses.")
            clauses.append(dict(empty_clause))
            return groups, f"g{indexes[0]}-c{len(clauses) - 1}-attribute"
        if kind == "remove-clause" and len(indexes) == 2:
            clauses = groups[_index(indexes[0], groups)]["clauses"]
            clauses.pop(_index(indexes[1], clauses))
            return groups, f"g{indexes[0]}-add-clause"
    except IndexError:
        raise ValueError("That group or clause is not in the filter any more.") from None
    raise ValueError("That button names no group or clause.")


def _index(index: int, items: Sequence[Any]) -> int:
    if not 0 <= index < len(items):
        raise IndexError
    return index
