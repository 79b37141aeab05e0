"""/api/v1/customers: admins and managers keep the customer list; external_ref is unique and a
customer with jobs cannot be deleted."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from sqlalchemy import func, select

from kpi_core.storage.models import AuditEntry, Customer, Job, Team, Technician

CUSTOMERS = "/api/v1/customers"


@pytest.fixture
def manager_headers(make_user, login, database) -> dict[str, str]:
    with database.session() as session:
        session.add(Team(name="North"))
    make_user("manager", username="north-manager", teams=("North",))
    return login("north-manager")


@pytest.fixture
def tech_headers(make_user, login, database) -> dict[str, str]:
    with database.session() as session:
        session.add(Technician(external_ref="T-1", name="Nora"))
    make_user("technician", username="nora", technician_ref="T-1")
    return login("nora")


@pytest.fixture
def make_customer(client, admin_headers):
    """``make_customer(**fields)`` creates a customer as an admin and returns its JSON."""
    refs = itertools.count(1)

    def make(**values: Any) -> dict[str, Any]:
        body = {"external_ref": f"C-{next(refs)}", "name": "Ada Lovelace", **values}
        response = client.post(CUSTOMERS, json=body, headers=admin_headers)
        assert response.status_code == 201, response.json
        return response.json

    return make


def etag_of(client, customer_id: int, headers: dict[str, str]) -> str:
    response = client.get(f"{CUSTOMERS}/{customer_id}", headers=headers)
    assert response.status_code == 200, response.json
    return response.headers["ETag"]


def with_etag(client, customer_id: int, headers: dict[str, str]) -> dict[str, str]:
    return {**headers, "If-Match": etag_of(client, customer_id, headers)}


def names(response) -> list[str]:
    assert response.status_code == 200, response.json
    return [customer["name"] for customer in response.json]


def stored(database) -> int:
    with database.session() as session:
        return session.scalar(select(func.count(Customer.id)))


def test_created_customer_is_answered_and_readable(client, admin_headers, make_customer):
    customer = make_customer(external_ref="C-ADA", name="Ada Lovelace")

    response = client.get(f"{CUSTOMERS}/{customer['id']}", headers=admin_headers)

    assert response.status_code == 200
    assert response.json == customer
    assert (customer["external_ref"], customer["name"]) == ("C-ADA", "Ada Lovelace")
    assert response.headers["ETag"]


def test_manager_creates_and_reads_customers(client, manager_headers):
    created = client.post(CUSTOMERS, json={"external_ref": "C-1", "name": "Bob"}, headers=manager_headers)

    assert created.status_code == 201
    assert client.get(f"{CUSTOMERS}/{created.json['id']}", headers=manager_headers).status_code == 200


def test_technician_may_not_read_customers(client, tech_headers):
    assert client.get(CUSTOMERS, headers=tech_headers).status_code == 403


def test_technician_may_not_create_customers(client, tech_headers):
    response = client.post(CUSTOMERS, json={"external_ref": "C-1", "name": "Bob"}, headers=tech_headers)

    assert response.status_code == 403


def test_unknown_customer_is_404(client, admin_headers):
    assert client.get(f"{CUSTOMERS}/999", headers=admin_headers).status_code == 404


def test_duplicate_external_ref_is_409_naming_it(client, admin_headers, make_customer, database):
    make_customer(external_ref="C-SAME")

    response = client.post(CUSTOMERS, json={"external_ref": "C-SAME", "name": "Other"}, headers=admin_headers)

    assert response.status_code == 409
    assert "external_ref" in response.json["errors"]["json"]
    assert stored(database) == 1


@pytest.mark.parametrize(
    ("field", "body"),
    [
        ("external_ref", {"name": "No ref"}),
        ("external_ref", {"external_ref": "", "name": "Empty ref"}),
        ("external_ref", {"external_ref": "x" * 65, "name": "Long ref"}),
        ("name", {"external_ref": "C-1"}),
        ("name", {"external_ref": "C-1", "name": ""}),
        ("name", {"external_ref": "C-1", "name": "n" * 201}),
        ("name", {"external_ref": "C-1", "name": 42}),
        ("email", {"external_ref": "C-1", "name": "Ada", "email": "ada@example.com"}),
    ],
)
def test_invalid_customer_is_422_naming_the_field_and_writes_nothing(client, admin_headers, database, field, body):
    response = client.post(CUSTOMERS, json=body, headers=admin_headers)

    assert response.status_code == 422
    assert field in response.json["errors"]["json"]
    assert stored(database) == 0


def test_patch_renames_a_customer(client, admin_headers, make_customer):
    customer = make_customer(name="Ada")

    response = client.patch(
        f"{CUSTOMERS}/{customer['id']}",
        json={"name": "Ada King"},
        headers=with_etag(client, customer["id"], admin_headers),
    )

    assert response.status_code == 200, response.json
    assert response.json["name"] == "Ada King"


def test_patch_to_another_customers_external_ref_is_409(client, admin_headers, make_customer):
    make_customer(external_ref="C-TAKEN")
    customer = make_customer()

    response = client.patch(
        f"{CUSTOMERS}/{customer['id']}",
        json={"external_ref": "C-TAKEN"},
        headers=with_etag(client, customer["id"], admin_headers),
    )

    assert response.status_code == 409
    assert "external_ref" in response.json["errors"]["json"]


def test_patch_without_if_match_is_428(client, admin_headers, make_customer):
    customer = make_customer()

    response = client.patch(f"{CUSTOMERS}/{customer['id']}", json={"name": "X"}, headers=admin_headers)

    assert response.status_code == 428


def test_patch_with_a_stale_etag_is_412(client, admin_headers, manager_headers, make_customer):
    customer = make_customer()
    seen_by_admin = with_etag(client, customer["id"], admin_headers)
    seen_by_manager = with_etag(client, customer["id"], manager_headers)

    first = client.patch(f"{CUSTOMERS}/{customer['id']}", json={"name": "First"}, headers=seen_by_admin)
    second = client.patch(f"{CUSTOMERS}/{customer['id']}", json={"name": "Second"}, headers=seen_by_manager)

    assert (first.status_code, second.status_code) == (200, 412)


def test_delete_removes_a_customer_without_jobs(client, admin_headers, make_customer, database):
    customer = make_customer()

    response = client.delete(f"{CUSTOMERS}/{customer['id']}", headers=with_etag(client, customer["id"], admin_headers))

    assert response.status_code == 204
    assert stored(database) == 0


def test_delete_of_a_customer_with_jobs_is_409(client, admin_headers, make_customer, database):
    customer = make_customer()
    with database.session() as session:
        technician = Technician(external_ref="T-1", name="Nora")
        session.add(technician)
        session.flush()
        session.add(Job(external_ref="J-1", technician_id=technician.id, customer_id=customer["id"], category="hvac"))

    response = client.delete(f"{CUSTOMERS}/{customer['id']}", headers=with_etag(client, customer["id"], admin_headers))

    assert response.status_code == 409
    assert "customer" in response.json["errors"]["json"]
    assert stored(database) == 1


def test_list_filters_by_name_containing_any_case(client, admin_headers, make_customer):
    make_customer(name="Ada Lovelace")
    make_customer(name="Grace Hopper")
    make_customer(name="Adam Smith")

    assert names(client.get(f"{CUSTOMERS}?q=ADA", headers=admin_headers)) == ["Ada Lovelace", "Adam Smith"]


def test_list_treats_wildcards_in_q_literally(client, admin_headers, make_customer):
    make_customer(name="100% Plumbing")
    make_customer(name="Ace Repairs")

    assert names(client.get(f"{CUSTOMERS}?q=%25", headers=admin_headers)) == ["100% Plumbing"]


def test_list_sorts_by_name_or_descending_external_ref(client, admin_headers, make_customer):
    make_customer(external_ref="C-B", name="Zed")
    make_customer(external_ref="C-A", name="Amy")

    assert names(client.get(CUSTOMERS, headers=admin_headers)) == ["Amy", "Zed"]
    assert names(client.get(f"{CUSTOMERS}?sort=-external_ref", headers=admin_headers)) == ["Zed", "Amy"]


def test_list_rejects_an_unknown_sort(client, admin_headers):
    response = client.get(f"{CUSTOMERS}?sort=revenue", headers=admin_headers)

    assert response.status_code == 422
    assert "sort" in response.json["errors"]["query"]


def test_list_is_paginated(client, admin_headers, make_customer):
    for _ in range(3):
        make_customer()

    response = client.get(f"{CUSTOMERS}?page=1&page_size=2", headers=admin_headers)

    assert len(response.json) == 2
    assert '"total": 3' in response.headers["X-Pagination"]


def test_create_update_and_delete_are_each_audited(client, admin_headers, make_customer, database):
    customer = make_customer(name="Ada")
    client.patch(
        f"{CUSTOMERS}/{customer['id']}",
        json={"name": "Ada K"},
        headers=with_etag(client, customer["id"], admin_headers),
    )
    client.delete(f"{CUSTOMERS}/{customer['id']}", headers=with_etag(client, customer["id"], admin_headers))

    with database.session() as session:
        query = select(AuditEntry).where(AuditEntry.entity == "customer", AuditEntry.entity_id == str(customer["id"]))
        entries = list(session.scalars(query.order_by(AuditEntry.id)))

    assert [entry.action for entry in entries] == ["create", "update", "delete"]
    assert entries[1].changes == {"name": ["Ada", "Ada K"]}
