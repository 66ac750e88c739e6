"""Alembic environment for the profile service's database."""

from profile_service.adapters.models import Base
from profile_service.settings import ProfileSettings
from servicekit.migrations import run_alembic_env

run_alembic_env(Base.metadata, ProfileSettings().database_url)
