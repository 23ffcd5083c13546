"""AsyncCatalog: the table of contents. Each handler parses its event and calls one service."""
from chalice import Chalice

from chalicelib import settings
from chalicelib.batch import process_batch, report_batch_failures
from chalicelib.catalog.service import catalog
from chalicelib.http import json_errors, json_response, parse_json_object
from chalicelib.logbatch.service import log_batch_status, log_splitter, log_worker

app = Chalice(app_name="async-catalog")


# --- Catalog -----------------------------------------------------------------

@app.route("/products", methods=["POST"])
@json_errors
def create_product():
    request = app.current_request
    accepted = catalog().accept(parse_json_object(request.raw_body),
                                idempotency_key=request.headers.get("idempotency-key"))
    location = f"{request.context.get('path', '/products').rstrip('/')}/{accepted['id']}"
    return json_response(accepted, status_code=202, headers={"Location": location})


@app.route("/products", methods=["GET"])
@json_errors
def list_products():
    params = app.current_request.query_params or {}
    return json_response(catalog().list(params.get("limit"), params.get("next")))


@app.route("/products/{product_id}", methods=["GET"])
@json_errors
def get_product(product_id):
    return json_response(catalog().get(product_id))


@app.on_sqs_message(queue=settings.product_queue(), batch_size=10)
def process_product_queue(event):
    return report_batch_failures(event, catalog().store)


# --- Log batches -------------------------------------------------------------

@app.on_s3_event(bucket=settings.input_logs_bucket(), events=["s3:ObjectCreated:*"])
def split_log_upload(event):
    uploaded = event.to_dict()["Records"][0]["s3"]["object"]
    log_splitter().on_upload(event.bucket, event.key, etag=uploaded.get("eTag"), context=event.context)


@app.on_sqs_message(queue=settings.log_split_queue(), batch_size=1)
def continue_log_split(event):
    return report_batch_failures(event, lambda body: log_splitter().on_continuation(body, event.context))


@app.on_sqs_message(queue=settings.log_queue(), batch_size=10)
def process_log_lines(event):
    return process_batch(event, log_worker().process)


@app.route("/log-batches", methods=["GET"])
@json_errors
def get_log_batch():
    params = app.current_request.query_params or {}
    return json_response(log_batch_status(params.get("key")))
