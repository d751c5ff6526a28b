"""Rules for text components: HEADER, BODY, FOOTER, their variables and examples.

Sources (Meta, WhatsApp Business Platform):

* "Template components" — body text ≤ 1,024 characters; text header ≤ 60 characters with at most
  one parameter; footer ≤ 60 characters without parameters; IMAGE/VIDEO/GIF/DOCUMENT headers need
  an ``example.header_handle``; every parameter needs an example; positional parameters are
  sequential from ``{{1}}``; named parameters use lowercase letters, digits and underscores.
* "Message templates" (template review, error subcodes 2388299 and 2388293) — parameters may not
  be at the very start or end of the body, and a body with too many parameters for its length
  is rejected.
"""

from __future__ import annotations

import re

from samtale.template_builder.issues import Collector
from samtale.template_builder.payload import Component, ComponentExample
from samtale.template_builder.variables import Variables, find_variables, words_outside_variables

BODY_MAX = 1024
HEADER_TEXT_MAX = 60
FOOTER_MAX = 60
MEDIA_FORMATS = frozenset({"IMAGE", "VIDEO", "GIF", "DOCUMENT"})
HEADER_FORMATS = frozenset({"TEXT", "LOCATION", "PRODUCT"}) | MEDIA_FORMATS
# Heuristic for subcode 2388293 (Meta does not publish the ratio): at least this many words of
# fixed text per variable, plus one.
WORDS_PER_VARIABLE = 2
LEADING = re.compile(r"^\s*\{\{[^{}]*\}\}")
TRAILING = re.compile(r"\{\{[^{}]*\}\}\s*$")


def check_variable_syntax(c: Collector, path: str, found: Variables) -> None:
    """Placeholders must be ``{{n}}`` or ``{{lowercase_name}}``; positional ones run 1…n.

    Source: "Template components" (parameter formats).
    """
    for raw in found.invalid:
        c.error(
            path,
            "variables.invalid_name",
            f"The placeholder {raw} is not valid: use {{{{1}}}}, {{{{2}}}}… or a name of lowercase letters, "
            "digits and underscores such as {{first_name}}, with no spaces.",
        )
    if found.positional and found.named:
        c.error(
            path,
            "variables.mixed",
            "Use either numbered placeholders ({{1}}) or named ones ({{first_name}}) in a template, not both.",
        )
    distinct = sorted(set(found.positional))
    if distinct and distinct != list(range(1, len(distinct) + 1)):
        expected = ", ".join(f"{{{{{n}}}}}" for n in range(1, len(distinct) + 1))
        c.error(
            path,
            "variables.not_sequential",
            f"Numbered placeholders must run from {{{{1}}}} without gaps; expected {expected}.",
        )


def check_examples(c: Collector, path: str, found: Variables, example: ComponentExample | None, *, where: str) -> None:
    """Every variable of a HEADER (``where="header"``) or BODY (``"body"``) needs an example, in count and order.

    Source: "Template components" (``example.header_text``, ``example.body_text``,
    ``*_named_params``): "If this string contains a parameter, you must include the example".
    """
    if found.count == 0:
        return
    positional = example.header_text if (example and where == "header") else None
    body_rows = example.body_text if (example and where == "body") else None
    named = None
    if example is not None:
        named = example.header_text_named_params if where == "header" else example.body_text_named_params
    if found.named:
        wanted = found.distinct_named
        if not named:
            c.error(
                f"{path}.example",
                "examples.missing",
                f"Add an example value for each placeholder of the {where} ({', '.join(wanted)}), so Meta's "
                "reviewers can see a real message.",
            )
            return
        given = [param.param_name for param in named]
        if sorted(given) != sorted(wanted):
            c.error(
                f"{path}.example",
                "examples.count",
                f"The {where} examples name {', '.join(given) or 'nothing'} but the text uses {', '.join(wanted)}.",
            )
        elif given != wanted:
            c.error(
                f"{path}.example",
                "examples.order",
                f"List the {where} examples in the order the placeholders appear: {', '.join(wanted)}.",
            )
        empty = [param.param_name for param in named if not param.example.strip()]
        if empty:
            c.error(f"{path}.example", "examples.empty", f"The example for {', '.join(empty)} is empty.")
        return
    values: list[str] | None = positional
    if where == "body":
        values = body_rows[0] if body_rows else None
        if body_rows is not None and len(body_rows) != 1:
            c.error(
                f"{path}.example.body_text",
                "examples.shape",
                'body_text must hold exactly one list of example values, e.g. [["Pablo", "25OFF"]].',
            )
    if not values:
        c.error(
            f"{path}.example",
            "examples.missing",
            f"Add an example value for each of the {found.count} placeholder(s) of the {where}, so Meta's "
            "reviewers can see a real message.",
        )
        return
    if len(values) != found.count:
        c.error(
            f"{path}.example",
            "examples.count",
            f"The {where} has {found.count} placeholder(s) but {len(values)} example value(s); give one per "
            "placeholder, in order.",
        )
    if any(not value.strip() for value in values):
        c.error(f"{path}.example", "examples.empty", f"An example value of the {where} is empty.")


def check_body(c: Collector, comp: Component, path: str, *, max_length: int = BODY_MAX) -> Variables:
    """BODY: text required, at most ``max_length`` characters, valid variables with examples, none at either end.

    Sources: "Template components" (body ≤ 1,024 characters; LTO bodies ≤ 600, see
    "Limited-time offer templates"); "Message templates" error subcode 2388299 (a parameter at
    the start or end) and 2388293 (too many parameters for the text, a warning here).
    """
    text = comp.text
    if text is None or not text.strip():
        c.error(f"{path}.text", "body.text_required", "The message body is empty: write the text of the message.")
        return Variables()
    if len(text) > max_length:
        c.error(
            f"{path}.text",
            "body.max_length",
            f"The body is {len(text)} characters; the limit is {max_length:,}. Shorten it by {len(text) - max_length}.",
        )
    found = find_variables(text)
    check_variable_syntax(c, f"{path}.text", found)
    if LEADING.match(text):
        c.error(
            f"{path}.text",
            "body.leading_variable",
            'The body may not start with a placeholder; put a word before it (e.g. "Hi {{1}}").',
        )
    if TRAILING.search(text):
        c.error(
            f"{path}.text",
            "body.trailing_variable",
            "The body may not end with a placeholder; add a few words or a full stop after it.",
        )
    words = words_outside_variables(text)
    if found.count and words < WORDS_PER_VARIABLE * found.count + 1:
        c.warn(
            f"{path}.text",
            "body.variable_ratio",
            f"The body has {found.count} placeholder(s) but only {words} fixed word(s); Meta rejects templates "
            "that are mostly placeholders. Add more fixed text or fewer placeholders.",
        )
    check_examples(c, path, found, comp.example, where="body")
    return found


def check_header(c: Collector, comp: Component, path: str, *, category: str) -> Variables:
    """HEADER: a known format; TEXT ≤ 60 characters with at most one variable; media with a handle example.

    Sources: "Template components" (header formats, 60 characters, one parameter, header_handle);
    "Location headers" (LOCATION is for UTILITY and MARKETING templates only).
    """
    fmt = (comp.format or "").upper()
    if fmt not in HEADER_FORMATS:
        c.error(
            f"{path}.format",
            "header.format_invalid",
            f"The header format '{comp.format or ''}' is not one of {', '.join(sorted(HEADER_FORMATS))}.",
        )
        return Variables()
    if fmt == "TEXT":
        text = comp.text or ""
        if not text.strip():
            c.error(f"{path}.text", "header.text_required", "A text header needs its text.")
            return Variables()
        if len(text) > HEADER_TEXT_MAX:
            c.error(
                f"{path}.text",
                "header.max_length",
                f"The header is {len(text)} characters; the limit is {HEADER_TEXT_MAX}.",
            )
        found = find_variables(text)
        check_variable_syntax(c, f"{path}.text", found)
        if found.count > 1:
            c.error(f"{path}.text", "header.too_many_variables", "A text header can hold only one placeholder.")
        check_examples(c, path, found, comp.example, where="header")
        return found
    if fmt in MEDIA_FORMATS and not (comp.example and comp.example.header_handle):
        c.error(
            f"{path}.example.header_handle",
            "header.media_example_missing",
            f"An {fmt.lower()} header needs a sample file: upload one and give its handle in example.header_handle.",
        )
    if fmt == "LOCATION" and category not in {"UTILITY", "MARKETING"}:
        c.error(
            f"{path}.format",
            "header.location_category",
            "A location header is only allowed in UTILITY and MARKETING templates.",
        )
    return Variables()


def check_footer(c: Collector, comp: Component, path: str) -> None:
    """FOOTER: text required, at most 60 characters, no variables.

    Source: "Template components" (footer: "60 characters maximum", "no parameters").
    """
    text = comp.text
    if text is None or not text.strip():
        c.error(f"{path}.text", "footer.text_required", "The footer is empty: write its text or remove the footer.")
        return
    if len(text) > FOOTER_MAX:
        c.error(
            f"{path}.text", "footer.max_length", f"The footer is {len(text)} characters; the limit is {FOOTER_MAX}."
        )
    if find_variables(text).count or find_variables(text).invalid:
        c.error(f"{path}.text", "footer.variable", "The footer cannot contain placeholders; write fixed text.")
