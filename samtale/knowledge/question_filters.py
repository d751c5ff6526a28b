"""Question → metadata filters for product questions ("under $30", "from Oregon", "a Pinot Noir").

Rules first (:func:`rule_filters`), the chatbot's LLM where a flow asks for it
(:class:`LLMFilterExtractor`, structured output). Either only proposes filters on fields the
catalogue index really has, with values it really holds (:class:`CatalogueFields`, read from the
index's chunk metadata), so a policy index or a question about shipping gets no filter.

Rules, in English and Danish:

* Price (the first numeric field named ``price`` or ``…price``): an amount needs a currency cue
  (``$``, ``dollars``, ``kr``, ``kroner``, ``DKK``, ``€``, ``euro``, ``£``) so "over 90 points" or
  "under 5 years" is never a price. ``under/below/less than/cheaper than/mindre end/billigere end``
  → ``lt``; ``at most/max/up to/no more than/højst/op til/maks`` → ``lte``; ``over/above/more
  than/mere end/dyrere end`` → ``gt``; ``at least/from/min/mindst/fra`` → ``gte``;
  ``between A and B``/``mellem A og B``/``A-B $`` → ``gte A, lte B``. Amounts are taken in the
  catalogue's own currency: no exchange rates are applied.
* Points/ratings (a numeric field named ``points`` or ``rating``): "90+ points", "over 90 points",
  "at least 92 point".
* Known values of categorical fields (country, province, region, variety, type/colour…), matched
  case- and accent-insensitively as whole words (values of three letters or fewer, like ``US``,
  only in the same case), plus country names and adjectives in English and Danish ("fra
  Italien", "italiensk", "American") and wine colours ("rødvin" → a ``type`` of ``Red``). A longer
  match wins over a shorter one inside it ("Tinta de Toro" over "Toro"); "not"/"ikke"/"except"
  just before a value makes it ``ne``.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from samtale.knowledge.filters import Filters
from samtale.knowledge.lexical import fold
from samtale.knowledge.types import MetadataValue
from samtale.llm.base import ChatMessage, GenerationRequest, LLMProvider

FilterMode = Literal["off", "rules", "llm"]

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

_NUM = r"(\d{1,7}(?:[.,]\d{1,2})?)"
_CUR = r"(?:\$|us\$|usd|dollars?|bucks|kr\.?|kroner|kroner\b|dkk|€|eur|euros?|£|gbp|pounds?)"
_AMOUNT = rf"(?:{_CUR}\s*{_NUM}|{_NUM}\s*{_CUR})"
_BARE_OR_AMOUNT = rf"(?:{_CUR}\s*)?{_NUM}(?:\s*{_CUR})?"
_LT = r"under|below|less than|cheaper than|mindre end|billigere end|lavere end|for under"
_LTE = r"at most|max(?:imum)?|up to|no more than|not more than|højst|op til|maks(?:imalt)?|ikke over"
_GT = r"over|above|more than|mere end|dyrere end"
_GTE = r"at least|from|starting at|min(?:imum)?|mindst|fra"
_BOUND_RE = re.compile(rf"\b(?P<op>{_LT}|{_LTE}|{_GT}|{_GTE})\s+(?:about\s+|ca\.?\s+|omkring\s+)?{_AMOUNT}", re.I)
_BETWEEN_RE = re.compile(
    rf"\b(?:between|mellem|from|fra)\s+{_BARE_OR_AMOUNT}\s+(?:and|og|to|til|-|–)\s+{_BARE_OR_AMOUNT}", re.I
)
_RANGE_RE = re.compile(rf"{_BARE_OR_AMOUNT}\s*(?:-|–)\s*{_BARE_OR_AMOUNT}", re.I)
_POINTS_RE = re.compile(
    r"\b(?:(?P<op>over|above|more than|at least|min(?:imum)?|mindst|over|mere end)\s+(?P<a>\d{2,3})"
    r"|(?P<b>\d{2,3})\s*\+|(?P<c>\d{2,3})\s+or\s+(?:more|higher|better))\s*(?:points?|pts|point)\b",
    re.I,
)
_NEGATION_RE = re.compile(r"(?:\bnot|\bno|\bikke|\bexcept|\bundtagen|\bwithout|\buden|\bbut not)\s+(?:\w+\s+){0,2}$")
_WORDS_RE = re.compile(r"[^\w$€£]+")


def _field_key(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", fold(name)).strip("_")


def _normal(text: str) -> str:
    return " " + _WORDS_RE.sub(" ", fold(text)).strip() + " "


def _number(text: str | None) -> float | None:
    if text is None:
        return None
    value = float(text.replace(",", "."))
    return int(value) if value.is_integer() else value


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
                elif isinstance(value, str) and _field_key(name) in CATEGORICAL_FIELDS and value.strip():
                    strings.setdefault(name, {}).setdefault(fold(value).strip(), value)
                    carried[name] = carried.get(name, 0) + 1
        # A filter excludes every chunk without its field, so a field only some of the catalogue
        # carries (a `colour` column of one feed among several) would hide the rest: skip it.
        least = MIN_FIELD_COVERAGE * len(metadata)
        numbers = {name: found for name, found in numbers.items() if carried[name] >= least}
        strings = {name: found for name, found in strings.items() if carried[name] >= least}
        fields = cls(numeric={name: (min(found), max(found)) for name, found in numbers.items()})
        order = {key: position for position, key in enumerate(CATEGORICAL_FIELDS)}
        for name in sorted(strings, key=lambda n: order[_field_key(n)]):
            if len(strings[name]) <= MAX_VALUES_PER_FIELD:
                fields.values[name] = strings[name]
        for name in fields.numeric:
            key = _field_key(name)
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
                phrases[_normal(original).strip()] = original
            aliases = COLOUR_ALIASES if _field_key(name) in COLOUR_FIELDS else COUNTRY_ALIASES
            for canonical, words in aliases.items():
                target = known.get(canonical) or next(
                    (original for folded, original in known.items() if folded.split(" ")[0] == canonical), None
                )
                if target is not None:
                    for word in (canonical, *words):
                        if len(word) > 2:  # "us" is a pronoun: short names match only in their own case
                            phrases.setdefault(_normal(word).strip(), target)
            phrases.pop("", None)
            if phrases:
                alternation = "|".join(re.escape(p) for p in sorted(phrases, key=len, reverse=True))
                self._patterns.append((name, re.compile(rf"(?<= )(?:{alternation})(?= )"), phrases))

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


def _price_filters(question: str, price_field: str) -> dict[str, float]:
    bounds: dict[str, float] = {}
    for match in _BETWEEN_RE.finditer(question):
        text = match.group(0)
        if re.search(_CUR, text, re.I):
            numbers = [n for n in match.groups() if n is not None]
            low, high = sorted((_number(numbers[0]) or 0, _number(numbers[-1]) or 0))
            return {"gte": low, "lte": high}
    for match in _RANGE_RE.finditer(question):
        if re.search(_CUR, match.group(0), re.I):
            numbers = [n for n in match.groups() if n is not None]
            low, high = sorted((_number(numbers[0]) or 0, _number(numbers[-1]) or 0))
            if low < high:
                return {"gte": low, "lte": high}
    for match in _BOUND_RE.finditer(question):
        operator = fold(match.group("op"))
        amount = _number(next(n for n in match.groups()[1:] if n is not None))
        if amount is None:
            continue
        if re.fullmatch(_LT, operator, re.I):
            bounds["lt"] = amount
        elif re.fullmatch(_LTE, operator, re.I):
            bounds["lte"] = amount
        elif re.fullmatch(_GT, operator, re.I):
            bounds["gt"] = amount
        else:
            bounds["gte"] = amount
    return bounds


def _points_filters(question: str) -> dict[str, float]:
    match = _POINTS_RE.search(question)
    if match is None:
        return {}
    if match.group("a") is not None:
        operator = fold(match.group("op"))
        value = _number(match.group("a")) or 0
        return {"gt": value} if operator in ("over", "above", "more than", "mere end") else {"gte": value}
    return {"gte": _number(match.group("b") or match.group("c")) or 0}


def rule_filters(question: str, fields: CatalogueFields) -> dict[str, Any]:
    """Filters the rules find in ``question`` for a catalogue with ``fields`` (``{}`` when none)."""
    found: dict[str, Any] = {}
    if fields.price_field is not None:
        price = _price_filters(question, fields.price_field)
        if price:
            found[fields.price_field] = price
    if fields.points_field is not None:
        points = _points_filters(question)
        if points:
            found[fields.points_field] = points
    normal = _normal(question)
    candidates: list[tuple[int, int, int, str, str]] = []  # (-length, priority, start, field, value)
    for priority, (name, pattern, phrases) in enumerate(fields._patterns):
        for match in pattern.finditer(normal):
            candidates.append((-len(match.group(0)), priority, match.start(), name, phrases[match.group(0)]))
    for priority, (name, short) in enumerate(fields.short_values().items()):
        for value in short:
            for match in re.finditer(rf"(?<![\w]){re.escape(value)}(?![\w])", question):
                prefix = question[: match.start()]
                start = len(_normal(prefix)) if prefix.strip() else 1
                candidates.append((-len(value), priority, start, name, value))
    taken: list[tuple[int, int]] = []
    positive: dict[str, list[str]] = {}
    negative: dict[str, list[str]] = {}
    for length, _, start, name, value in sorted(candidates):
        end = start - length
        if any(start < other_end and other_start < end for other_start, other_end in taken):
            continue
        taken.append((start, end))
        target = negative if _NEGATION_RE.search(normal[:start]) else positive
        if value not in target.setdefault(name, []):
            target[name].append(value)
    for name, values in positive.items():
        found[name] = values[0] if len(values) == 1 else values
    for name, values in negative.items():
        if name not in found:
            found[name] = {"ne": values[0]}
    return found


def filters_schema(fields: CatalogueFields) -> dict[str, Any]:
    """The OpenAI ``response_format`` asking for ``{"filters": [{field, op, value}]}`` over ``fields``."""
    names = list(fields.numeric) + list(fields.values)
    return {
        "type": "json_schema",
        "json_schema": {
            "name": "catalogue_filters",
            "strict": True,
            "schema": {
                "type": "object",
                "properties": {
                    "filters": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "field": {"type": "string", "enum": names},
                                "op": {"type": "string", "enum": ["eq", "in", "lt", "lte", "gt", "gte"]},
                                "value": {"type": ["string", "number", "array"], "items": {"type": "string"}},
                            },
                            "required": ["field", "op", "value"],
                            "additionalProperties": False,
                        },
                    }
                },
                "required": ["filters"],
                "additionalProperties": False,
            },
        },
    }


def validated_llm_filters(answer: str, fields: CatalogueFields) -> dict[str, Any]:
    """The filters of an LLM's JSON answer that name real fields with values the catalogue holds.

    Anything else (unknown field or value, a range on a category, text that is not JSON) is dropped.
    """
    try:
        document = json.loads(answer)
    except ValueError:
        return {}
    items = document.get("filters") if isinstance(document, dict) else None
    found: dict[str, Any] = {}
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        name, operator, value = item.get("field"), item.get("op"), item.get("value")
        if name in fields.numeric and operator in ("lt", "lte", "gt", "gte", "eq"):
            if isinstance(value, int | float) and not isinstance(value, bool):
                found.setdefault(name, {})[operator] = value
        elif name in fields.values and operator in ("eq", "in"):
            known = fields.values[name]
            wanted = value if isinstance(value, list) else [value]
            matched = [known[fold(str(v)).strip()] for v in wanted if fold(str(v)).strip() in known]
            if matched:
                found[name] = matched[0] if len(matched) == 1 else matched
    return found


class LLMFilterExtractor:
    """Asks the chatbot's LLM for filters with structured output; the answer is validated.

    Args:
        provider: the flow's LLM provider.
        model: the model to ask; None = the provider's.
        timeout_s: how long to wait before going on without LLM filters.
    """

    def __init__(self, *, provider: LLMProvider, model: str | None = None, timeout_s: float = 5.0) -> None:
        self.provider = provider
        self.model = model
        self.timeout_s = timeout_s

    async def extract(self, question: str, fields: CatalogueFields) -> dict[str, Any]:
        """Filters for ``question`` (``{}`` when the LLM names none that the catalogue can use).

        Raises:
            LLMError: the provider failed; TimeoutError: no answer within ``timeout_s``.
        """
        prompt = (
            "Turn the shopper's question into filters over this product catalogue. Use only the fields "
            "listed and only conditions the shopper states (a price limit, a country, a grape...). "
            "Category values must be written as the catalogue writes them. Answer JSON "
            '{"filters": [{"field": ..., "op": "eq|in|lt|lte|gt|gte", "value": ...}]}; '
            'answer {"filters": []} when the question states no condition.\n\n'
            f"Fields: {json.dumps(fields.describe(), ensure_ascii=False)}\n\nQuestion: {question}"
        )
        request = GenerationRequest(
            messages=[ChatMessage(role="user", content=prompt)],
            question=question,
            model=self.model,
            temperature=0.0,
            max_tokens=200,
            response_format=filters_schema(fields),
        )
        completion = await asyncio.wait_for(self.provider.complete(request), timeout=self.timeout_s)
        return validated_llm_filters(completion.text, fields)


@dataclass(frozen=True, slots=True)
class ChosenFilters:
    """The filters used for a question and where they came from (``rules``, ``llm``, ``request``)."""

    filters: Filters
    source: str
    error: str | None = None


async def choose_filters(
    question: str,
    fields: CatalogueFields,
    *,
    mode: FilterMode,
    extractor: LLMFilterExtractor | None = None,
) -> ChosenFilters | None:
    """Rules first; the LLM (mode ``llm`` with an extractor) only when the rules found nothing.

    Returns None when no filter applies. An LLM failure is recorded in ``error``, never raised:
    the question is then answered without LLM filters.
    """
    if mode == "off" or fields.empty:
        return None
    found = rule_filters(question, fields)
    if found:
        return ChosenFilters(filters=found, source="rules")
    if mode != "llm" or extractor is None:
        return None
    try:
        found = await extractor.extract(question, fields)
    except Exception as exc:  # an LLM failure must not fail retrieval
        return ChosenFilters(filters={}, source="llm", error=f"{type(exc).__name__}: {exc}"[:200])
    return ChosenFilters(filters=found, source="llm") if found else None
