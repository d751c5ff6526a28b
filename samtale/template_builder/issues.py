"""The validator's result: issues with a component path, a rule id and a plain-language message."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class Issue(BaseModel):
    """One broken rule (an error) or one risk (a warning).

    Attributes:
        path: where, in payload terms: ``name``, ``components[1].buttons[0].text``.
        rule: a stable rule id such as ``body.max_length``.
        message: a sentence a marketer understands, saying what to change.
    """

    path: str
    rule: str
    message: str


class ValidationResult(BaseModel):
    """The verdict on one payload: valid when there is no error (warnings do not count)."""

    valid: bool
    errors: list[Issue] = Field(default_factory=list)
    warnings: list[Issue] = Field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """``{"valid", "errors": [{"path", "rule", "message"}], "warnings": [...]}``."""
        return self.model_dump(mode="json")

    def summary(self) -> str:
        """One line per error, for a chat reply or a terminal."""
        return "\n".join(f"- {issue.path}: {issue.message}" for issue in self.errors)


class Collector:
    """Accumulates issues while the rules run."""

    def __init__(self) -> None:
        self.errors: list[Issue] = []
        self.warnings: list[Issue] = []

    def error(self, path: str, rule: str, message: str) -> None:
        """Record a broken rule."""
        self.errors.append(Issue(path=path, rule=rule, message=message))

    def warn(self, path: str, rule: str, message: str) -> None:
        """Record a risk that does not block submission."""
        self.warnings.append(Issue(path=path, rule=rule, message=message))

    def result(self) -> ValidationResult:
        """The collected verdict."""
        return ValidationResult(valid=not self.errors, errors=self.errors, warnings=self.warnings)
