"""Value types shared by knowledge retrieval and its consumers (prompting, the offline answerer).

Defined in :mod:`samtale.llm.context` (a generation request carries retrieved chunks, and the LLM
layer sits below knowledge); re-exported here, where retrieval's callers look for them.
"""

from samtale.llm.context import ContextChunk, MetadataValue

__all__ = ["ContextChunk", "MetadataValue"]
