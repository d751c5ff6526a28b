"""Text handling for the offline answerer: words, stop words, Markdown to sentences, overlap scores.

Word matching uses truncation stemming: a question word is reduced to its first five letters
and matches every word that starts with them, so ``return``, ``returns``, ``returnable`` and
Danish ``returnering`` all meet at ``retur``, and a shorter question word matches longer words
that start with it (``vare`` → ``varerne``). Truncating words to their first four or five
letters is a language-independent stemmer that holds up well against rule-based ones in
retrieval across European languages (McNamee, Nicholas & Mayfield, "Addressing morphological
variation in alphabetic languages", SIGIR 2009), which suits a bilingual answerer with no model.
"""

from __future__ import annotations

import html
import math
import re

# Snowball's English and Danish stop word lists (snowballstem.org, "stop.txt" of each language),
# with the question words and shop verbs a shopper adds to every question ("can", "kan",
# "hvordan", "sell", "buy") so they do not decide which sentence is relevant.
ENGLISH_STOP_WORDS = frozenset(
    """
    a about above after again against all am an and any are as at be because been before being below
    between both but by can cannot could did do does doing down during each few for from further had has
    have having he her here hers herself him himself his how i if in into is it its itself just let me
    more most my myself no nor not now of off on once only or other ought our ours ourselves out over own
    same she should so some such than that the their theirs them themselves then there these they this
    those through to too under until up very was we were what when where which while who whom why will
    with would you your yours yourself yourselves also get got please tell know want like may might must
    need shall s t don doesn isn aren wasn weren hasn haven hadn won wouldn shouldn couldn mustn
    sell sold buy offer offers anything something thing things much many one
    """.split()
)
DANISH_STOP_WORDS = frozenset(
    """
    ad af aldrig alle alt anden andet andre at bare begge blev blive bliver da de dem den denne der deres
    det dette dig din dine disse dit dog du efter eller en end er et far fordi for fra få gjorde gør god
    ham han hans har havde have hej helt hende hendes her hos hun hvad hvem hver hvilken hvilke hvis hvor
    hvordan hvorfor hvornår i ikke ind ingen jeg jer jeres jo kan kom komme kunne lidt lige man mange med
    meget men mens mig min mine mit mod må ned nej noget nogle nu når og også om op os over på sagde se
    selv sig sin sine sit skal skulle som sådan thi til ud under var ved vi vil ville vor vores være været
    sælger sælge købe køb gerne venligst tak
    """.split()
)
# A Danish shop's catalogue and questions mix in English, so Danish uses both lists.
STOP_WORDS = {"en": ENGLISH_STOP_WORDS, "da": ENGLISH_STOP_WORDS | DANISH_STOP_WORDS}

STEM_LENGTH = 5
_WORD = re.compile(r"[^\W_]+")
_FRONT_MATTER = re.compile(r"\A\s*---\s*\n.*?\n---\s*(?:\n|\Z)", re.DOTALL)
_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_EMPHASIS = re.compile(r"(\*\*|__|\*|`)")
_TAG = re.compile(r"<[^>]+>")
_BULLET = re.compile(r"^\s*(?:[-*+•]|\d+[.)])\s+")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"“'(«]?[A-ZÆØÅÄÖÜÉ0-9])")


def words(text: str) -> list[str]:
    """The lower-cased words (letters and digits) of ``text``."""
    return _WORD.findall(text.lower())


def stems(text: str, *, language: str) -> set[str]:
    """The stems of ``text``'s words that are not stop words of ``language`` (single letters dropped)."""
    stop = STOP_WORDS.get(language, ENGLISH_STOP_WORDS)
    return {word[:STEM_LENGTH] for word in words(text) if len(word) > 1 and word not in stop}


class QueryTerms:
    """The stems of a question, matched against many texts with one compiled regex each.

    A term matches a text word that starts with it, so ``retur`` finds ``returnable`` and
    ``vare`` finds ``varerne``; the scan runs in the regex engine, not word by word in Python.
    """

    def __init__(self, question: str, *, language: str) -> None:
        self.terms = stems(question, language=language)
        alternatives = "|".join(re.escape(term) for term in sorted(self.terms, key=len, reverse=True))
        self._pattern = re.compile(rf"\b(?:{alternatives})") if self.terms else None

    def __bool__(self) -> bool:
        return bool(self.terms)

    def matched(self, text: str) -> set[str]:
        """The question terms that begin a word of ``text``."""
        if self._pattern is None:
            return set()
        return set(self._pattern.findall(text.lower()))


def clean_inline(text: str) -> str:
    """``text`` without HTML tags, Markdown links, emphasis markers and repeated whitespace."""
    text = _TAG.sub(" ", text)
    text = _LINK.sub(r"\1", text)
    text = _EMPHASIS.sub("", text)
    return " ".join(html.unescape(text).split())


def strip_front_matter(text: str) -> str:
    """``text`` without a leading YAML front matter block (``---`` … ``---``)."""
    return _FRONT_MATTER.sub("", text, count=1) if text.lstrip().startswith("---") else text


def blocks(markdown: str) -> list[str]:
    """The paragraphs and list items of a Markdown or plain text, each on one line, cleaned.

    Front matter and headings are dropped (a heading is not an answer); wrapped lines of one
    paragraph or list item are joined.
    """
    text = strip_front_matter(markdown)
    found: list[str] = []
    current: list[str] = []

    def flush() -> None:
        if current:
            cleaned = clean_inline(" ".join(current))
            if cleaned:
                found.append(cleaned)
            current.clear()

    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#") or set(stripped) <= {"-", "=", "*", "_"}:
            flush()
            continue
        bullet = _BULLET.match(line)
        if bullet is not None:
            flush()
            current.append(line[bullet.end() :])
        else:
            current.append(stripped)
    flush()
    return found


def sentences(text: str) -> list[str]:
    """The sentences of a Markdown or plain text, in order (split after ``.``, ``!`` or ``?``)."""
    return [sentence for block in blocks(text) for sentence in _SENTENCE_END.split(block) if sentence]


def first_sentence(text: str, *, max_chars: int = 240) -> str:
    """The first sentence of ``text`` (HTML and Markdown removed), cut at a word near ``max_chars``."""
    cleaned = clean_inline(text)
    sentence = _SENTENCE_END.split(cleaned, maxsplit=1)[0] if cleaned else ""
    if len(sentence) > max_chars:
        sentence = sentence[:max_chars].rsplit(" ", 1)[0] + "…"
    return sentence


def idf(document_frequency: int, documents: int) -> float:
    """Inverse document frequency ``ln(1 + N / df)`` (a rare question word counts more)."""
    return math.log(1 + documents / max(1, document_frequency))
