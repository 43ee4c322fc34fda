"""The errors of the expression language, apart so that every mapping module can raise them."""

from __future__ import annotations


class ExpressionError(ValueError):
    """Any problem with an attribute-mapping expression."""


class ExpressionSyntaxError(ExpressionError):
    """Text (or a Graph tree) that is not a valid expression.

    `position` is the 0-based character offset the message names, or None when the expression
    came from a tree or an AST and has no text position.
    """

    def __init__(self, message: str, position: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.position = position


class ExpressionEvaluationError(ExpressionError):
    """A valid expression that cannot be evaluated for one object (bad date, Item(..., 0) ...).

    The engine treats it as an export failure of that object, like Entra's escrow.
    """
