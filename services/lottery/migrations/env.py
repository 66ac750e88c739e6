"""Alembic environment for the lottery service's database."""

from lottery_service.adapters.models import Base
from lottery_service.settings import LotterySettings
from servicekit.migrations import run_alembic_env

run_alembic_env(Base.metadata, LotterySettings().database_url)
