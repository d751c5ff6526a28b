"""The chatbot's text substitutions, applied to a streamed answer across token boundaries.

A chatbot's ``substitutions`` (``{"!": "."}``, ``{"Acme Ltd": "Acme"}``; the seeds'
"exclamation replacement") rewrite the answer as it streams. An LLM splits text into tokens
anywhere, so a phrase may arrive as ``"Acme"`` then ``" Ltd"``: :class:`StreamingReplacer`
holds back only the tail of the text that could still become a match (``"Acme"`` while
``" Ltd"`` may follow) and releases everything before it at once, so a token that cannot start
a match is never delayed.
"""

from __future__ import annotations


class StreamingReplacer:
    """Applies ``substitutions`` to a stream of text pieces.

    Feed each piece to :meth:`feed`, which returns the text that is final (possibly ``""``
    while a possible match is held back); call :meth:`flush` at the end for the rest.
    Replacements are applied in the mapping's order to each released piece; an occurrence is
    never split between two released pieces. Empty keys are ignored.

    Args:
        substitutions: ``{phrase: replacement}``, case-sensitive.
    """

    __slots__ = ("_held", "_keys", "_substitutions")

    def __init__(self, substitutions: dict[str, str]) -> None:
        self._substitutions = {old: new for old, new in substitutions.items() if old}
        self._keys = tuple(self._substitutions)
        self._held = ""

    @property
    def held(self) -> str:
        """The text held back because it could still start a match (not yet released)."""
        return self._held

    def feed(self, text: str) -> str:
        """Take the next piece of the answer; return the text that is now final, substituted."""
        if not self._keys:
            return text
        buffer = self._held + text
        cut = self._safe_cut(buffer)
        self._held = buffer[cut:]
        return self.apply(buffer[:cut])

    def flush(self) -> str:
        """The held-back text, substituted (the answer has ended, so no match can complete)."""
        rest, self._held = self._held, ""
        return self.apply(rest)

    def apply(self, text: str) -> str:
        """``text`` with every substitution applied in order (for text that is complete, such as
        a fixed reply)."""
        for old, new in self._substitutions.items():
            if old in text:
                text = text.replace(old, new)
        return text

    def _safe_cut(self, buffer: str) -> int:
        """Where ``buffer`` can be split: before the longest tail that is a proper prefix of a
        phrase, and never inside a complete occurrence of one."""
        cut = len(buffer)
        for key in self._keys:
            for size in range(min(len(key) - 1, len(buffer)), 0, -1):
                if buffer.endswith(key[:size]):
                    cut = min(cut, len(buffer) - size)
                    break
        moved = True
        while moved and cut > 0:
            moved = False
            for key in self._keys:
                start = buffer.rfind(key, max(0, cut - len(key) + 1), cut + len(key) - 1)
                if start != -1 and start < cut < start + len(key):
                    cut, moved = start, True
        return cut
