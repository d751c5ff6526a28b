"""Alembic environment: migrates the database named by the ``sqlalchemy.url`` option."""

from __future__ import annotations

from alembic import context
from sqlalchemy import engine_from_config, pool

import samtale.storage.models  # noqa: F401  (registers every table)
from samtale.storage.base import Base
from samtale.storage.fulltext import include_object

config = context.config
target_metadata = Base.metadata


def run_migrations() -> None:
    """Run migrations online against ``sqlalchemy.url``."""
    connectable = engine_from_config(
        config.get_section(config.config_ini_section, {}), prefix="sqlalchemy.", poolclass=pool.NullPool
    )
    with connectable.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
            # The full-text search objects differ per database and are not in the models (0006).
            include_object=include_object,
        )
        with context.begin_transaction():
            context.run_migrations()


run_migrations()
