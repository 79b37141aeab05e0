"""Pagination the flask-smorest way (X-Pagination header), done in the database."""

from __future__ import annotations

from typing import Any

from flask_smorest import Page
from sqlalchemy import Select, func, select

from kpi_core.web.db import db_session
from kpi_core.web.schemas import MAX_ID


class SQLPage(Page):
    """Pages a SQLAlchemy select with LIMIT/OFFSET and counts with COUNT(*)."""

    @property
    def item_count(self) -> int:
        counted = select(func.count()).select_from(self.collection.order_by(None).subquery())
        return db_session().scalar(counted) or 0

    @property
    def items(self) -> list[Any]:
        return list(db_session().scalars(self.window(self.collection)))

    def window(self, statement: Select) -> Select:
        """``statement`` limited to this page. A page past any possible row is empty: its OFFSET
        stops at the largest 64-bit integer instead of overflowing the database driver."""
        params = self.page_params
        return statement.offset(min(params.first_item, MAX_ID)).limit(params.page_size)
