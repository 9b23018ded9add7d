"""Usage, prices and budgets: model_prices (versioned prices with an effective date),
llm_calls.price_version_id and cache_write_tokens, and budgets. Configs that had prices get
their first version, in force since the config was created.

Revision ID: 0010_usage
Revises: 0009_attachments
"""

import sqlalchemy as sa
from alembic import op

from vibeforge.db.types import UTCDateTime, new_id, utcnow

revision = "0010_usage"
down_revision = "0009_attachments"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("llm_calls") as batch:
        batch.add_column(
            sa.Column("cache_write_tokens", sa.Integer, nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("price_version_id", sa.String(36), nullable=True))
    prices = op.create_table(
        "model_prices",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column(
            "model_config_id",
            sa.String(36),
            sa.ForeignKey("model_configs.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("prices", sa.JSON, nullable=True),
        sa.Column("effective_from", UTCDateTime, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )
    op.create_index(
        "ux_model_prices_config_version",
        "model_prices",
        ["model_config_id", "version"],
        unique=True,
    )
    op.create_table(
        "budgets",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column(
            "owner_id",
            sa.String(36),
            sa.ForeignKey("users.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("scope", sa.String(16), nullable=False),
        sa.Column("subject_id", sa.String(36), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("period", sa.String(8), nullable=False),
        sa.Column("unit", sa.String(8), nullable=False),
        sa.Column("cap", sa.BigInteger, nullable=False),
        sa.Column("thresholds", sa.JSON, nullable=False),
        sa.Column("warned", sa.Integer, nullable=False),
        sa.Column("spent", sa.BigInteger, nullable=False),
        sa.Column("reserved", sa.BigInteger, nullable=False),
        sa.Column("period_start", UTCDateTime, nullable=False),
        sa.Column("webhook_url", sa.String(2000), nullable=True),
        sa.Column("webhook_secret_encrypted", sa.Text, nullable=True),
        sa.Column("created_by", sa.String(36), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_budgets_scope_subject", "budgets", ["scope", "subject_id"])
    configs = sa.table(
        "model_configs",
        sa.column("id", sa.String),
        sa.column("prices", sa.JSON),
        sa.column("created_at", UTCDateTime),
    )
    connection = op.get_bind()
    priced = connection.execute(
        sa.select(configs.c.id, configs.c.prices, configs.c.created_at)
    ).all()
    rows = [
        {
            "id": new_id(),
            "model_config_id": row.id,
            "version": 1,
            "prices": row.prices,
            "effective_from": row.created_at,
            "created_at": utcnow(),
        }
        for row in priced
        if row.prices
    ]
    if rows:
        op.bulk_insert(prices, rows)


def downgrade() -> None:
    op.drop_index("ix_budgets_scope_subject", "budgets")
    op.drop_table("budgets")
    op.drop_index("ux_model_prices_config_version", "model_prices")
    op.drop_table("model_prices")
    with op.batch_alter_table("llm_calls") as batch:
        batch.drop_column("price_version_id")
        batch.drop_column("cache_write_tokens")
