"""Customers: who the jobs were done for. Not personal to a technician, so not scoped."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from kpi_core.audit.trail import Actor
from kpi_core.errors import Conflict, NotFound
from kpi_core.records import changes
from kpi_core.storage.models import Customer, Job

SORTABLE = {"name": Customer.name, "external_ref": Customer.external_ref, "created_at": Customer.created_at}


def customer_query(filters: dict[str, Any]) -> Select[tuple[Customer]]:
    query = select(Customer)
    if filters.get("q"):
        query = query.where(func.lower(Customer.name).contains(filters["q"].lower(), autoescape=True))
    return query


def get_customer(session: Session, customer_id: int, *, for_update: bool = False) -> Customer:
    """The customer, or :class:`NotFound`; ``for_update`` locks the row until the transaction ends."""
    query = select(Customer).where(Customer.id == customer_id)
    customer = session.scalar(query.with_for_update() if for_update else query)
    if customer is None:
        raise NotFound(f"no customer with id {customer_id}")
    return customer


def create_customer(session: Session, actor: Actor, data: dict[str, Any]) -> Customer:
    changes.ensure_unique(session, Customer, "external_ref", data["external_ref"])
    return changes.create(session, actor, "customer", Customer(**data), unique_field="external_ref")


def update_customer(session: Session, actor: Actor, customer: Customer, data: dict[str, Any]) -> Customer:
    if "external_ref" in data:
        changes.ensure_unique(session, Customer, "external_ref", data["external_ref"], exclude_id=customer.id)
    return changes.update(session, actor, "customer", customer, data, unique_field="external_ref")


def delete_customer(session: Session, actor: Actor, customer: Customer) -> None:
    """Delete a customer no job refers to; otherwise :class:`Conflict` naming ``customer``."""
    # No count: the jobs may belong to teams the caller does not manage.
    if session.scalar(select(Job.id).where(Job.customer_id == customer.id).limit(1)) is not None:
        raise Conflict("customer", "jobs refer to this customer; reassign or delete them first")
    changes.delete(session, actor, "customer", customer, blocked_by="customer")
