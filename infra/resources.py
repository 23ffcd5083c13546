"""The one definition of the AWS resources the app uses.

Everything that needs to know about queues, tables, buckets and topics reads
this module: the local emulator provisioning, the CloudFormation template
merged into `chalice package`, and the generated per-function IAM policies.
Names are not here: each resource names the environment variable that holds
its name, and `.chalice/config.json` sets that variable per stage.
"""
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Queue:
    env: str
    max_receive_count: int = 5  # receives before a message moves to the dead-letter queue
    dlq_retention_seconds: int = 14 * 24 * 3600


@dataclass(frozen=True)
class Table:
    env: str
    hash_key: str = "id"
    range_key: str | None = None
    # index name -> (hash key, range key or None); all key attributes are strings
    indexes: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    ttl_attribute: str | None = None


@dataclass(frozen=True)
class Bucket:
    env: str


@dataclass(frozen=True)
class Topic:
    env: str


Resource = Queue | Table | Bucket | Topic

# Logical id (also the CloudFormation logical id) -> resource.
RESOURCES: dict[str, Resource] = {
    "ProductQueue": Queue(env="PRODUCT_QUEUE_NAME"),
    "ProductTable": Table(env="PRODUCT_TABLE_NAME", hash_key="id"),
    "ReportsBucket": Bucket(env="REPORTS_BUCKET_NAME"),
    "InputLogsBucket": Bucket(env="INPUT_LOGS_BUCKET_NAME"),
    "ProcessedDataBucket": Bucket(env="PROCESSED_DATA_BUCKET_NAME"),
    "LogQueue": Queue(env="LOG_QUEUE_NAME"),
    "LogSplitQueue": Queue(env="LOG_SPLIT_QUEUE_NAME"),
    # No index: a line is found by its id (`<run>#<line>`); a batch's problem lines are listed from
    # LogBatchesTable's P# items, so only those lines pay for being findable.
    "ProcessedLogsTable": Table(env="PROCESSED_LOGS_TABLE_NAME", hash_key="id"),
    "LogBatchesTable": Table(env="LOG_BATCHES_TABLE_NAME", hash_key="pk", range_key="sk", ttl_attribute="ttl"),
    "InvoicesBucket": Bucket(env="INVOICES_BUCKET_NAME"),
    "InvoiceIngestQueue": Queue(env="INVOICE_INGEST_QUEUE_NAME"),
    "InvoicesTable": Table(env="INVOICES_TABLE_NAME", hash_key="number",
                           indexes={"customer-index": ("customer", "issue_date")}),
    "InvoiceUploadsTable": Table(env="INVOICE_UPLOADS_TABLE_NAME", hash_key="pk", range_key="sk"),
    "OrdersQueue": Queue(env="ORDERS_QUEUE_NAME"),
    "OrdersTable": Table(env="ORDERS_TABLE_NAME", hash_key="orderId",
                         # pending-index is sparse: only orders not yet finished are in it (the sweep's work list).
                         indexes={"customer-index": ("customerId", "createdAt"),
                                  "pending-index": ("pendingShard", "pendingSince")}),
    "OrderNotificationsTopic": Topic(env="ORDER_NOTIFICATIONS_TOPIC_NAME"),
}

# What each Lambda function does to each resource, beyond what its event
# sources imply (an SQS handler may consume its queue; that is added for you).
# Levels: queue send|consume, table read|write, bucket read|write, topic publish.
GRANTS: dict[str, dict[str, tuple[str, ...]]] = {
    "api_handler": {
        "ProductQueue": ("send",),
        "ProductTable": ("read",),
        "LogBatchesTable": ("read",),
        "ProcessedLogsTable": ("read",),  # a batch's problem lines
        "InvoicesTable": ("read",),
        "InvoiceUploadsTable": ("read",),
        "OrdersTable": ("read", "write"),
        "OrdersQueue": ("send",),
    },
    "process_product_queue": {
        "ProductTable": ("read", "write"),
        "ReportsBucket": ("write",),
    },
    "split_log_upload": {
        "InputLogsBucket": ("read",),
        "LogQueue": ("send",),
        "LogSplitQueue": ("send",),
        "LogBatchesTable": ("read", "write"),
        "ProcessedDataBucket": ("write",),  # an empty file completes at once
    },
    "continue_log_split": {
        "InputLogsBucket": ("read",),
        "LogQueue": ("send",),
        "LogSplitQueue": ("send",),
        "LogBatchesTable": ("read", "write"),
        "ProcessedDataBucket": ("write",),
    },
    "process_log_lines": {
        "ProcessedLogsTable": ("write",),
        "LogBatchesTable": ("read", "write"),
        "ProcessedDataBucket": ("write",),
    },
    "ingest_invoice_upload": {
        "InvoicesBucket": ("read",),
        "InvoiceIngestQueue": ("send",),
        "InvoicesTable": ("write",),
        "InvoiceUploadsTable": ("read", "write"),
        "ReportsBucket": ("write",),
    },
    "continue_invoice_ingest": {
        "InvoicesBucket": ("read",),
        "InvoiceIngestQueue": ("send",),
        "InvoicesTable": ("write",),
        "InvoiceUploadsTable": ("read", "write"),
        "ReportsBucket": ("write",),
    },
    "process_orders": {
        "OrdersTable": ("read", "write"),
        "ProductTable": ("read",),
        "OrderNotificationsTopic": ("publish",),
    },
    "sweep_orders": {
        "OrdersTable": ("read", "write"),
        "OrdersQueue": ("send",),
    },
}
