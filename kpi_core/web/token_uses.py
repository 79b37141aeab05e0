"""Every request made with an integration token is kept: which token, which operation, when, the answer.

Written once the request is over, in a transaction of its own: a request that
failed or was refused (403 beyond the token's scope, 401 once revoked) leaves
nothing of its own behind, yet its use is kept. Changes the request made are in
the audit trail as well, under the token's user.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, g, request
from sqlalchemy.exc import SQLAlchemyError

from kpi_core.accounts.integration_tokens import Use, record_use
from kpi_core.web.access import OPERATION_PERMISSION, TOKEN_USED
from kpi_core.web.db import close_request_session
from kpi_core.web.state import app_state

log = logging.getLogger(__name__)
STATUS = "token_use_status"


def install(app: Flask) -> None:
    @app.after_request
    def note_status(response: Response) -> Response:
        if g.get(TOKEN_USED) is not None:
            g.setdefault(STATUS, response.status_code)
        return response

    @app.teardown_request
    def keep_use(_exc: BaseException | None) -> None:
        token_id = g.get(TOKEN_USED)
        if token_id is None:
            return
        # The request's own session first: on SQLite it may still hold the write lock this needs.
        close_request_session()
        principal = g.get("principal")
        use = Use(
            token_id=token_id,
            method=request.method,
            path=request.path,
            permission=g.get(OPERATION_PERMISSION),
            status=g.get(STATUS, 500),
            accepted=principal is not None and principal.integration_token_id == token_id,
            request_id=g.get("request_id"),
            ip=request.remote_addr,
        )
        try:
            with app_state().database.session() as session:
                record_use(session, use)
        except SQLAlchemyError:
            # The answer has gone out; a database that cannot take the record is logged, not raised.
            log.exception("could not keep the use of integration token %s (%s %s)", token_id, use.method, use.path)
