"""Template variables (``{{1}}`` positional or ``{{first_name}}`` named) found in component text.

Source: Meta, "Template components" — parameters are positional (``{{1}}``, ``{{2}}``…, sequential
from 1) or named (lowercase letters, digits and underscores); a template uses one kind, never both.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

PLACEHOLDER = re.compile(r"\{\{([^{}]*)\}\}")
POSITIONAL = re.compile(r"^[1-9][0-9]*$")
NAMED = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(slots=True)
class Variables:
    """The variables of one text, in order of appearance.

    Attributes:
        positional: the numbers of ``{{n}}`` placeholders, in order, repeats kept.
        named: the names of ``{{name}}`` placeholders, in order, repeats kept.
        invalid: placeholders that are neither (``{{First Name}}``, ``{{ 1 }}``, ``{{}}``).
    """

    positional: list[int] = field(default_factory=list)
    named: list[str] = field(default_factory=list)
    invalid: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        """Number of distinct variables (repeats of one variable count once)."""
        return len(set(self.positional)) + len(set(self.named))

    @property
    def distinct_named(self) -> list[str]:
        """Named variables in order of first appearance, without repeats."""
        return list(dict.fromkeys(self.named))


def find_variables(text: str) -> Variables:
    """Parse every ``{{…}}`` placeholder of ``text``."""
    found = Variables()
    for match in PLACEHOLDER.finditer(text):
        inner = match.group(1)
        if POSITIONAL.match(inner):
            found.positional.append(int(inner))
        elif NAMED.match(inner):
            found.named.append(inner)
        else:
            found.invalid.append(match.group(0))
    return found


def words_outside_variables(text: str) -> int:
    """Number of words in ``text`` once every placeholder is removed."""
    return len(PLACEHOLDER.sub(" ", text).split())
