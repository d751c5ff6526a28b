"""The conversation store the search benchmark searches: generated from real text, built once, cached.

Conversations alternate a shopper's message and the assistant's answer, drawn from real public
text in ``../shared/data``: Bitext customer-support utterances (order numbers varied) and
questions made from WineEnthusiast rows ("Do you have a Pinot Noir from Oregon?") for the
shopper; wine descriptions, the ABCD store's agent guidelines and Stellaholm's terms of sale
for the assistant. Nine chatbots are English; one (``bench-da``) is Danish, its shoppers
speaking the xSID Danish utterances and Stellaholm's Danish terms. Memories pair a Bitext
utterance or wine question with a wine description or policy sentence, tagged by intent,
category or grape.

Rows go in through samtale's own storage path: the models' tables with ``executemany``, 5,000
messages per transaction, and on SQLite :func:`samtale.conversation.search.indexing.index_messages`,
``index_titles`` and ``index_memories`` in the same transaction, as the recorder and the memory
service do (PostgreSQL's generated columns index themselves). The built database is kept: a
SQLite file in ``bench/results/cache/`` and a PostgreSQL database ``samtale_bench_search_<key>``,
the key a hash of the sizes, the data files and the code that shapes the rows and the index.
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import json
import random
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from bench.common import DATA, ROOT
from samtale.conversation.search.indexing import (
    MemoryDocument,
    MessageDocument,
    TitleDocument,
    index_memories,
    index_messages,
    index_titles,
)
from samtale.conversation.shoppers import shopper_id
from samtale.conversation.titles import title_from_question
from samtale.storage.db import create_database
from samtale.storage.models import ConversationSession, Memory, Message, Shopper

CACHE = ROOT / "bench" / "results" / "cache"
GENERATOR_VERSION = 3
CHATBOTS = [*(f"bench-en-{n}" for n in range(9)), "bench-da"]
DANISH = "bench-da"
BATCH_MESSAGES = 5000
KEY_SOURCES = (
    "samtale/storage/migrations",
    "samtale/storage/fulltext.py",
    "samtale/storage/stopwords.py",
    "samtale/conversation/search/indexing.py",
    "bench/store_search_data.py",
)
DATA_FILES = (
    "intents/bitext-train.csv",
    "intents/bitext-dev.csv",
    "catalog/winemag-5k.csv",
    "policies/abcd-guidelines.json",
    "policies/stellaholm-terms.en.md",
    "policies/stellaholm-terms.da.md",
    "danish/xsid-da-valid.conll",
)


@dataclass(frozen=True)
class Corpus:
    """The real sentences conversations are made of, per language and side."""

    support_en: list[str]
    wine_questions_en: list[str]
    wine_notes_en: list[str]
    policies_en: list[str]
    questions_da: list[str]
    answers_da: list[str]
    tags_en: list[str]

    def question(self, rng: random.Random, *, danish: bool) -> str:
        """A shopper's message: half customer-support utterances, half questions about wines (English)."""
        if danish:
            return rng.choice(self.questions_da)
        return rng.choice(self.support_en if rng.random() < 0.5 else self.wine_questions_en)

    def answer(self, rng: random.Random, *, danish: bool) -> str:
        """An assistant's answer: 60 % wine descriptions, 40 % policy sentences (English)."""
        if danish:
            return rng.choice(self.answers_da)
        return rng.choice(self.wine_notes_en if rng.random() < 0.6 else self.policies_en)


def _sentences(text: str) -> list[str]:
    """Prose sentences of a Markdown document (front matter, headings and short lines dropped)."""
    body = re.sub(r"^---.*?---", "", text, flags=re.DOTALL)
    body = re.sub(r"^#.*$", "", body, flags=re.MULTILINE)
    flat = " ".join(body.split())
    return [part.strip() for part in re.split(r"(?<=[.!?])\s+", flat) if len(part.split()) >= 5]


def _guideline_texts(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("text", "subtext", "description") and isinstance(value, str) and len(value.split()) >= 5:
                yield " ".join(value.split())
            else:
                yield from _guideline_texts(value)
    elif isinstance(node, list):
        for value in node:
            if isinstance(value, str) and len(value.split()) >= 5:
                yield " ".join(value.split())
            else:
                yield from _guideline_texts(value)


def load_corpus(data: Path = DATA) -> Corpus:
    """Read the real text (blocking file reads; call before the event loop)."""
    support: list[str] = []
    tags: list[str] = []
    for name in ("bitext-train.csv", "bitext-dev.csv"):
        with (data / "intents" / name).open(newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                support.append(row["utterance"])
                tags.append(row["intent"].replace("_", " "))
    notes: list[str] = []
    wine_questions: list[str] = []
    with (data / "catalog" / "winemag-5k.csv").open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            notes.append(row["description"])
            if row["variety"] and row["country"]:
                wine_questions.append(f"Do you have a {row['variety']} from {row['province'] or row['country']}?")
                wine_questions.append(f"Is the {row['title']} still in stock?")
                tags.append(row["variety"].lower())
    policies = list(_guideline_texts(json.loads((data / "policies" / "abcd-guidelines.json").read_text("utf-8"))))
    policies.extend(_sentences((data / "policies" / "stellaholm-terms.en.md").read_text("utf-8")))
    danish = [
        line.removeprefix("# text = ").strip()
        for line in (data / "danish" / "xsid-da-valid.conll").read_text("utf-8").splitlines()
        if line.startswith("# text = ")
    ]
    terms_da = _sentences((data / "policies" / "stellaholm-terms.da.md").read_text("utf-8"))
    return Corpus(
        support_en=support,
        wine_questions_en=wine_questions,
        wine_notes_en=notes,
        policies_en=policies,
        questions_da=danish + [sentence for sentence in terms_da if "?" in sentence],
        answers_da=terms_da,
        tags_en=sorted(set(tags)),
    )


def cache_key(*, messages: int, memories: int, data: Path = DATA) -> str:
    """A hash of the sizes, the data files and the code that shapes the rows and their index."""
    digest = hashlib.sha256(f"{GENERATOR_VERSION}:{messages}:{memories}".encode())
    for name in DATA_FILES:
        digest.update((data / name).read_bytes())
    for source in KEY_SOURCES:
        path = ROOT / source
        for file in sorted(path.rglob("*.py")) if path.is_dir() else [path]:
            digest.update(file.read_bytes())
    return digest.hexdigest()[:12]


_NUMBER = re.compile(r"\b\d{5,}\b")


def _vary(text: str, rng: random.Random) -> str:
    """Bitext's order numbers replaced by fresh ones, so not every message repeats the same."""
    return _NUMBER.sub(lambda _: str(rng.randrange(10_000, 99_999_999)), text)


@dataclass(frozen=True)
class Plan:
    """What was generated: counts, and per chatbot the shoppers (user ids) who have conversations and memories."""

    messages: int
    conversations: int
    shoppers: dict[str, list[str]]
    memories: int
    memory_owners: list[tuple[str, str]]


async def load(url: str, *, messages: int, memories: int, corpus: Corpus, seed: int = 13) -> Plan:
    """Generate and insert the conversations, messages, shoppers and memories into the migrated database at ``url``."""
    rng = random.Random(seed)
    db = create_database(url)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    step = timedelta(days=365) / max(messages, 1)
    per_chatbot = messages // len(CHATBOTS)
    shoppers: dict[str, list[str]] = {chatbot: [] for chatbot in CHATBOTS}
    written = conversations = 0
    clock = start
    try:
        for chatbot in CHATBOTS:
            danish = chatbot == DANISH
            users = [f"shopper-{n}" for n in range(max(1, per_chatbot // 30))]  # ~3 conversations of ~10 each
            shoppers[chatbot] = users
            async with db.engine.begin() as conn:
                await conn.execute(
                    insert(Shopper),
                    [
                        {"id": shopper_id(chatbot_id=chatbot, user_id=user), "chatbot_id": chatbot,
                         "external_id": user, "order_failed_attempts": 0, "order_failed_lookups": [],
                         "created_at": start}
                        for user in users
                    ],
                )  # fmt: skip
            left = per_chatbot
            while left > 0:
                sessions, rows, docs, titles = [], [], [], []
                while left > 0 and len(rows) < BATCH_MESSAGES:
                    user = rng.choice(users)
                    owner = shopper_id(chatbot_id=chatbot, user_id=user)
                    session = f"{chatbot}-c{conversations}"
                    conversations += 1
                    count = min(left, 2 * rng.randint(1, 9))
                    first = _vary(corpus.question(rng, danish=danish), rng)
                    for sequence in range(1, count + 1):
                        role = "user" if sequence % 2 else "assistant"
                        if sequence == 1:
                            text = first
                        elif role == "user":
                            text = _vary(corpus.question(rng, danish=danish), rng)
                        else:
                            text = corpus.answer(rng, danish=danish)
                        clock += step
                        message_id = f"{session}-m{sequence}"
                        rows.append(
                            {"id": message_id, "chatbot_id": chatbot, "session_id": session, "sequence": sequence,
                             "role": role, "content": text, "status": "ok", "flow_type": "main", "extra": {},
                             "is_edited": False, "language": "da" if danish else "en", "created_at": clock}
                        )  # fmt: skip
                        docs.append(MessageDocument(message_id, chatbot, owner, text, "da" if danish else "en"))
                    title = title_from_question(first)
                    sessions.append(
                        {"id": session, "chatbot_id": chatbot, "user_id": user, "shopper_id": owner, "title": title,
                         "state": {}, "message_count": count, "language": "da" if danish else "en",
                         "last_message_at": clock, "created_at": clock - step * count, "updated_at": clock}
                    )  # fmt: skip
                    titles.append(TitleDocument(session, chatbot, owner, title, "da" if danish else "en"))
                    left -= count
                async with db.engine.begin() as conn:
                    await conn.execute(insert(ConversationSession), sessions)
                    await conn.execute(insert(Message), rows)
                    await index_messages(conn, docs)
                    await index_titles(conn, titles)
                written += len(rows)
        owners = await _load_memories(db, memories=memories, corpus=corpus, shoppers=shoppers, rng=rng, start=start)
    finally:
        await db.dispose()
    return Plan(
        messages=written, conversations=conversations, shoppers=shoppers, memories=memories, memory_owners=owners
    )


async def _load_memories(
    db: Any, *, memories: int, corpus: Corpus, shoppers: dict[str, list[str]], rng: random.Random, start: datetime
) -> list[tuple[str, str]]:
    """``memories`` memories, 5 per shopper, spread over the chatbots' shoppers; returns who has them."""
    owners = [(chatbot, user) for chatbot, users in shoppers.items() for user in users]
    rng.shuffle(owners)
    rows, docs = [], []
    for number in range(memories):
        chatbot, user = owners[(number // 5) % len(owners)]
        danish = chatbot == DANISH
        question = corpus.question(rng, danish=danish)
        answer = corpus.answer(rng, danish=danish)
        tags = [] if danish else rng.sample(corpus.tags_en, 2)
        memory_id = f"mem-{number}"
        owner = shopper_id(chatbot_id=chatbot, user_id=user)
        when = start + timedelta(minutes=number)
        rows.append(
            {"id": memory_id, "chatbot_id": chatbot, "shopper_id": owner, "question": question, "answer": answer,
             "tags": tags, "importance": rng.randint(1, 5), "language": "da" if danish else "en",
             "created_at": when, "updated_at": when}
        )  # fmt: skip
        docs.append(MemoryDocument(memory_id, chatbot, owner, question, answer, tuple(tags), "da" if danish else "en"))
        if len(rows) == BATCH_MESSAGES or number == memories - 1:
            async with db.engine.begin() as conn:
                await conn.execute(insert(Memory), rows)
                await index_memories(conn, docs)
            rows, docs = [], []
    return owners[: min(len(owners), (memories + 4) // 5)]


def plan_file(cache: Path, key: str) -> Path:
    """Where the generated data's plan (who has what) is kept beside the cached databases."""
    return cache / f"store-search-{key}.json"


def save_plan(path: Path, plan: Plan) -> None:
    """Write the plan as JSON."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(plan.__dict__))


def read_plan(path: Path) -> Plan:
    """Read a plan written by :func:`save_plan`."""
    raw = json.loads(path.read_text())
    raw["memory_owners"] = [tuple(pair) for pair in raw["memory_owners"]]
    return Plan(**raw)


def build(url: str, *, messages: int, memories: int, corpus: Corpus) -> tuple[Plan, float]:
    """Load the data into the migrated, empty database at ``url``; returns the plan and the seconds it took."""
    started = time.perf_counter()
    plan = asyncio.run(load(url, messages=messages, memories=memories, corpus=corpus))
    return plan, time.perf_counter() - started
