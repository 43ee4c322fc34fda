"""The mapping editors' pages, rendered for the routes that open them, refuse their input, or
go back to them from a review (mappings.py, review.py)."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from provisiond.api.console.identity import Console
from provisiond.api.console.jobs import JobView
from provisiond.api.console.pages import page


def attribute_editor(
    console: Console,
    view: JobView,
    positions: tuple[int, int, int],
    attribute: dict[str, Any],
    expression: str,
    sample: str = "",
    status: int = 200,
    **more: Any,
) -> Response:
    """One attribute mapping's expression with its Test box and Save."""
    return page(
        console.request,
        "mapping_edit.html",
        console,
        status=status,
        view=view,
        positions=dict(zip(("rule", "object", "attr"), positions, strict=True)),
        attribute=attribute,
        expression=expression,
        sample=sample,
        **more,
    )
