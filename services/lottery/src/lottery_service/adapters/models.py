"""Tables of the lottery service."""

from __future__ import annotations

from servicekit.outbox import define_outbox_table
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    metadata = MetaData()


outbox = define_outbox_table(Base.metadata)
