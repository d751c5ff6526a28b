"""The chatbot configuration document (YAML), validated by Pydantic.

One document per chatbot (DESIGN section 4)::

    id: vinhuset
    name: Vinhuset
    language: en                 # en | da
    llm: {provider: offline}     # offline | openai | flowise, model, base_url, api_key: ${ENV}
    prompts:                     # named Jinja2 templates (sandboxed)
      main: "You are the shop assistant of {{ chatbot.name }} …"
    flows:
      - {type: main, knowledge_index: policies, top_k: 5}
      - {type: flow3, route_key: product, knowledge_index: products}
      - {type: apiflow, route_key: order, integration: shop,
         orders: {max_failed_attempts: 5, llm_extraction: true}}   # see OrderFlowSettings
    routing: {strategy: keywords, keywords: [{route_key: order, pattern: "#\\d+"}]}
    integrations:
      - {name: shop, kind: shopify, settings: {shop: demo}, secrets: {access_token: "${SHOPIFY_TOKEN}"}}
    identity_secret: ${VINHUSET_IDENTITY_SECRET}   # signs verified shoppers' user ids (optional)
    retention_days: 365          # conversations removed a year after their last activity (optional)
    memory: {enabled: true, top_k: 3}              # recall a verified shopper's memories into the prompt
    llm_titles: true             # the model titles new conversations (default false: the first question)

Flow types keep the seeds' names (``main``, ``flow2``…``flow4``, ``apiflow``, ``metadata``,
``metadata2``); a flow's ``route_key`` is the label the router emits (vinhuset: flow3 =
``product``, flow4 = ``productfilter``, apiflow = ``order``). ``main`` always exists and its
route key is ``main``.
"""

from __future__ import annotations

import re
from typing import Literal

from limits import parse_many
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from samtale.chatbots.routing_config import RoutingConfig
from samtale.chatbots.secrets import REDACTED, is_env_reference
from samtale.security.origins import normalize_origin

FlowType = Literal["main", "flow2", "flow3", "flow4", "apiflow", "metadata", "metadata2"]
Language = Literal["en", "da"]
CHATBOT_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


class LLMSettings(BaseModel):
    """Which LLM answers a chatbot or one of its flows; unset fields fall back to process settings."""

    model_config = ConfigDict(extra="forbid")

    provider: Literal["offline", "openai", "flowise"] | None = None
    model: str | None = None
    base_url: str | None = None
    api_key: str | None = Field(default=None, description="an ${ENV_VAR} reference, never a literal key")
    chatflow_id: str | None = Field(default=None, description="Flowise chatflow id (Prediction API)")
    temperature: float | None = None
    max_tokens: int | None = None

    @field_validator("api_key")
    @classmethod
    def _api_key_is_reference(cls, value: str | None) -> str | None:
        if value is not None and not is_env_reference(value):
            raise ValueError("llm.api_key must be an ${ENV_VAR} reference; literal keys are not stored in config")
        return value

    def merged(self, override: LLMSettings | None) -> LLMSettings:
        """These settings with every field set in ``override`` replacing ours."""
        if override is None:
            return self
        return self.model_copy(update=override.model_dump(exclude_none=True))


class OrderFlowSettings(BaseModel):
    """The ``orders:`` block of an ``apiflow`` flow: how its order flow extracts and verifies.

    Attributes:
        max_failed_attempts: failed lookups (no such order, or a second factor that does not
            match) allowed per conversation before the flow stops looking up and points to
            human support (issue 4: 5).
        llm_extraction: also ask the flow's LLM for the order number, email, postcode and phone
            when the rules miss what the flow needs (the seeds' ApiVarFlow); rules always run
            first, and the LLM's answer is validated before it is used.
        llm_timeout_s: seconds to wait for that LLM answer before going on with the rules' result.
        order_number_pattern: a regular expression the shop's order numbers match in full
            (without a leading ``#``), e.g. ``"\\d{4,6}"`` or ``"CT-\\d+"``; a number found
            by the rules or the LLM that does not match it is never looked up. None accepts
            the shapes the rules know (``1001``, ``000000123``, ``CT-1001``).
    """

    model_config = ConfigDict(extra="forbid")

    max_failed_attempts: int = Field(default=5, ge=1, le=100)
    llm_extraction: bool = False
    llm_timeout_s: float = Field(default=5.0, gt=0.0, le=60.0)
    order_number_pattern: str | None = None

    @field_validator("order_number_pattern")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"orders.order_number_pattern is not a valid regular expression: {exc}") from None
        return value


class FlowConfig(BaseModel):
    """One flow of a chatbot: what answers the messages routed to it."""

    model_config = ConfigDict(extra="forbid")

    type: FlowType
    route_key: str | None = None
    description: str | None = None
    prompt: str | None = Field(default=None, description="name of a template in `prompts`; default: the type")
    knowledge_index: str | None = None
    top_k: int = Field(default=5, ge=1, le=50)
    min_score: float | None = None
    filters: Literal["off", "rules", "llm"] = Field(
        default="rules",
        description=(
            'metadata filters from the question ("under $30", "fra Italien"): `rules` (default), '
            "`llm` (the flow's LLM when the rules find none) or `off`; only fields the index has are used"
        ),
    )
    integration: str | None = None
    llm: LLMSettings | None = None
    orders: OrderFlowSettings | None = Field(default=None, description="apiflow only: order-flow settings")

    @model_validator(mode="after")
    def _orders_only_on_apiflow(self) -> FlowConfig:
        if self.orders is not None and self.type != "apiflow":
            raise ValueError(f"flow '{self.type}' has an `orders` block; only the apiflow flow takes one")
        return self

    @property
    def key(self) -> str:
        """The route key the router emits for this flow (``main`` for the main flow)."""
        return "main" if self.type == "main" else (self.route_key or self.type)


class MemorySettings(BaseModel):
    """The ``memory:`` block: recall a verified shopper's memories (seed 003) into each turn's prompt.

    Attributes:
        enabled: recall memories (default off). Only a turn whose ``user_hash`` verified recalls
            them: a user id alone proves nothing, and the memories are listed in the turn's
            ``memory`` event.
        top_k: the most memories recalled per turn (those sharing words with the question, best
            first, then the shopper's importance-5 memories), 1 to 10.
    """

    model_config = ConfigDict(extra="forbid")

    enabled: bool = False
    top_k: int = Field(default=3, ge=1, le=10)


class ImageSettings(BaseModel):
    """The ``images:`` block: how a chatbot with ``image_enabled: true`` takes a shopper's photo.

    Attributes:
        max_bytes: the largest image this chatbot accepts, bytes; None = ``SAMTALE_IMAGE_MAX_BYTES``
            (10 MB). It can only lower the process limit, which bounds every request's body.
        prompt: the name of the template in ``prompts`` the vision model is asked with; None =
            a template named ``image`` when there is one, else the built-in one in the chatbot's
            language (``samtale.images.describe.DEFAULT_IMAGE_PROMPTS``).
        llm: the vision model, over the chatbot's ``llm`` (its ``provider`` must be ``openai`` or
            ``flowise``: the offline answerer sees no image and says so).
    """

    model_config = ConfigDict(extra="forbid")

    max_bytes: int | None = Field(default=None, gt=0, le=50 * 1024 * 1024)
    prompt: str | None = None
    llm: LLMSettings | None = None


class RateLimitSettings(BaseModel):
    """The ``rate_limits:`` block, each in the ``limits`` notation (``"20/minute"``,
    ``"100/day;10/minute"``). Over a limit a request is answered 429 with ``Retry-After``.

    The defaults are far above what a real shopper does (a fast typist sends a message every few
    seconds) and low enough that a script spending the shop's LLM budget is stopped within a minute.

    Attributes:
        process_message: messages per conversation and, separately, per shopper (``user_id``).
        process_message_per_address: messages per client address across all of the chatbot's
            shoppers; higher, because a shop's customers can share an address (mobile carriers' NAT).
        order_lookup_failures: failed order verifications per client address, across
            conversations (a new ``session_id`` does not reset it): the guard against guessing
            order numbers and e-mail addresses.
        upload_image: image uploads (``POST /api/upload-image``) per client address; each costs
            a decode and a re-encode of up to 10 MB.
    """

    model_config = ConfigDict(extra="forbid")

    process_message: str = "20/minute;300/hour"
    process_message_per_address: str = "120/minute"
    order_lookup_failures: str = "5/hour"
    upload_image: str = "10/minute;100/hour"

    @field_validator("*")
    @classmethod
    def _in_limits_notation(cls, value: str) -> str:
        try:
            parse_many(value)
        except ValueError as exc:
            raise ValueError(f"'{value}' is not a rate limit such as '20/minute' ({exc})") from None
        return value


class TopicConfig(BaseModel):
    """One entry of a chatbot's ``topics:`` list: what analytics files a shopper's question under.

    Attributes:
        name: the topic's key (``order_status``, ``returns_refunds`` …), unique in the chatbot.
        description: what belongs to the topic, in plain words (shown to an LLM classifier and
            embedded offline).
        examples: example questions in the chatbot's languages (English and Danish for the
            shipped ``shop-topics``); the offline classifier is fitted on them.
        keywords: regular expressions (case-insensitive, ``re.search``) that point at the topic
            without doubt; a match outweighs the examples (see ``samtale.analytics.topics``).

    A plain string in the YAML (``topics: [delivery, returns]``) is a topic with that name only.
    """

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_-]*$")
    description: str = ""
    examples: list[str] = Field(default_factory=list)
    keywords: list[str] = Field(default_factory=list)

    @field_validator("keywords")
    @classmethod
    def _keywords_compile(cls, value: list[str]) -> list[str]:
        for pattern in value:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"topic keyword {pattern!r} is not a valid regular expression: {exc}") from None
        return value


class IntegrationConfig(BaseModel):
    """An outside system (order API, vector store, WhatsApp account). Secrets stay out of exports."""

    model_config = ConfigDict(extra="forbid")

    name: str
    kind: str
    settings: dict[str, object] = Field(default_factory=dict)
    secrets: dict[str, str] = Field(default_factory=dict)


class ChatbotConfig(BaseModel):
    """A whole chatbot document, as imported from and exported to YAML.

    Raises (as ``pydantic.ValidationError``): a bad id, no ``main`` flow, a flow type or route
    key used twice, a flow naming a prompt or integration that is not defined.
    """

    model_config = ConfigDict(extra="forbid")

    id: str
    name: str
    language: Language = "en"
    description: str | None = None
    image_enabled: bool = False
    images: ImageSettings = Field(default_factory=ImageSettings)
    allowed_origins: list[str] = Field(
        default_factory=list,
        description="pages (scheme://host[:port], or *) whose browsers may call this chatbot's public endpoints",
    )
    llm: LLMSettings = Field(default_factory=LLMSettings)
    prompts: dict[str, str] = Field(default_factory=dict)
    flows: list[FlowConfig] = Field(default_factory=lambda: [FlowConfig(type="main")])
    routing: RoutingConfig = Field(default_factory=RoutingConfig)
    integrations: list[IntegrationConfig] = Field(default_factory=list)
    topics: list[TopicConfig] = Field(
        default_factory=list,
        description="what analytics files each question under (name, description, examples, keywords)",
    )
    substitutions: dict[str, str] = Field(default_factory=dict)
    retention_days: int | None = Field(
        default=None,
        ge=1,
        le=36_500,
        description=(
            "days a conversation is kept after its last activity; the daily conversation_retention job "
            "removes older ones with their messages, streams and metrics. Unset: kept for ever."
        ),
    )
    memory: MemorySettings = Field(default_factory=MemorySettings)
    rate_limits: RateLimitSettings = Field(default_factory=RateLimitSettings)
    llm_titles: bool = Field(
        default=False,
        description=(
            "summarise a new conversation's title with the chatbot's model once its first turn is stored "
            "(one short completion and one write per conversation); off keeps the shortened first question"
        ),
    )
    identity_secret: str | None = Field(
        default=None,
        description=(
            "the key the shop's backend signs a verified shopper's user id with: "
            "user_hash = hex(HMAC-SHA256(identity_secret, user_id)). A literal (16+ characters) is "
            "stored Fernet-encrypted, an ${ENV} reference as it is; exports show <encrypted>."
        ),
    )

    @field_validator("allowed_origins")
    @classmethod
    def _origins(cls, values: list[str]) -> list[str]:
        return [normalize_origin(value) for value in values]

    @field_validator("topics", mode="before")
    @classmethod
    def _topic_names(cls, value: object) -> object:
        if isinstance(value, list):
            return [{"name": item} if isinstance(item, str) else item for item in value]
        return value

    @field_validator("identity_secret")
    @classmethod
    def _strong_identity_secret(cls, value: str | None) -> str | None:
        if value is None or is_env_reference(value) or value == REDACTED:
            return value
        if len(value) < 16:
            raise ValueError("identity_secret must be at least 16 characters (or an ${ENV} reference)")
        return value

    @field_validator("id")
    @classmethod
    def _valid_id(cls, value: str) -> str:
        if not CHATBOT_ID.match(value):
            raise ValueError("chatbot id must be 1–64 of a-z, 0-9, '-' or '_', starting with a letter or digit")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> ChatbotConfig:
        types = [flow.type for flow in self.flows]
        if "main" not in types:
            raise ValueError("a chatbot needs a flow of type 'main'")
        for flow_type in set(types):
            if types.count(flow_type) > 1:
                raise ValueError(f"flow type '{flow_type}' is used twice")
        keys: dict[str, str] = {}
        for flow in self.flows:
            if flow.key in keys:
                raise ValueError(f"route key '{flow.key}' is used by flows '{keys[flow.key]}' and '{flow.type}'")
            keys[flow.key] = flow.type
            if flow.prompt is not None and flow.prompt not in self.prompts:
                raise ValueError(f"flow '{flow.type}' names prompt '{flow.prompt}', which is not in `prompts`")
        if self.images.prompt is not None and self.images.prompt not in self.prompts:
            raise ValueError(f"images.prompt names prompt '{self.images.prompt}', which is not in `prompts`")
        topic_names = [topic.name for topic in self.topics]
        if len(set(topic_names)) != len(topic_names):
            raise ValueError("a topic name is used twice in `topics`")
        names = {integration.name for integration in self.integrations}
        for flow in self.flows:
            if flow.integration is not None and flow.integration not in names:
                raise ValueError(f"flow '{flow.type}' names integration '{flow.integration}', which is not defined")
        return self

    def flow(self, key: str) -> FlowConfig:
        """The flow whose route key is ``key``, or the main flow when there is none."""
        for flow in self.flows:
            if flow.key == key:
                return flow
        return self.main_flow

    @property
    def main_flow(self) -> FlowConfig:
        """The ``main`` flow (always present)."""
        return next(flow for flow in self.flows if flow.type == "main")

    @property
    def route_keys(self) -> list[str]:
        """Every route key of this chatbot, ``main`` first."""
        return [flow.key for flow in self.flows]
