"""The check a synchronization schema passes before it is saved (job schema PUT, template schema
PUT, template PATCH with a schema).

Every object mapping of every rule is compiled as a cycle compiles it, so a schema that is saved
is one every cycle can run: each attribute-mapping source (its expression text, or its tree when
there is no text) and each scoping filter (`scope`: groups, inputFilterGroups and
categoryFilterGroups). A bad one is a 400 naming the object mapping, the target attribute and
the position in the expression text (or the scoping group and clause); nothing is saved.

Choice where the reference is silent: a Function source's `expression` text must parse. A cycle
falls back on the tree when the text does not parse, but a saved text that cannot be read back
would show administrators one mapping while the engine runs another. Attribute and Constant
sources keep that fallback: their tree (`name`) says all there is.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from provisiond.mapping.flows import MappingError, compile_object_mapping
from provisiond.services.errors import BadRequest

INVALID_SCHEMA = "InvalidSchema"


def validate_schema(schema: Mapping[str, Any]) -> None:
    """Raise BadRequest for the first object mapping that does not compile."""
    rules = schema.get("synchronizationRules") or []
    for rule in rules:
        for mapping in rule.get("objectMappings") or []:
            try:
                compile_object_mapping(mapping, strict=True)
            except MappingError as exc:
                where = (
                    f" (synchronization rule '{rule.get('name') or rule.get('id')}')"
                    if len(rules) > 1
                    else ""
                )
                raise BadRequest(f"{exc}{where}", code=INVALID_SCHEMA) from None
