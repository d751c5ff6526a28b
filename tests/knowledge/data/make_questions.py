# ruff: noqa: E501  (hand-written questions are kept one per line)
"""Write the retrieval evaluation sets (issue 5): wine catalogue questions and ABCD store-policy questions.

    .venv/bin/python tests/knowledge/data/make_questions.py

reads ``../shared/data/catalog/winemag-5k.csv`` and ``../shared/data/policies/abcd-*.json`` and
writes, next to this file:

* ``wine_questions.csv``: ``question,expected_id,kind,split,filters`` about the wine catalogue as
  ingested with ``--id-column id`` (``expected_id`` is the row's ``id``). Kinds:

  - ``title``: the wine named by its title, in several phrasings (the full title, or without the
    region in parentheses, lower-cased, accents dropped: as shoppers type);
  - ``winery_variety_region``: the producer, the grape and the region, never the title;
  - ``description``: a hand-written paraphrase of the review (its notes in other words, as a
    shopper would describe what they want), with a grape or country hint;
  - ``price``: producer and grape with a price limit; ``filters`` holds the metadata filter the
    product flow derives from "under $N" (``{"price": {"lte": N}}``). Where the producer makes
    that grape at several prices, only the filter makes the answer unique.

* ``policy_questions.csv``: ``question,expected_id,kind,split`` about the ABCD clothing store's
  agent guidelines, one document per subflow (see :func:`policy_documents`; ingest the JSON Lines
  that :func:`write_policy_jsonl` writes); ``expected_id`` is ``<flow>/<subflow>`` in the ABCD
  ontology's keys (``product_defect/return_size``). Ingested as is, ``abcd-guidelines.json`` is a
  single document (chunked by flow and subflow), which a document-level score cannot tell apart.

Every question must be answerable by exactly one document: templated questions are only made for
wines whose title (or producer + grape + region, or producer + grape under the price) is unique in
the catalogue. ``split`` alternates ``tune`` / ``held`` within each kind (by a hash of the
expected id), so weights can be tuned on one half and reported on the other.
"""

from __future__ import annotations

import csv
import hashlib
import json
import random
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable
from pathlib import Path

HERE = Path(__file__).resolve().parent
SHARED = HERE.parents[2] / ".." / "shared" / "data"
WINES = SHARED / "catalog" / "winemag-5k.csv"
GUIDELINES = SHARED / "policies" / "abcd-guidelines.json"
ONTOLOGY = SHARED / "policies" / "abcd-ontology.json"

SEED = 20240505

TITLE_TEMPLATES = (
    "Do you have the {title}?",
    "Tell me about {title}",
    "How much is the {title}?",
    "{title}",
    "What does the {title} taste like?",
    "is {title} in stock",
    "I'd like a bottle of {title}",
    "What score did {title} get?",
)

WVR_TEMPLATES = (
    "Do you have a {variety} from {winery} in {region}?",
    "I'm looking for {winery}'s {variety} from {region}",
    "{winery} {variety} {region}",
    "Any {variety} by {winery}? The one from {region}",
    "What's the {region} {variety} made by {winery} like?",
    "Recommend me the {variety} {winery} makes in {region}",
)

PRICE_TEMPLATES = (
    "A {variety} from {winery} under ${limit}",
    "Do you have any {winery} {variety} for less than ${limit}?",
    "{winery} {variety} below {limit} dollars",
    "I want a {variety} by {winery}, max ${limit}",
)

#: Hand-written paraphrases of reviews: the wine's notes in other words, plus a hint a shopper
#: would give (grape, country or region, sometimes the price). Keyed by the wine's id.
DESCRIPTION_QUESTIONS: dict[str, str] = {
    "7": "An Alsace Gewurztraminer that is bone dry and understated but full of spices, really one to drink with a meal",
    "104": "A cheap Tuscan red that is mostly Sangiovese with some Merlot and Cab, dark cherry and cinnamon, soft tannins",
    "201": "Italian white mixing Pinot Bianco with Chardonnay and a little Sauvignon Blanc; acacia blossom and mountain "
    "herbs on the nose, apple, peach and a hint of ginger",
    "298": "Chilean Cabernet from Aconcagua that smells of the forest, prunes and licorice, sweet chocolate and fig, "
    "olive and oregano at the end",
    "395": "A north-east Italian white named after an abbess from the 1500s, their first vintage, peppery with citrus",
    "492": "Washington Sangiovese fermented together with a bit of Syrah and Viognier, tangy and mid-weight",
    "589": "Austrian Zweigelt from Burgenland, smoky red cherries, light and juicy, an easy red for summer",
    "686": "Piedmont Nebbiolo with leather and undergrowth on the nose, dried cherries, tobacco and white pepper, "
    "best opened soon",
    "783": "California Zin with a little Petite Sirah in it, already dropping sediment, blackberries, bacon, cola "
    "and plum sauce flavours",
    "880": "Syrah from Cline's own vineyards on the Sonoma end of Carneros, big and dry, blackberries, grilled meat "
    "and smoky sandalwood",
    "977": "A simple sweetish California Viognier with pineapple, honeysuckle, brown sugar and oak, very easy to drink",
    "1074": "Australian Shiraz off very old vines dating to 1847, velvety, black cherry with vanilla, savoury "
    "olives and grilled meat",
    "1171": "Rheinhessen Riesling that tastes light and sweet even with 12 percent alcohol, honeyed pineapple and lime, "
    "dusty finish",
    "1268": "Cusumano Insolia from Sicily: lean and simple, a little honey and golden apple, good value",
    "1365": "Provence rosé with a candy floss or bubblegum note, melon and peach, round with a mineral finish",
    "1462": "Tuscan Sangiovese with eucalyptus, baked plums and cloves, chewy tannins, for drinking 2018 to 2024",
    "1559": "A splurge Bordeaux red around $380: dense and powerful yet elegant, very firm tannins, perfumed blackberry",
    "1656": "An inexpensive soft fruity Bordeaux red with gentle tannins and red berries, ready from early 2017",
    "1753": "A disappointing Spanish crianza, Tempranillo blend, with a mulchy cheesy smell and salty stalky red fruit",
    "1850": "New Jersey Chardonnay that tastes like toasted sourdough and salty lemon with burnt toast at the end",
    "1947": "Washington red blend, mainly Cabernet, charred and smoky from a third new oak (French and "
    "American), cassis with bark and stems on the finish",
    "2044": "Barolo Bricco delle Viole, ruby coloured, cherry, clove, licorice and root beer, very soft and velvety",
    "2141": "Cheap Mendoza Cabernet that is green and grassy, grippy, with minty herbal berry flavours",
    "2238": "A top Santa Rita Hills Pinot Noir made partly whole cluster, spicy and earthy with red berries and cherries",
    "2335": "A $6 Washington Gewurztraminer, medium sweet with lychee and pear, suggested with yellow curry",
    "2432": "Malbec from Cahors in south-west France, earthy, mineral and tight, strong acidity and firm tannins",
    "2529": "Austrian Gelber Muskateller, delicate and springlike, white flowers, pear and elderflower, drink it young",
    "2626": "California Zinfandel at 15.5% alcohol that is too hot and overly sweet, sugary raspberry and blackberry",
    "2723": "Cheap Bordeaux rosé, tangy, slightly tannic with citrusy acidity and a zesty juicy finish",
    "2820": "Easy-drinking Tuscan Sangiovese around $15 with pomegranate, red cherries and a little white pepper",
    "2917": "Light bright California Pinot Noir from a certified sustainable grower programme, medium body, "
    "fairly priced",
    "3014": "Alsace Gewurztraminer that is as fresh and acidic as it is spicy, white fruit and minerals, keep it "
    "two or three years",
    "3111": "Bordeaux red around $25 that shows more vanilla and wood than fruit, with a rustic farmyard edge",
    "3208": "Bold California Chardonnay, caramelised oak, pear and fig, finishing on nutmeg",
    "3305": "Expensive California Cabernet where the first bottle was faulty; young and tannic, cassis and cherries, "
    "needs cellaring",
    "3402": "Portuguese white from Tejo blending Arinto and Fernão Pires, light, fruity and crisp, about $10",
    "3499": "Unoaked New York Chardonnay, ripe stone fruit and flowers on the nose but steely and lean in the mouth",
    "3596": "Washington sparkling wine that smells of sulfur at first, then mint and licorice",
    "3693": "Champagne-style blend from northern Burgundy, Chardonnay and Pinot Noir, toasty and yeasty with orange zest",
    "3790": "Washington red from Nebbiolo, Barbera and Sangiovese grapes dried first; figs, raisins, soy sauce and "
    "chocolate",
    "3887": "Herbal Spanish Tempranillo from central Spain smelling of tomato, oregano and pizza sauce, toffee finish",
    "3984": "Valdinara Barbera from Piedmont: soft and jammy with smoky spice, slightly stemmy",
    "4081": "Loire Sauvignon Blanc grown on flint and clay, full and ripe, mineral, drink from 2017",
    "4178": "$10 Washington Merlot with faint herb and jam aromas, plush cocoa and berries, great value",
    "4275": "$10 Washington Merlot, fruity with red and black currants, herbs and a spicy top note, sweet and tangy",
    "4372": "Burgundy Chardonnay, broad and full-bodied, pear and quince, plump with toast",
    "4469": "Tuscan Sangiovese with violets, truffle and wild berries, silky tannins, so good one bottle won't do",
    "4663": "A barrel sample of a white Bordeaux, sweet and soft, scored 88 to 90",
    "4760": "Classic old-school Rioja with leather, earth, cherry and plum, raspberry and vanilla, drink through 2018",
    "4857": "Tuscan red blend with menthol and damp earth aromas, star anise and tart cherries, racy and austere",
    "4954": "$7 Spanish white of Airén and Macabeo with melon, almond and passion fruit",
    "5051": "California Sauvignon Blanc with melon and apple that calls for sautéed fish in a French sauce",
    "5148": "Clos Fourtet's last vintage under the Lurton family, a rich concentrated Bordeaux",
    "5245": "Loire Sauvignon Blanc from 25-year-old vines, concentrated, taut minerality and citrus, drink from 2018",
    "5342": "Provence rosé from old vines tasting of caramel and lemon, perfumed, round and warm",
    "5439": "Argentine Malbec smelling of iodine and jam, gamey roasted berries, minty green finish",
    "5536": "Oregon sparkling wine with odd eucalyptus and pineapple flavours and a paint-thinner aftertaste",
    "5633": "Mountain California Zinfandel, high alcohol with a peppery burn, blackberry pie and raisins, totally dry",
    "5730": "Pricey Washington red blend, 91% Cabernet with some Syrah and Merlot, espresso and coffee grounds",
}

#: Hand-written shopper questions about the ABCD store policies, by ``<flow>/<subflow>``.
POLICY_QUESTIONS: tuple[tuple[str, str], ...] = (
    ("product_defect/refund_initiate", "Can I get my refund as a paper check or a gift card instead of on my card?"),
    ("product_defect/refund_initiate", "I want my money back, how do I start a refund?"),
    ("product_defect/refund_update", "I already have a refund open, can I add another item to it?"),
    ("product_defect/refund_status", "Where is my refund? Has it started or is it complete?"),
    ("product_defect/return_stain", "The shirt I bought has a stain on it, can I return it?"),
    ("product_defect/return_color", "The colour of the jacket is not what I expected, I'd like to return it"),
    ("product_defect/return_size", "These jeans are the wrong size, how do I send them back?"),
    ("order_issue/status_mystery_fee", "There is an extra charge on my order that I don't recognise"),
    ("order_issue/status_delivery_time", "Can my delivery come in the evening instead of the morning?"),
    ("order_issue/status_payment_method", "I paid with the wrong method, can I switch my order to PayPal?"),
    ("order_issue/status_quantity", "My confirmation email says I ordered two but I only wanted one"),
    ("order_issue/manage_upgrade", "How much does it cost to upgrade my order to overnight shipping?"),
    ("order_issue/manage_downgrade", "Can I delay my delivery to next week to save on the shipping fee?"),
    ("order_issue/manage_create", "I forgot something, can you add another item to my existing order?"),
    ("order_issue/manage_cancel", "Please cancel my order"),
    ("account_access/recover_username", "I forgot my username"),
    ("account_access/recover_password", "I can't remember my password, can you make me a new one?"),
    ("account_access/reset_2fa", "How do I reset two-factor authentication? I need a new code emailed"),
    ("troubleshoot_site/credit_card", "My credit card keeps getting rejected at checkout"),
    ("troubleshoot_site/shopping_cart", "When I add an item my shopping cart doesn't update"),
    ("troubleshoot_site/search_results", "Search on your site says no results found for everything"),
    ("troubleshoot_site/slow_speed", "Your website is so slow it's unusable"),
    ("manage_account/status_service_added", "A service I never asked for was added to my account"),
    ("manage_account/status_service_removed", "An important service was removed from my plan by mistake"),
    ("manage_account/status_shipping_question", "Does my account include free international shipping?"),
    ("manage_account/status_credit_missing", "The credit from my promotional package is missing from my account"),
    ("manage_account/manage_change_address", "I moved, how do I change the street address on my account?"),
    ("manage_account/manage_change_name", "I need to change the name on my account"),
    ("manage_account/manage_change_phone", "How do I update my phone number?"),
    ("manage_account/manage_payment_method", "I want to change the payment method saved on my account"),
    ("purchase_dispute/bad_price_competitor", "Another store sells the same thing cheaper than you"),
    ("purchase_dispute/bad_price_yesterday", "The price was lower yesterday than what I paid today"),
    ("purchase_dispute/out_of_stock_general", "So many of your items are always out of stock"),
    ("purchase_dispute/out_of_stock_one_item", "The one sweater I want is out of stock, can you back-order it?"),
    ("purchase_dispute/promo_code_invalid", "My promo code says it is invalid"),
    ("purchase_dispute/promo_code_out_of_date", "My discount code is from a while ago and now it says it has expired"),
    (
        "purchase_dispute/mistimed_billing_already_returned",
        "I returned the item already but I still haven't got my credit",
    ),
    ("purchase_dispute/mistimed_billing_never_bought", "I was billed for something I never bought"),
    ("shipping_issue/status", "I got an email about my shipment that looks wrong, is my order still okay?"),
    ("shipping_issue/manage", "I need to change the delivery address of my shipment"),
    ("shipping_issue/missing", "My package never arrived, what happened to it?"),
    ("shipping_issue/cost", "Shipping was too expensive, can you waive the fee or refund it?"),
    ("subscription_inquiry/status_active", "Did my payment go through? Is my subscription still active?"),
    ("subscription_inquiry/status_due_amount", "How much do I owe on my subscription?"),
    ("subscription_inquiry/status_due_date", "When is my subscription renewal date each month?"),
    ("subscription_inquiry/manage_pay_bill", "I want to pay my subscription bill and renew it"),
    ("subscription_inquiry/manage_extension", "I can't pay my premium subscription yet, can I get an extension?"),
    ("subscription_inquiry/manage_dispute_bill", "I think I was billed twice for my subscription"),
    ("single_item_query/boots", "Are your boots waterproof and how long do they take to wear in?"),
    ("single_item_query/shirt", "Does the shirt shrink and how wide is the collar?"),
    ("single_item_query/jeans", "How do I get a grass stain out of jeans, and can I get them tailored?"),
    ("single_item_query/jacket", "Can I detach the hood of the jacket, and is it dry-clean only?"),
    ("storewide_query/pricing", "How much is gift wrapping, and do you stitch names?"),
    ("storewide_query/membership", "What membership levels are there and what are the benefits?"),
    ("storewide_query/timing", "When does the spring collection come out and when is the annual sale?"),
    ("storewide_query/policy", "What is your return policy and refund policy?"),
)


def fold(text: str) -> str:
    """``text`` without accents (as a shopper on an English keyboard types it)."""
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def split_of(expected_id: str, kind: str) -> str:
    """``tune`` or ``held``, stable for an (id, kind) pair."""
    digest = hashlib.sha256(f"{kind}:{expected_id}".encode()).digest()
    return "tune" if digest[0] % 2 == 0 else "held"


def read_wines() -> list[dict[str, str]]:
    """The catalogue's rows, whitespace collapsed as ingestion does."""
    with WINES.open(encoding="utf-8", newline="") as handle:
        return [{k: " ".join((v or "").split()) for k, v in row.items()} for row in csv.DictReader(handle)]


def _short_title(title: str) -> str:
    return re.sub(r"\s*\([^)]*\)\s*$", "", title).strip()


def title_questions(rows: list[dict[str, str]], rng: random.Random, count: int) -> list[dict[str, str]]:
    """Questions naming a wine by its (unique) title."""
    titles = Counter(row["title"] for row in rows)
    shorts = Counter(_short_title(row["title"]).casefold() for row in rows)
    candidates = [row for row in rows if titles[row["title"]] == 1]
    questions = []
    for index, row in enumerate(rng.sample(candidates, count)):
        title = row["title"]
        short = _short_title(title)
        if index % 3 == 1 and shorts[short.casefold()] == 1:
            title = short
        if index % 4 == 2:
            title = fold(title).lower()
        template = TITLE_TEMPLATES[index % len(TITLE_TEMPLATES)]
        questions.append({"question": template.format(title=title), "expected_id": row["id"], "kind": "title"})
    return questions


def _region(row: dict[str, str]) -> str:
    return row["region_1"] or row["province"]


def wvr_questions(rows: list[dict[str, str]], rng: random.Random, count: int) -> list[dict[str, str]]:
    """Questions naming producer, grape and region (never the title); the combination is unique."""
    combos = Counter((row["winery"].casefold(), row["variety"].casefold(), _region(row).casefold()) for row in rows)
    candidates = [
        row
        for row in rows
        if row["winery"]
        and row["variety"]
        and _region(row)
        and combos[(row["winery"].casefold(), row["variety"].casefold(), _region(row).casefold())] == 1
    ]
    questions = []
    for index, row in enumerate(rng.sample(candidates, count)):
        template = WVR_TEMPLATES[index % len(WVR_TEMPLATES)]
        text = template.format(variety=row["variety"], winery=row["winery"], region=_region(row))
        questions.append({"question": text, "expected_id": row["id"], "kind": "winery_variety_region"})
    return questions


def _limit_above(price: float) -> int:
    return int(price // 5 + 1) * 5


def price_questions(rows: list[dict[str, str]], rng: random.Random, count: int) -> list[dict[str, str]]:
    """Producer + grape + "under $N": half where the filter is needed to single the wine out."""
    groups: dict[tuple[str, str], list[dict[str, str]]] = defaultdict(list)
    for row in rows:
        groups[(row["winery"].casefold(), row["variety"].casefold())].append(row)
    ambiguous: list[tuple[dict[str, str], int]] = []
    single: list[tuple[dict[str, str], int]] = []
    for members in groups.values():
        if any(not member["price"] for member in members):
            continue
        priced = sorted(members, key=lambda member: float(member["price"]))
        cheapest = float(priced[0]["price"])
        limit = _limit_above(cheapest)
        if len(priced) == 1:
            single.append((priced[0], limit))
        elif float(priced[1]["price"]) > limit:
            ambiguous.append((priced[0], limit))
    chosen = rng.sample(ambiguous, count // 2) + rng.sample(single, count - count // 2)
    questions = []
    for index, (row, limit) in enumerate(chosen):
        template = PRICE_TEMPLATES[index % len(PRICE_TEMPLATES)]
        questions.append(
            {
                "question": template.format(variety=row["variety"], winery=row["winery"], limit=limit),
                "expected_id": row["id"],
                "kind": "price",
                "filters": json.dumps({"price": {"lte": limit}}),
            }
        )
    return questions


def description_questions(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    """The hand-written paraphrases, checked against the catalogue's ids."""
    ids = {row["id"] for row in rows}
    missing = sorted(set(DESCRIPTION_QUESTIONS) - ids)
    if missing:
        raise SystemExit(f"description questions for unknown ids: {missing}")
    return [
        {"question": text, "expected_id": wine_id, "kind": "description"}
        for wine_id, text in DESCRIPTION_QUESTIONS.items()
    ]


def wine_questions() -> list[dict[str, str]]:
    """All wine questions, deterministic for :data:`SEED`."""
    rows = read_wines()
    rng = random.Random(SEED)
    questions = (
        title_questions(rows, rng, 60)
        + wvr_questions(rows, rng, 60)
        + description_questions(rows)
        + price_questions(rows, rng, 40)
    )
    for item in questions:
        item["split"] = split_of(item["expected_id"], item["kind"])
        item.setdefault("filters", "")
    return questions


def _snake(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.casefold()).strip("_")


def policy_documents() -> list[dict[str, str]]:
    """The ABCD guidelines as one record per subflow: ``{"id", "title", "text"}``.

    ``id`` is ``<flow>/<subflow>`` in the ontology's keys (the guideline file names flows and
    subflows in words, in the same order as the ontology lists them); ``text`` holds the flow's
    description, the subflow's instructions and its actions with their details, one per line.
    """
    guidelines = json.loads(GUIDELINES.read_text(encoding="utf-8"))
    subflow_keys = json.loads(ONTOLOGY.read_text(encoding="utf-8"))["intents"]["subflows"]
    documents = []
    for flow_name, flow in guidelines.items():
        flow_key = _snake(flow_name)
        keys = subflow_keys[flow_key]
        if len(keys) != len(flow["subflows"]):
            raise SystemExit(f"{flow_name}: {len(flow['subflows'])} subflows, ontology lists {len(keys)}")
        for subflow_key, (subflow_name, subflow) in zip(keys, flow["subflows"].items(), strict=True):
            lines = [f"{flow_name}: {flow['description']}.", *subflow.get("instructions", [])]
            for action in subflow.get("actions", []):
                button = f"[{action['button']}] " if action.get("button") not in (None, "", "N/A") else ""
                lines.append(f"{button}{action['text']}")
                lines.extend(f"- {detail}" for detail in action.get("subtext", []))
            documents.append(
                {
                    "id": f"{flow_key}/{subflow_key}",
                    "title": f"{flow_name} > {subflow_name}",
                    "text": "\n".join(" ".join(line.split()) for line in lines if line.strip()),
                }
            )
    return documents


def write_policy_jsonl(path: Path) -> Path:
    """Write :func:`policy_documents` as JSON Lines (``id``, ``title``, ``text``: ``samtale kb ingest`` reads them)."""
    path.write_text("".join(json.dumps(document) + "\n" for document in policy_documents()), encoding="utf-8")
    return path


def policy_questions() -> list[dict[str, str]]:
    """The hand-written policy questions, checked against the converted documents' ids."""
    ids = {document["id"] for document in policy_documents()}
    unknown = sorted({doc_id for doc_id, _ in POLICY_QUESTIONS} - ids)
    if unknown:
        raise SystemExit(f"policy questions for unknown ids: {unknown}")
    return [
        {"question": text, "expected_id": doc_id, "kind": doc_id.split("/", 1)[0], "split": split_of(text, "policy")}
        for doc_id, text in POLICY_QUESTIONS
    ]


def _write(path: Path, fields: list[str], rows: Iterable[dict[str, str]]) -> int:
    rows = list(rows)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    return len(rows)


def main() -> None:
    """Write both question files and print their sizes."""
    wines = _write(
        HERE / "wine_questions.csv", ["question", "expected_id", "kind", "split", "filters"], wine_questions()
    )
    policies = _write(HERE / "policy_questions.csv", ["question", "expected_id", "kind", "split"], policy_questions())
    print(f"wine_questions.csv: {wines} questions; policy_questions.csv: {policies} questions")


if __name__ == "__main__":
    main()
