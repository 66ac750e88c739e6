"""Alembic environment for the identity service's database."""

from identity_service.adapters.models import Base
from identity_service.settings import IdentitySettings
from servicekit.migrations import run_alembic_env

run_alembic_env(Base.metadata, IdentitySettings().database_url)
