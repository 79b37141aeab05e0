"""/api/v1/customers (admins and managers)."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from kpi_core.records import customers
from kpi_core.storage.models import Customer
from kpi_core.web.access import current_actor, requires
from kpi_core.web.db import commit, db_session
from kpi_core.web.errors import ErrorSchema
from kpi_core.web.pagination import SQLPage
from kpi_core.web.schemas import StrictSchema
from kpi_core.web.sorting import order_by, sort_field

blp = Blueprint("customers", __name__, url_prefix="/api/v1/customers", description="Customers jobs are done for")

REF = validate.Length(min=1, max=64)
NAME = validate.Length(min=1, max=200)


class CustomerSchema(Schema):
    id = fields.Integer(required=True, dump_only=True)
    external_ref = fields.String(required=True, metadata={"description": "Your field-service system's id"})
    name = fields.String(required=True)
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)


class CustomerInSchema(StrictSchema):
    external_ref = fields.String(required=True, validate=REF, metadata={"description": "Unique"})
    name = fields.String(required=True, validate=NAME)


class CustomerPatchSchema(StrictSchema):
    external_ref = fields.String(validate=REF, metadata={"description": "Unique"})
    name = fields.String(validate=NAME)


class CustomerQuerySchema(StrictSchema):
    q = fields.String(validate=validate.Length(max=200), metadata={"description": "Name contains (any case)"})
    sort = sort_field(customers.SORTABLE, "name")


@blp.route("")
class Customers(MethodView):
    @requires(blp, "customers.read")
    @blp.arguments(CustomerQuerySchema, location="query")
    @blp.response(200, CustomerSchema(many=True))
    @blp.paginate(SQLPage)
    @blp.doc(operationId="listCustomers", summary="List customers")
    def get(self, query: dict[str, Any]) -> Any:
        """Customers, filtered by name and sorted."""
        statement = customers.customer_query(query)
        return statement.order_by(*order_by(customers.SORTABLE, query["sort"], Customer.id))

    @requires(blp, "customers.manage")
    @blp.arguments(CustomerInSchema)
    @blp.response(201, CustomerSchema)
    @blp.alt_response(409, schema=ErrorSchema, description="external_ref already used")
    @blp.doc(operationId="createCustomer", summary="Create a customer")
    def post(self, body: dict[str, Any]) -> Any:
        """Add a customer with a unique external_ref."""
        customer = customers.create_customer(db_session(), current_actor(), body)
        commit()
        return customer


@blp.route("/<int:customer_id>")
class CustomerItem(MethodView):
    @requires(blp, "customers.read")
    @blp.etag
    @blp.response(200, CustomerSchema)
    @blp.alt_response(404, schema=ErrorSchema, description="No such customer")
    @blp.doc(operationId="getCustomer", summary="Read a customer")
    def get(self, customer_id: int) -> Any:
        """One customer; the ETag header is needed to change it."""
        return customers.get_customer(db_session(), customer_id)

    @requires(blp, "customers.manage")
    @blp.etag
    @blp.arguments(CustomerPatchSchema)
    @blp.response(200, CustomerSchema)
    @blp.alt_response(404, schema=ErrorSchema, description="No such customer")
    @blp.alt_response(409, schema=ErrorSchema, description="external_ref already used")
    @blp.doc(operationId="updateCustomer", summary="Change a customer")
    def patch(self, body: dict[str, Any], customer_id: int) -> Any:
        """Change the given fields. Send the ETag in If-Match (428 without it, 412 if stale)."""
        session = db_session()
        customer = customers.get_customer(session, customer_id, for_update=True)
        blp.check_etag(customer, CustomerSchema)
        customer = customers.update_customer(session, current_actor(), customer, body)
        commit()
        return customer

    @requires(blp, "customers.manage")
    @blp.etag
    @blp.response(204)
    @blp.alt_response(404, schema=ErrorSchema, description="No such customer")
    @blp.alt_response(409, schema=ErrorSchema, description="Jobs refer to the customer")
    @blp.doc(operationId="deleteCustomer", summary="Delete a customer without jobs")
    def delete(self, customer_id: int) -> None:
        """Delete a customer no job refers to (If-Match required)."""
        session = db_session()
        customer = customers.get_customer(session, customer_id, for_update=True)
        blp.check_etag(customer, CustomerSchema)
        customers.delete_customer(session, current_actor(), customer)
        commit()
