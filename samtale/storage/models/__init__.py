"""All tables, imported here so Alembic and ``Base.metadata`` see every one."""

from samtale.storage.models.analytics import ConversationAnalytics, ConversationCsat, MessageFeedback
from samtale.storage.models.chatbots import ApiKey, Chatbot, Integration, PromptTemplate
from samtale.storage.models.conversation import (
    ContextChunkUsed,
    ConversationSession,
    Message,
    MessageEdit,
    StreamingEvent,
    StreamingSession,
)
from samtale.storage.models.files import UploadedFile
from samtale.storage.models.knowledge import (
    EmbeddingCacheEntry,
    KnowledgeChunk,
    KnowledgeDocument,
    KnowledgeIndex,
    KnowledgeJob,
)
from samtale.storage.models.memories import Memory
from samtale.storage.models.observability import ConversationProcessingMetrics, ErrorLog, MaintenanceRun
from samtale.storage.models.shoppers import Shopper
from samtale.storage.models.template_builder import (
    TemplateDraft,
    TemplateLLMLog,
    TemplateMessage,
    TemplateSession,
    TemplateSubmission,
)

__all__ = [
    "ApiKey",
    "Chatbot",
    "ContextChunkUsed",
    "ConversationAnalytics",
    "ConversationCsat",
    "ConversationProcessingMetrics",
    "ConversationSession",
    "EmbeddingCacheEntry",
    "ErrorLog",
    "Integration",
    "KnowledgeChunk",
    "KnowledgeDocument",
    "KnowledgeIndex",
    "KnowledgeJob",
    "MaintenanceRun",
    "Memory",
    "Message",
    "MessageEdit",
    "MessageFeedback",
    "PromptTemplate",
    "Shopper",
    "StreamingEvent",
    "StreamingSession",
    "TemplateDraft",
    "TemplateLLMLog",
    "TemplateMessage",
    "TemplateSession",
    "TemplateSubmission",
    "UploadedFile",
]
