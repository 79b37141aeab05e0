"""``/unsubscribe?token=...``: the page a message's unsubscribe link opens, in plain words, without scripts.

Opening it changes nothing (mail scanners and link previews open links in
messages); its one button posts the form back here, which turns the
subscription off exactly as the one-click ``POST
/api/v1/notifications/unsubscribe`` does.
"""

from __future__ import annotations

from flask import Blueprint, render_template, request
from flask.typing import ResponseReturnValue

from kpi_core.audit.trail import Actor
from kpi_core.notify import subscriptions
from kpi_core.web.db import commit, db_session
from kpi_core.web.state import app_state

blueprint = Blueprint("unsubscribe_page", __name__)


@blueprint.route("/unsubscribe", methods=["GET", "POST"])
def unsubscribe_page() -> ResponseReturnValue:
    token = request.args.get("token", "")
    try:
        target = subscriptions.read_token(app_state().settings, token)
    except subscriptions.TokenRejected as exc:
        return render_template("unsubscribe.html", state="refused", reason=str(exc)), 400
    session = db_session()
    if request.method == "POST":
        actor = Actor(user_id=None, username="unsubscribe link", ip=request.remote_addr)
        try:
            subscriptions.unsubscribe(session, target, actor)
        except subscriptions.TokenRejected as exc:
            return render_template("unsubscribe.html", state="refused", reason=str(exc)), 400
        commit()
        return render_template("unsubscribe.html", state="done", label=target.label)
    enabled = subscriptions.is_enabled(session, target.user_id, target.kind)
    state = "ask" if enabled else "done"
    return render_template("unsubscribe.html", state=state, label=target.label, token=token)
