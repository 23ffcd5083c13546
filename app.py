"""AsyncCatalog: the table of contents. Each handler parses its event and calls one service."""
from chalice import AuthResponse, Chalice, Rate
from chalice.app import Request

from chalicelib import settings
from chalicelib.batch import handle_each_body, handle_each_record, handle_whole_batch
from chalicelib.bootstrap import (catalog, customer_erasure, invoice_ingester, invoice_reader, invoice_upload_status,
                                  log_batch_problem_lines, log_batch_status, log_splitter, log_worker, order_sweeper,
                                  order_worker, orders, token_verifier, upload_failures)
from chalicelib.catalog.stores import product_store_name
from chalicelib.identity import CUSTOMERS, allowing
from chalicelib.http import correlate_request, json_errors, json_response, location_of, parse_json_object
from chalicelib.metrics import per_invocation
from chalicelib.openapi import openapi_response
from chalicelib.s3events import ignoring_test_events, uploaded_object

app = Chalice(app_name="async-catalog")
# Every handler: a cold start counted, its metrics flushed as EMF at the end (chalicelib/metrics.py).
app.register_middleware(per_invocation, "all")
# Every route: handled under its correlation id, echoed in X-Correlation-Id (chalicelib/correlation.py).
app.register_middleware(correlate_request, "http")


# --- Identity: every route but the catalog's reads needs the user pool's ID token -----------------------
# A custom authorizer, so that `chalice local` and the tests run the very check API Gateway runs on AWS.

@app.authorizer(ttl_seconds=settings.authorizer_cache_seconds())
def verify_token(auth_request):
    caller = token_verifier().caller(auth_request.token)  # raises "Unauthorized": API Gateway's 401
    return AuthResponse(routes=["*"], principal_id=caller.sub, context=caller.context())


def current_request() -> Request:
    """The request a route is handling (Chalice's attribute is None outside a route)."""
    request = app.current_request
    assert request is not None, "asked outside a route"
    return request


def query_params() -> dict[str, str]:
    """The query string, a repeated parameter's last value (as Chalice's MultiDict.get answers)."""
    return dict(current_request().query_params or {})


operators = allowing(current_request)  # the operators group only
operators_or_customers = allowing(current_request, CUSTOMERS)


# --- Catalog -----------------------------------------------------------------

@app.route("/products", methods=["POST"], authorizer=verify_token)
@json_errors
@operators
def create_product(caller):
    request = current_request()
    accepted = catalog().accept(parse_json_object(request.raw_body),
                                idempotency_key=request.headers.get("idempotency-key"), caller=caller.sub)
    return json_response(accepted, status_code=202, headers={"Location": location_of(request, accepted["id"])})


@app.route("/products", methods=["GET"])  # public: the catalog is for everyone to read
@json_errors
def list_products():
    params = query_params()
    return json_response(catalog().list(params.get("limit"), params.get("next")))


@app.route("/products/{product_id}", methods=["GET"])  # public
@json_errors
def get_product(product_id):
    return json_response(catalog().get(product_id))


@app.on_sqs_message(queue=settings.product_queue(), batch_size=10)
def process_product_queue(event):
    return handle_each_body(event, catalog().store, flow="Products")


# --- Log batches -------------------------------------------------------------

@ignoring_test_events
@app.on_s3_event(bucket=settings.input_logs_bucket(), events=["s3:ObjectCreated:*"])
def split_log_upload(event):
    upload = uploaded_object(event)
    log_splitter().on_upload(upload["bucket"], upload["key"], etag=upload["etag"], context=event.context)


@app.on_sqs_message(queue=settings.log_split_queue(), batch_size=1)
def continue_log_split(event):
    return handle_each_body(event, lambda body: log_splitter().on_continuation(body, event.context),
                            flow="LogSplit")


# 100 messages a batch (SQS allows over 10 with a batching window): a batch pays one counting write per chunk.
@app.on_sqs_message(queue=settings.log_queue(), batch_size=100, maximum_batching_window_in_seconds=1)
def process_log_lines(event):
    return handle_whole_batch(event, log_worker().process, flow="LogMessages")


@app.route("/log-batches", methods=["GET"], authorizer=verify_token)
@json_errors
@operators
def get_log_batch(caller):
    params = query_params()
    return json_response(log_batch_status(params.get("key")))


@app.route("/log-batches/lines", methods=["GET"], authorizer=verify_token)
@json_errors
@operators
def list_log_batch_lines(caller):
    return json_response(log_batch_problem_lines(query_params()))


# --- Uploads their reader gave up on (the S3 handlers' on-failure destination) ---------

@app.on_sqs_message(queue=settings.upload_failures_queue(), batch_size=10)
def record_upload_failure(event):
    return handle_each_body(event, upload_failures().record, flow="UploadFailures")


# --- Invoices (notas fiscais) ------------------------------------------------

@ignoring_test_events
@app.on_s3_event(bucket=settings.invoices_bucket(), events=["s3:ObjectCreated:*"])
def ingest_invoice_upload(event):
    invoice_ingester().on_upload(**uploaded_object(event), context=event.context)


@app.on_sqs_message(queue=settings.invoice_ingest_queue(), batch_size=1)
def continue_invoice_ingest(event):
    return handle_each_body(event, lambda body: invoice_ingester().on_continuation(body, event.context),
                            flow="InvoiceIngest")


@app.route("/invoice-uploads", methods=["GET"], authorizer=verify_token)
@json_errors
@operators
def get_invoice_upload(caller):
    params = query_params()
    return json_response(invoice_upload_status(params.get("key")))


@app.route("/invoices", methods=["GET"], authorizer=verify_token)
@json_errors
@operators
def list_invoices(caller):
    return json_response(invoice_reader().list(query_params()))


@app.route("/invoices/{number}", methods=["GET"], authorizer=verify_token)
@json_errors
@operators
def get_invoice(number, caller):
    # ?issuer= and ?series= choose among invoices sharing the number; only operators see the full document.
    return json_response(invoice_reader().get(number, query_params(),
                                              reveal_documents=caller.is_operator))


# --- Orders ------------------------------------------------------------------

@app.route("/orders", methods=["POST"], authorizer=verify_token)
@json_errors
@operators_or_customers
def create_order(caller):
    request = current_request()
    accepted = orders().accept(parse_json_object(request.raw_body),
                               idempotency_key=request.headers.get("idempotency-key"), caller=caller)
    return json_response(accepted, status_code=202, headers={"Location": location_of(request, accepted["orderId"])})


@app.route("/orders", methods=["GET"], authorizer=verify_token)
@json_errors
@operators_or_customers
def list_orders(caller):
    params = query_params()
    return json_response(orders().list(params.get("customerId"), params.get("limit"), params.get("next"),
                                       caller=caller))


@app.route("/orders/{order_id}", methods=["GET"], authorizer=verify_token)
@json_errors
@operators_or_customers
def get_order(order_id, caller):
    return json_response(orders().get(order_id, caller=caller))


@app.on_sqs_message(queue=settings.orders_queue(), batch_size=10)
def process_orders(event):
    return handle_each_record(event, order_worker().process, flow="Orders")


@app.schedule(Rate(1, unit=Rate.MINUTES))
def sweep_orders(event):
    return order_sweeper().sweep()


# --- Personal data: a customer's erased on request, operators only (chalicelib/privacy.py, docs/personal-data.md) ---

@app.route("/customers/{customer_id}/personal-data", methods=["DELETE"], authorizer=verify_token)
@json_errors
@operators
def erase_personal_data(customer_id, caller):
    return json_response(customer_erasure().erase(customer_id, erased_by=caller.sub))


# --- The contract: OpenAPI 3.1 generated from these routes and the pydantic models (chalicelib/openapi) ---

@app.route("/openapi.json", methods=["GET"])  # public, in every stage
def get_openapi_document():
    return openapi_response(app)


# --- Product database schema (PRODUCT_STORE=postgres stages only) ----------------
# Run by a CloudFormation custom resource on deploy, inside the database's VPC (infra/product_db.py).
if product_store_name() == "postgres":
    from chalicelib.db.deploy_migration import on_deploy

    @app.lambda_function(name="migrate_product_db")
    def migrate_product_db(event, context):
        return on_deploy(event, context)
