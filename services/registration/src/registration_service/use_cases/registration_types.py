"""Registration types (verbs) such as ``Enrolled``, ``Waitlisted`` and ``Priority/1``."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from registration_service.adapters.models import RegistrationTypeRow
from registration_service.domain.errors import InvalidInput

# (database, name, category) -> id. Types are never deleted or renamed, so an id once committed
# stays right; only ids read back (not created in a transaction that may yet roll back) are kept.
_id_cache: dict[tuple[str, str, str], int] = {}


class TypesMissing(Exception):
    """Names in ``include`` that do not exist, asked for by a caller who may not create them."""

    def __init__(self, names: list[str]) -> None:
        super().__init__(", ".join(names))
        self.names = names


def get_map(
    session: Session,
    include: list[str] | None = None,
    category: str | None = None,
    create_missing: bool = True,
) -> dict[str, RegistrationTypeRow]:
    """The types of ``category`` keyed by name, creating any name in ``include`` that is missing
    (or raising :class:`TypesMissing` when ``create_missing`` is false).

    Without ``include``, every type of the category (or of every category) is returned.
    Including names without a category is an error: a type is unique only per category.
    """
    if include and not category:
        raise InvalidInput({"category": ["Required when include names types to create."]})
    query = select(RegistrationTypeRow).order_by(RegistrationTypeRow.id)
    if category:
        query = query.where(RegistrationTypeRow.category == category)
    if include:
        query = query.where(RegistrationTypeRow.name.in_(include))
    found = {row.name: row for row in session.scalars(query)}
    missing = [name for name in dict.fromkeys(include or []) if name not in found]
    if missing and not create_missing:
        raise TypesMissing(missing)
    for name in missing:
        found[name] = _create(session, name, category or "")
    return found


def get_cached(session: Session, name: str, category: str) -> int:
    """The id of a type, created on first use and remembered for the life of the process."""
    key = (str(session.get_bind().engine.url), name, category)
    if key in _id_cache:
        return _id_cache[key]
    existing = session.scalar(
        select(RegistrationTypeRow.id).where(
            RegistrationTypeRow.name == name, RegistrationTypeRow.category == category
        )
    )
    if existing is None:
        return _create(session, name, category).id
    _id_cache[key] = existing
    return existing


def _create(session: Session, name: str, category: str) -> RegistrationTypeRow:
    """Insert in a savepoint so a concurrent creator of the same name wins harmlessly."""
    try:
        with session.begin_nested():
            row = RegistrationTypeRow(
                name=name, display_name=name, description="", category=category
            )
            session.add(row)
    except IntegrityError:
        row = session.scalars(
            select(RegistrationTypeRow).where(
                RegistrationTypeRow.name == name, RegistrationTypeRow.category == category
            )
        ).one()
    return row
