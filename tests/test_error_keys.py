"""An error whose field names are not all strings (a parser's None for a part without a name) is still
answered as a 4xx with every problem named, never a 500 from sorting mixed keys."""

from __future__ import annotations

from flask_smorest import abort


def test_errors_keyed_by_none_are_answered_as_a_422_naming_the_request(app):
    @app.route("/test-mixed-keys", methods=["POST"])
    def mixed() -> None:
        abort(422, errors={"form": {None: ["Unknown field."], "job_key": ["Missing data for required field."]}})

    answer = app.test_client().post("/test-mixed-keys")

    assert answer.status_code == 422
    assert answer.json["errors"] == {
        "form": {"_schema": ["Unknown field."], "job_key": ["Missing data for required field."]}
    }
