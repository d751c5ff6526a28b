"""What a catalogue index offers question filters: its numeric fields and the values of its categorical
fields (:class:`CatalogueFields`, read from the chunks' metadata), with the country and colour aliases
in English and Danish that name those values. See :mod:`samtale.knowledge.question_filters`."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from samtale.knowledge.lexical import fold
from samtale.knowledge.types import MetadataValue

#: Categorical field names (folded, non-word runs as ``_``), in priority order.
CATEGORICAL_FIELDS = (
    "country",
    "province",
    "region",
    "region_1",
    "regionname",
    "region_name",
    "variety",
    "grape",
    "type",
    "wine_type",
    "color",
    "colour",
    "product_type",
    "category",
)
#: Share of an index's chunks that must carry a field before questions are filtered on it.
MIN_FIELD_COVERAGE = 0.5
#: A categorical field with more distinct values than this is left out (it is a name, not a category).
MAX_VALUES_PER_FIELD = 5000
STOP_VALUES = frozenset({"other", "others", "unknown", "n/a", "none", "misc", "various", "blend"})

COUNTRY_ALIASES: dict[str, tuple[str, ...]] = {
    "us": ("usa", "u s a", "united states", "america", "american", "amerika", "amerikansk", "amerikanske"),
    "italy": ("italien", "italian", "italiensk", "italienske"),
    "france": ("frankrig", "french", "fransk", "franske"),
    "spain": ("spanien", "spanish", "spansk", "spanske"),
    "germany": ("tyskland", "german", "tysk", "tyske"),
    "portugal": ("portuguese", "portugisisk", "portugisiske"),
    "austria": ("østrig", "austrian", "østrigsk", "østrigske"),
    "south africa": ("sydafrika", "south african", "sydafrikansk", "sydafrikanske"),
    "australia": ("australien", "australian", "australsk", "australske"),
    "new zealand": ("new zealandsk", "newzealandsk"),
    "chile": ("chilean", "chilensk", "chilenske"),
    "argentina": ("argentinian", "argentine", "argentinsk", "argentinske"),
    "greece": ("grækenland", "greek", "græsk", "græske"),
    "hungary": ("ungarn", "hungarian", "ungarsk", "ungarske"),
    "california": ("californian", "californien", "californisk", "californiske"),
}
COLOUR_ALIASES: dict[str, tuple[str, ...]] = {
    "red": ("reds", "red wine", "red wines", "røde", "rødvin", "rødvine", "rød vin", "røde vine", "rød"),
    "white": ("whites", "white wine", "white wines", "hvide", "hvidvin", "hvidvine", "hvid vin", "hvide vine", "hvid"),
    "rosé": ("rose", "rosé wine", "rosévin", "rosevin"),
    "sparkling": ("sparkling wine", "bubbles", "mousserende", "mousserende vin", "bobler"),
    "dessert": ("dessert wine", "dessertvin", "sweet wine", "hedvin"),
}
COLOUR_FIELDS = frozenset({"type", "wine_type", "color", "colour"})

_WORDS_RE = re.compile(r"[^\w$€£]+")


def field_key(name: str) -> str:
    """A metadata field name folded, non-alphanumeric runs as ``_`` (``Region 1`` → ``region_1``)."""
    return re.sub(r"[^a-z0-9]+", "_", fold(name)).strip("_")


def normal_text(text: str) -> str:
    """``text`` folded, its words separated by single spaces, with a space at each end (so phrases
    match as whole words)."""
    return " " + _WORDS_RE.sub(" ", fold(text)).strip() + " "


@dataclass(slots=True)
class CatalogueFields:
    """What an index's metadata offers for filters: numeric fields and categorical values.

    Attributes:
        numeric: ``{field: (smallest, largest)}`` for fields holding numbers.
        values: ``{field: {folded value: value as stored}}`` for categorical fields (see module doc).
        price_field: the price field, if any; ``points_field``: the rating field, if any.
    """

    numeric: dict[str, tuple[float, float]] = field(default_factory=dict)
    values: dict[str, dict[str, str]] = field(default_factory=dict)
    price_field: str | None = None
    points_field: str | None = None
    _patterns: list[tuple[str, re.Pattern[str], dict[str, str]]] = field(default_factory=list)

    @classmethod
    def from_metadata(cls, metadata: Sequence[Mapping[str, MetadataValue]]) -> CatalogueFields:
        """Inspect every chunk's metadata (CPU-bound: run it in a worker thread for big indexes)."""
        numbers: dict[str, list[float]] = {}
        strings: dict[str, dict[str, str]] = {}
        carried: dict[str, int] = {}
        for row in metadata:
            for name, value in row.items():
                if isinstance(value, bool) or value is None:
                    continue
                if isinstance(value, int | float):
                    numbers.setdefault(name, []).append(float(value))
                    carried[name] = carried.get(name, 0) + 1
                elif isinstance(value, str) and field_key(name) in CATEGORICAL_FIELDS and value.strip():
                    strings.setdefault(name, {}).setdefault(fold(value).strip(), value)
                    carried[name] = carried.get(name, 0) + 1
        # A filter excludes every chunk without its field, so a field only some of the catalogue
        # carries (a `colour` column of one feed among several) would hide the rest: skip it.
        least = MIN_FIELD_COVERAGE * len(metadata)
        numbers = {name: found for name, found in numbers.items() if carried[name] >= least}
        strings = {name: found for name, found in strings.items() if carried[name] >= least}
        fields = cls(numeric={name: (min(found), max(found)) for name, found in numbers.items()})
        order = {key: position for position, key in enumerate(CATEGORICAL_FIELDS)}
        for name in sorted(strings, key=lambda n: order[field_key(n)]):
            if len(strings[name]) <= MAX_VALUES_PER_FIELD:
                fields.values[name] = strings[name]
        for name in fields.numeric:
            key = field_key(name)
            if fields.price_field is None and (key == "price" or key.endswith("price")):
                fields.price_field = name
            if fields.points_field is None and key in ("points", "rating"):
                fields.points_field = name
        fields._compile()
        return fields

    def _compile(self) -> None:
        for name, known in self.values.items():
            phrases: dict[str, str] = {}
            for folded, original in known.items():
                if folded in STOP_VALUES or len(folded) <= 3:
                    continue
                phrases[normal_text(original).strip()] = original
            aliases = COLOUR_ALIASES if field_key(name) in COLOUR_FIELDS else COUNTRY_ALIASES
            for canonical, words in aliases.items():
                target = known.get(canonical) or next(
                    (original for folded, original in known.items() if folded.split(" ")[0] == canonical), None
                )
                if target is not None:
                    for word in (canonical, *words):
                        if len(word) > 2:  # "us" is a pronoun: short names match only in their own case
                            phrases.setdefault(normal_text(word).strip(), target)
            phrases.pop("", None)
            if phrases:
                alternation = "|".join(re.escape(p) for p in sorted(phrases, key=len, reverse=True))
                self._patterns.append((name, re.compile(rf"(?<= )(?:{alternation})(?= )"), phrases))

    @property
    def patterns(self) -> list[tuple[str, re.Pattern[str], dict[str, str]]]:
        """``(field, pattern, {phrase: value as stored})`` per categorical field, in priority order:
        each pattern matches the field's known phrases (and aliases) in :func:`normal_text` of a
        question."""
        return self._patterns

    @property
    def empty(self) -> bool:
        """True when no rule can ever apply (no price, rating or categorical field)."""
        return self.price_field is None and self.points_field is None and not self.values

    def describe(self, *, examples: int = 12) -> list[dict[str, Any]]:
        """The fields for an LLM prompt: name, kind, range or some example values."""
        described: list[dict[str, Any]] = [
            {"field": name, "kind": "number", "min": low, "max": high} for name, (low, high) in self.numeric.items()
        ]
        for name, known in self.values.items():
            described.append({"field": name, "kind": "category", "examples": sorted(known.values())[:examples]})
        return described

    def short_values(self) -> dict[str, dict[str, str]]:
        """``{field: {value: value}}`` of values of three letters or fewer (matched case-sensitively)."""
        return {
            name: {original: original for folded, original in known.items() if 0 < len(folded) <= 3}
            for name, known in self.values.items()
        }
