def test_healthz_answers_ok(client):
    assert client.get("/healthz").json == {"status": "ok"}


def test_readyz_names_each_check_and_is_ready_on_a_migrated_database(client):
    response = client.get("/readyz")
    assert response.status_code == 200, response.json
    assert set(response.json["checks"]) == {"database", "schema", "plugins"}
