"""Errors of the knowledge domain (ingestion and retrieval), under :class:`samtale.errors.SamtaleError`.

Tree::

    InputError
    └── KnowledgeInputError        a file or row we cannot ingest (not UTF-8, unknown type, no id)
        └── FileTooLargeError      a file over the configured size limit
    ConflictError
    └── EmbedderMismatchError      an index built by another embedding model or dimension
"""

from __future__ import annotations

from samtale.errors import ConflictError, ErrorCategory, InputError


class KnowledgeInputError(InputError):
    """A file, row or document cannot be ingested; the message names it and says why."""

    code = "knowledge_input"


class FileTooLargeError(KnowledgeInputError):
    """A file is larger than the ingestion size limit (``max_file_bytes``)."""

    code = "knowledge_file_too_large"


class EmbedderMismatchError(ConflictError):
    """The index was built with a different embedding model or dimension than the embedder given.

    Vectors from two models are not comparable, so neither ingesting into nor querying such an
    index is allowed; re-ingest the index with the configured model instead.
    """

    code = "embedder_mismatch"
    category = ErrorCategory.VECTOR_STORE
