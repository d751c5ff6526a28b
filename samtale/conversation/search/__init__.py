"""Full-text search over a chatbot's conversations and its shoppers' memories, in the chatbot's language.

:mod:`~samtale.conversation.search.indexing` keeps the index right (the recorder, edits,
renames, memories); :mod:`~samtale.conversation.search.messages` searches messages and titles
(a shopper's own, or a whole chatbot's for staff); :mod:`~samtale.conversation.search.memories`
searches a shopper's memories. Queries are parsed by :mod:`~samtale.conversation.search.query`
(untrusted input never reaches the database as syntax) and snippets are marked by
:mod:`~samtale.conversation.search.snippets`. How each database indexes is described in
:mod:`samtale.storage.fulltext`.
"""
