"""The retrieved context a generation request carries: value types shared by knowledge retrieval (which
makes them) and the LLM layer (prompting, the offline answerer). They live here, below knowledge, so
knowledge may call an LLM while providers read chunks; :mod:`samtale.knowledge.types` re-exports them."""

from __future__ import annotations

from dataclasses import dataclass, field

MetadataValue = str | int | float | bool | None


@dataclass(frozen=True, slots=True)
class ContextChunk:
    """One retrieved chunk of a knowledge base, as handed to the prompt and the `sources` event.

    Attributes:
        chunk_id: the chunk's stable id in storage.
        document_id: the external id of the document the chunk came from (a CSV row's
            ``--id-column`` value, or the file's source path).
        index_name: the knowledge index (per chatbot) it was retrieved from.
        text: the chunk text that was embedded (for a CSV row: ``column: value`` lines).
        title: the document's title, when it has one (a product title, a heading).
        source: where the document came from (file name or URL).
        position: the chunk's 0-based position within its document.
        metadata: typed fields of the document (for products: price, country, variety…).
        score: retrieval score, higher is better: the fused hybrid score scaled to 0..1 (1 = ranked
            first by both the vector and the lexical search).
        vector_score: cosine similarity of the chunk with the query (-1..1), when retrieved by
            the knowledge retriever.
        lexical_score: BM25 score of the chunk for the query (0 = no query term in it).
    """

    chunk_id: str
    document_id: str
    index_name: str
    text: str
    title: str | None
    source: str
    position: int
    score: float
    metadata: dict[str, MetadataValue] = field(default_factory=dict)
    vector_score: float | None = None
    lexical_score: float | None = None
