"""Shopify's product-import CSV as documents: one product per ``Handle``, its variants folded in.

Shopify's format (https://help.shopify.com/en/manual/products/import-export/using-csv) writes a
product over several rows: the first row of a ``Handle`` carries the product (Title, Body (HTML),
Vendor, Type, Tags, option names) and its first variant; each further row adds a variant
(option values, Variant SKU, Variant Price) or only an image. A product becomes one document:

* text (embedded): title, type, vendor, tags, options with their values, the price (a range
  when variants differ), each variant when there are several, and the description, the
  ``Body (HTML)`` cleaned to text;
* metadata (filters, sources): ``handle, title, vendor, type, tags, price`` (the lowest variant
  price), ``price_max``, ``compare_at_price``, ``sku``, ``variants``, one field per option
  (``color: "Blue, Black"``), ``image``, ``published``; prices are numbers.

The option value ``Default Title`` (Shopify's placeholder for a product without options) is
left out.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass, field

from lxml import etree, html

from samtale.knowledge.documents import Document, ParseResult, typed_value
from samtale.knowledge.types import MetadataValue

#: Columns whose presence in a CSV header marks Shopify's product-import format.
SHOPIFY_MARKER_COLUMNS = ("Handle", "Title", "Body (HTML)", "Variant Price")
DEFAULT_OPTION = "Default Title"
_BLOCK_TAGS = frozenset(
    {"p", "div", "br", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "table", "section", "blockquote"}
)


def is_shopify_header(header: Sequence[str]) -> bool:
    """True when a CSV header is Shopify's product-import header."""
    names = {name.strip() for name in header}
    return all(column in names for column in SHOPIFY_MARKER_COLUMNS)


def html_fragment_text(fragment: str) -> str:
    """An HTML fragment (a product description) as plain text: blocks on their own lines, list
    items as ``- item``, scripts and styles dropped, whitespace collapsed. Plain text passes through."""
    if "<" not in fragment:
        return " ".join(fragment.replace("\u2028", "\n").split())
    try:
        root = html.fragment_fromstring(fragment, create_parent="div")
    except (etree.ParserError, ValueError):
        return " ".join(fragment.split())
    for bad in root.xpath(".//script|.//style"):
        bad.drop_tree()
    parts: list[str] = []

    def walk(element: html.HtmlElement) -> None:
        tag = element.tag if isinstance(element.tag, str) else ""
        if tag in _BLOCK_TAGS:
            parts.append("\n- " if tag == "li" else "\n")
        if element.text:
            parts.append(element.text)
        for child in element:
            walk(child)
            if child.tail:
                parts.append(child.tail)
        if tag in _BLOCK_TAGS:
            parts.append("\n")

    walk(root)
    lines = (" ".join(line.replace("\u2028", " ").split()) for line in "".join(parts).split("\n"))
    return "\n".join(line for line in lines if line and line != "-")


@dataclass(slots=True)
class _Product:
    handle: str
    first_row: int
    fields: dict[str, str] = field(default_factory=dict)
    option_names: list[str] = field(default_factory=list)
    variants: list[dict[str, str]] = field(default_factory=list)
    image: str | None = None


def _money(raw: str) -> float | int | None:
    value = typed_value(raw) if raw else None
    return value if isinstance(value, int | float) else None


def _format_money(value: float | int) -> str:
    return f"{value:g}" if isinstance(value, int) else f"{value:.2f}"


def _product_document(product: _Product, *, source: str) -> Document:
    f = product.fields
    title = f.get("Title") or product.handle
    options: dict[str, list[str]] = {}
    variant_lines: list[str] = []
    prices: list[float | int] = []
    compare: list[float | int] = []
    skus: list[str] = []
    for variant in product.variants:
        labels = []
        for number, name in enumerate(product.option_names, start=1):
            value = variant.get(f"Option{number} Value", "")
            if name and value and value != DEFAULT_OPTION:
                options.setdefault(name, [])
                if value not in options[name]:
                    options[name].append(value)
                labels.append(value)
        price = _money(variant.get("Variant Price", ""))
        if price is not None:
            prices.append(price)
        if (compare_at := _money(variant.get("Variant Compare At Price", ""))) is not None:
            compare.append(compare_at)
        if sku := variant.get("Variant SKU", ""):
            skus.append(sku)
        line = " / ".join(labels) or title
        if price is not None:
            line += f" {_format_money(price)}"
        if sku:
            line += f" (SKU {sku})"
        variant_lines.append(line)

    lines = [f"Title: {title}"]
    for label, column in (("Type", "Type"), ("Vendor", "Vendor"), ("Tags", "Tags")):
        if f.get(column):
            lines.append(f"{label}: {f[column]}")
    for name, values in options.items():
        lines.append(f"{name}: {', '.join(values)}")
    if prices:
        low, high = min(prices), max(prices)
        lines.append(f"Price: {_format_money(low)}" + (f" to {_format_money(high)}" if high != low else ""))
    if len(variant_lines) > 1 and (len(set(prices)) > 1 or skus):
        lines.append(f"Variants: {'; '.join(variant_lines)}")
    description = html_fragment_text(f.get("Body (HTML)", ""))
    if description:
        first, *rest = description.split("\n")
        lines.append(f"Description: {first}")
        lines.extend(rest)

    metadata: dict[str, MetadataValue] = {"handle": product.handle, "title": title}
    for key, column in (("vendor", "Vendor"), ("type", "Type"), ("tags", "Tags")):
        if f.get(column):
            metadata[key] = f[column]
    if prices:
        metadata["price"] = min(prices)
        metadata["price_max"] = max(prices)
    if compare:
        metadata["compare_at_price"] = min(compare)
    if skus:
        metadata["sku"] = skus[0] if len(skus) == 1 else ", ".join(skus)
    metadata["variants"] = len(product.variants)
    for name, values in options.items():
        metadata[name.strip().lower()] = values[0] if len(values) == 1 else ", ".join(values)
    if product.image:
        metadata["image"] = product.image
    if (published := f.get("Published", "").lower()) in {"true", "false"}:
        metadata["published"] = published == "true"
    return Document(
        external_id=product.handle,
        source=source,
        title=title[:500],
        text="\n".join(lines),
        kind="record",
        metadata=metadata,
    )


def parse_shopify_csv(content: str, *, source: str) -> ParseResult:
    """One document per product (``Handle``) of a Shopify product-import CSV; see the module doc.

    Rows whose Handle is empty, and products with no row carrying a Title, are reported as row
    errors; image-only rows add nothing but the product's first image.
    """
    reader = csv.DictReader(io.StringIO(content, newline=""))
    products: dict[str, _Product] = {}
    errors: list[str] = []
    for row_number, raw in enumerate(reader, start=1):
        row = {
            (key or "").strip(): " ".join((value or "").split()) if key != "Body (HTML)" else (value or "")
            for key, value in raw.items()
        }
        handle = row.get("Handle", "")
        if not handle:
            if any(row.values()):
                errors.append(f"{source} row {row_number}: the Handle column is empty")
            continue
        product = products.get(handle)
        if product is None:
            product = products[handle] = _Product(handle=handle, first_row=row_number)
        if row.get("Title") and not product.fields.get("Title"):
            product.fields = row
            product.option_names = [row.get(f"Option{n} Name", "") for n in (1, 2, 3)]
        if product.image is None and row.get("Image Src"):
            product.image = row["Image Src"]
        is_variant = (
            any(row.get(f"Option{n} Value") for n in (1, 2, 3)) or row.get("Variant Price") or row.get("Variant SKU")
        )
        if is_variant:
            product.variants.append(row)
    documents: list[Document] = []
    for product in products.values():
        if not product.fields.get("Title"):
            errors.append(f"{source} row {product.first_row}: product {product.handle!r} has no row with a Title")
            continue
        documents.append(_product_document(product, source=source))
    return ParseResult(documents=documents, row_errors=errors)
