"""Pagination the flask-smorest way (X-Pagination header), done in the database."""

from __future__ import annotations

from typing import Any

from flask_smorest import Page
from sqlalchemy import func, select

from kpi_core.web.db import db_session


class SQLPage(Page):
    """Pages a SQLAlchemy select with LIMIT/OFFSET and counts with COUNT(*)."""

    @property
    def item_count(self) -> int:
        counted = select(func.count()).select_from(self.collection.order_by(None).subquery())
        return db_session().scalar(counted) or 0

    @property
    def items(self) -> list[Any]:
        params = self.page_params
        return list(db_session().scalars(self.collection.offset(params.first_item).limit(params.page_size)))
