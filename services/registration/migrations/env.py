"""Alembic environment for the registration service's database."""

from registration_service.adapters.models import Base
from registration_service.settings import RegistrationSettings
from servicekit.migrations import run_alembic_env

run_alembic_env(Base.metadata, RegistrationSettings().database_url)
