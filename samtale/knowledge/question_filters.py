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

:class:`CatalogueFields` lives in :mod:`samtale.knowledge.catalogue_fields` and the LLM extractor in
:mod:`samtale.knowledge.llm_filters`; both are re-exported here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from samtale.knowledge.catalogue_fields import (
    CATEGORICAL_FIELDS,
    COLOUR_ALIASES,
    COLOUR_FIELDS,
    COUNTRY_ALIASES,
    MAX_VALUES_PER_FIELD,
    MIN_FIELD_COVERAGE,
    STOP_VALUES,
    CatalogueFields,
    normal_text,
)
from samtale.knowledge.filters import Filters
from samtale.knowledge.lexical import fold
from samtale.knowledge.llm_filters import LLMFilterExtractor, filters_schema, validated_llm_filters

__all__ = [
    "CATEGORICAL_FIELDS",
    "COLOUR_ALIASES",
    "COLOUR_FIELDS",
    "COUNTRY_ALIASES",
    "MAX_VALUES_PER_FIELD",
    "MIN_FIELD_COVERAGE",
    "STOP_VALUES",
    "CatalogueFields",
    "ChosenFilters",
    "FilterMode",
    "LLMFilterExtractor",
    "choose_filters",
    "filters_schema",
    "rule_filters",
    "validated_llm_filters",
]

FilterMode = Literal["off", "rules", "llm"]

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


def _number(text: str | None) -> float | None:
    if text is None:
        return None
    value = float(text.replace(",", "."))
    return int(value) if value.is_integer() else value


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
    normal = normal_text(question)
    candidates: list[tuple[int, int, int, str, str]] = []  # (-length, priority, start, field, value)
    for priority, (name, pattern, phrases) in enumerate(fields.patterns):
        for match in pattern.finditer(normal):
            candidates.append((-len(match.group(0)), priority, match.start(), name, phrases[match.group(0)]))
    for priority, (name, short) in enumerate(fields.short_values().items()):
        for value in short:
            for match in re.finditer(rf"(?<![\w]){re.escape(value)}(?![\w])", question):
                prefix = question[: match.start()]
                start = len(normal_text(prefix)) if prefix.strip() else 1
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
