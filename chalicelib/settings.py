"""Resource names, read from the environment that `.chalice/config.json` sets per stage.

Names are read when first needed, not at import, so a test or a tool can set
the environment after importing the app.
"""
import os


class MissingSetting(RuntimeError):
    pass


def setting(name: str, default: str | None = None) -> str:
    value = os.environ.get(name, default)
    if value is None or value == "":
        raise MissingSetting(
            f"environment variable {name} is not set; it comes from .chalice/config.json"
        )
    return value


def product_queue() -> str:
    return setting("PRODUCT_QUEUE_NAME")


def product_table() -> str:
    return setting("PRODUCT_TABLE_NAME")


def reports_bucket() -> str:
    return setting("REPORTS_BUCKET_NAME")


def input_logs_bucket() -> str:
    return setting("INPUT_LOGS_BUCKET_NAME")


def processed_data_bucket() -> str:
    return setting("PROCESSED_DATA_BUCKET_NAME")


def upload_failures_queue() -> str:
    """Where Lambda sends the S3 events it gave up on (the upload readers' on-failure destination)."""
    return setting("UPLOAD_FAILURES_QUEUE_NAME")


def log_queue() -> str:
    return setting("LOG_QUEUE_NAME")


def log_split_queue() -> str:
    return setting("LOG_SPLIT_QUEUE_NAME")


def processed_logs_table() -> str:
    return setting("PROCESSED_LOGS_TABLE_NAME")


def log_batches_table() -> str:
    return setting("LOG_BATCHES_TABLE_NAME")


def log_lines_per_message() -> int:
    return int(setting("LOG_LINES_PER_MESSAGE", "1"))


def log_split_time_budget() -> float | None:
    """Seconds one splitter invocation may spend before handing over (tests force a tiny one)."""
    value = os.environ.get("LOG_SPLIT_TIME_BUDGET_SECONDS")
    return float(value) if value else None


def invoices_bucket() -> str:
    return setting("INVOICES_BUCKET_NAME")


def invoice_ingest_queue() -> str:
    return setting("INVOICE_INGEST_QUEUE_NAME")


def invoices_table() -> str:
    return setting("INVOICES_TABLE_NAME")


def invoice_uploads_table() -> str:
    return setting("INVOICE_UPLOADS_TABLE_NAME")


def invoice_ingest_time_budget() -> float | None:
    """Seconds one ingest invocation may spend before handing over (tests force a tiny one)."""
    value = os.environ.get("INVOICE_INGEST_TIME_BUDGET_SECONDS")
    return float(value) if value else None


def orders_queue() -> str:
    return setting("ORDERS_QUEUE_NAME")


def orders_table() -> str:
    return setting("ORDERS_TABLE_NAME")


def order_notifications_topic() -> str:
    return setting("ORDER_NOTIFICATIONS_TOPIC_NAME")


def order_notifications_topic_arn() -> str | None:
    """Set by the CloudFormation template (the topic's Ref); unset locally, where the ARN is built."""
    return os.environ.get("ORDER_NOTIFICATIONS_TOPIC_ARN") or None


def orders_max_receive_count() -> int:
    """The orders queue's maxReceiveCount: the worker marks an order FAILED on its last attempt."""
    return int(setting("ORDERS_MAX_RECEIVE_COUNT", "5"))
