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
    # Longer on the DLQ than on the queue: SQS keeps a message's first enqueue time when it is moved, so a DLQ
    # retention no longer than the source's would drop it at once.
    retention_seconds: int = 4 * 24 * 3600
    dlq_retention_seconds: int = 14 * 24 * 3600
    max_message_bytes: int = 256 * 1024


@dataclass(frozen=True)
class Table:
    env: str
    hash_key: str = "id"
    range_key: str | None = None
    # index name -> (hash key, range key or None); all key attributes are strings
    indexes: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    ttl_attribute: str | None = None
    # index name -> "KEYS_ONLY"; an index not named projects ALL. A GSI's projection cannot change in place on
    # AWS: a new projection comes with a new index name (docs/orders.md, "Migrating a stage").
    projections: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Bucket:
    env: str
    # Uploads are the only copy of what a user sent: versioning keeps an overwritten or deleted one recoverable.
    versioned: bool = False
    # Which stage setting expires its objects: "reports" (reports_expire_after_days) or "inputs".
    expires: str | None = None


@dataclass(frozen=True)
class Topic:
    env: str
    # The logical id of the customer-managed KMS key that encrypts its messages at rest (the template creates
    # it: infra/hardening.py); its publishers are granted the key for this topic only (infra/iam.py).
    key: str | None = None


# The key of the encrypted topics, the alarm topic's too (docs/operations.md says why it is customer-managed).
TOPICS_KEY = "TopicsKey"


@dataclass(frozen=True)
class Database:
    """A PostgreSQL database on RDS, reached through RDS Proxy from the stage's VPC.

    Not in RESOURCES: it exists only on a stage whose PRODUCT_STORE is `store`
    (infra/product_db.py builds it, its network and its migration), and nothing
    provisions it locally (`make run PRODUCT_STORE=postgres` starts a server).
    """
    store: str  # the PRODUCT_STORE value that creates it
    name: str  # the database (PRODUCT_DB_NAME)
    master_username: str  # RDS keeps the password in a secret it creates and rotates
    replaces: str  # the logical id of the table it stands in for: its users are the functions granted on that
    migrate_function: str  # the Lambda that applies chalicelib/db/migrate.py when a deploy changes the schema
    port: int = 5432


@dataclass(frozen=True)
class UserPool:
    """The Cognito user pool whose ID tokens the API accepts (chalicelib/identity.py), with its one app client.

    Not in RESOURCES: it is not a per-function grant (the authorizer only reads the pool's public keys, over
    HTTPS, and nothing calls Cognito's API at run time). The template creates it (infra/identity.py); the local
    runtime creates it in the emulator with demo users (local_runtime/identity.py).
    """
    env: str  # the pool's name (a stage setting)
    id_env: str  # where the authorizer finds the pool's id: the template's Ref, or the local runtime's pool
    client_env: str  # ... and its app client's id
    groups: tuple[str, ...]
    # USER_PASSWORD_AUTH lets scripts and tests log in with a username and a password; refresh tokens renew.
    auth_flows: tuple[str, ...] = ("ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH")
    id_token_minutes: int = 60


Resource = Queue | Table | Bucket | Topic

# Logical id (also the CloudFormation logical id) -> resource.
RESOURCES: dict[str, Resource] = {
    "ProductQueue": Queue(env="PRODUCT_QUEUE_NAME"),
    "ProductTable": Table(env="PRODUCT_TABLE_NAME", hash_key="id"),
    "ReportsBucket": Bucket(env="REPORTS_BUCKET_NAME", expires="reports"),
    "InputLogsBucket": Bucket(env="INPUT_LOGS_BUCKET_NAME", versioned=True, expires="inputs"),
    "ProcessedDataBucket": Bucket(env="PROCESSED_DATA_BUCKET_NAME", expires="reports"),
    "LogQueue": Queue(env="LOG_QUEUE_NAME"),
    "LogSplitQueue": Queue(env="LOG_SPLIT_QUEUE_NAME"),
    # No index: a line is found by its item's id (`<run>#G<line group>`, or `<run>#<line>`: logbatch/records.py);
    # a batch's problem lines are listed from LogBatchesTable's P# items, so only those lines pay for being findable.
    # `ttl`: each line expires LOG_RECORDS_RETENTION_DAYS after its run started (raw lines may hold client IPs).
    "ProcessedLogsTable": Table(env="PROCESSED_LOGS_TABLE_NAME", hash_key="id", ttl_attribute="ttl"),
    "LogBatchesTable": Table(env="LOG_BATCHES_TABLE_NAME", hash_key="pk", range_key="sk", ttl_attribute="ttl"),
    "InvoicesBucket": Bucket(env="INVOICES_BUCKET_NAME", versioned=True, expires="inputs"),
    "InvoiceIngestQueue": Queue(env="INVOICE_INGEST_QUEUE_NAME"),
    # An invoice is its number and `<issuer CNPJ>#<series>`: GET /invoices/{number} queries one partition.
    # expires_at: fiscal retention (INVOICE_RETENTION_YEARS), then DynamoDB deletes it (docs/invoices.md).
    "InvoicesTable": Table(env="INVOICES_TABLE_NAME", hash_key="number", range_key="issuer_series",
                           indexes={"customer-index": ("customer", "issue_date")}, ttl_attribute="expires_at"),
    "InvoiceUploadsTable": Table(env="INVOICE_UPLOADS_TABLE_NAME", hash_key="pk", range_key="sk"),
    "OrdersQueue": Queue(env="ORDERS_QUEUE_NAME"),
    "OrdersTable": Table(env="ORDERS_TABLE_NAME", hash_key="orderId",
                         # pending-index-v2 is sparse: only orders not yet finished are in it (the sweep's work list).
                         # Both project keys only, so an order's later writes never touch them: a write unit on
                         # customer-index-v2 per order, two on pending-index-v2 (docs/orders.md, "Write cost").
                         # An order's contact (`notify`) is on the item until the notification is recorded;
                         # keys only, so no index copies it.
                         indexes={"customer-index-v2": ("customerId", "createdAt"),
                                  "pending-index-v2": ("pendingShard", "pendingSince")},
                         projections={"customer-index-v2": "KEYS_ONLY", "pending-index-v2": "KEYS_ONLY"}),
    # The contacts (`notify`) of orders placed before they moved into the order item: read for those still in
    # flight, erased on request, deleted by TTL ORDER_CONTACT_RETENTION_DAYS after the order; then it can go
    # (docs/orders.md, "The contact").
    "OrderContactsTable": Table(env="ORDER_CONTACTS_TABLE_NAME", hash_key="customerId", range_key="orderId",
                                ttl_attribute="expiresAt"),
    "OrderNotificationsTopic": Topic(env="ORDER_NOTIFICATIONS_TOPIC_NAME", key=TOPICS_KEY),
    # Each Idempotency-Key's first request (POST /products, POST /orders), kept a day (chalicelib/idempotency.py).
    "IdempotencyKeysTable": Table(env="IDEMPOTENCY_KEYS_TABLE_NAME", hash_key="id", ttl_attribute="ttl"),
    # The on-failure destination of the S3-invoked readers: Lambda sends the events it gave up on here.
    "UploadFailuresQueue": Queue(env="UPLOAD_FAILURES_QUEUE_NAME"),
}

USER_POOL = UserPool(env="USER_POOL_NAME", id_env="COGNITO_USER_POOL_ID", client_env="COGNITO_APP_CLIENT_ID",
                     groups=("operators", "customers"))

# The products' PostgreSQL store (PRODUCT_STORE=postgres): it replaces ProductTable on such a stage.
PRODUCT_DATABASE = Database(store="postgres", name="catalog", master_username="catalog",
                            replaces="ProductTable", migrate_function="migrate_product_db")
# Resources that exist only on stages with this product store: the other store's stage has no use for them.
STORE_ONLY: dict[str, str] = {"ProductTable": "dynamodb"}

# The IAM actions each Lambda function uses on each resource (service prefix implied by the resource's
# type), beyond what its event sources imply: an SQS handler may consume its queue, added by infra/grants.py.
# Only what the code calls: no Scan where nothing scans, no DeleteItem anywhere. Every action here is
# either made by some call in the IAM replay tests or listed in KEPT with the reason it stays.
_RUN_LEASES = ("GetItem", "PutItem", "UpdateItem")  # chalicelib/streaming/runs.py: start, take over, checkpoint
GRANTS: dict[str, dict[str, tuple[str, ...]]] = {
    "api_handler": {
        "ProductQueue": ("GetQueueUrl", "SendMessage"),
        "ProductTable": ("GetItem", "Scan"),  # GET /products pages by scan
        "LogBatchesTable": ("GetItem", "Query"),
        "ProcessedLogsTable": ("BatchGetItem",),  # a batch's problem lines
        "InvoicesTable": ("GetItem", "Query", "Scan"),  # /invoices without customer filters a scan
        "InvoiceUploadsTable": ("GetItem", "Query"),
        # An operator's GET /orders with no customer scans; a customer's listing reads the keys customer-index-v2
        # gives with BatchGetItem. The erasure removes the contact from a customer's orders (UpdateItem).
        "OrdersTable": ("GetItem", "PutItem", "Query", "Scan", "BatchGetItem", "UpdateItem"),
        "OrdersQueue": ("GetQueueUrl", "SendMessage"),
        # Orders placed before contacts moved into the order: GET /orders/{id} shows theirs; the erasure finds a
        # customer's and deletes them (BatchWriteItem's DeleteRequest: the one deletion the app makes).
        "OrderContactsTable": ("GetItem", "Query", "BatchWriteItem"),
        # The first request of each caller's Idempotency-Key (a conditional put; a retry reads it back).
        "IdempotencyKeysTable": ("GetItem", "PutItem"),
    },
    "process_product_queue": {
        "ProductTable": ("GetItem", "PutItem"),
        "ReportsBucket": ("PutObject",),
    },
    "split_log_upload": {
        "InputLogsBucket": ("GetObject", "ListBucket"),
        "LogQueue": ("GetQueueUrl", "SendMessage"),
        "LogSplitQueue": ("GetQueueUrl", "SendMessage"),
        "LogBatchesTable": _RUN_LEASES,
        "ProcessedDataBucket": ("PutObject",),  # an empty file completes at once
        "UploadFailuresQueue": ("SendMessage",),  # the on-failure destination
    },
    "continue_log_split": {
        "InputLogsBucket": ("GetObject", "ListBucket"),
        "LogQueue": ("GetQueueUrl", "SendMessage"),
        "LogSplitQueue": ("GetQueueUrl", "SendMessage"),
        # Takes the run (or a part's run) over and checkpoints it; a duplicate continuation reads the run to try to
        # complete it; a reader closing its last chunk rolls it up when the workers were faster, which puts the
        # chunk's problem-line and unparsed-line items (PutItem: only an upload starts a run or its parts).
        "LogBatchesTable": ("GetItem", "PutItem", "UpdateItem"),
        "ProcessedDataBucket": ("PutObject",),
    },
    "process_log_lines": {
        # Lines packed several to an item are merged in (UpdateItem); a run packing 1, and a line too big to pack,
        # are put whole (BatchWriteItem); the report's first unparsed lines are read back (BatchGetItem).
        "ProcessedLogsTable": ("BatchWriteItem", "UpdateItem", "BatchGetItem"),
        # Query: the report's first unparsed line numbers, from the run's U# items (completion.py).
        "LogBatchesTable": ("GetItem", "PutItem", "UpdateItem", "Query"),
        "ProcessedDataBucket": ("PutObject",),
    },
    "ingest_invoice_upload": {
        "InvoicesBucket": ("GetObject", "ListBucket"),
        "InvoiceIngestQueue": ("GetQueueUrl", "SendMessage"),
        # New invoices are PartiQL INSERTs (BatchExecuteStatement, put if absent); a taken key, a conditional put.
        "InvoicesTable": ("PartiQLInsert", "PutItem"),
        "InvoiceUploadsTable": (*_RUN_LEASES, "BatchWriteItem", "Query"),
        "ReportsBucket": ("PutObject",),
        "UploadFailuresQueue": ("SendMessage",),  # the on-failure destination
    },
    "continue_invoice_ingest": {
        "InvoicesBucket": ("GetObject", "ListBucket"),
        "InvoiceIngestQueue": ("GetQueueUrl", "SendMessage"),
        "InvoicesTable": ("PartiQLInsert", "PutItem"),
        "InvoiceUploadsTable": ("BatchWriteItem", "Query", "UpdateItem"),  # takes over, never starts a run
        "ReportsBucket": ("PutObject",),
    },
    "process_orders": {
        "OrdersTable": ("GetItem", "UpdateItem"),
        "OrderContactsTable": ("GetItem",),  # the contact of an order placed before it moved into the order
        "ProductTable": ("BatchGetItem",),
        "OrderNotificationsTopic": ("Publish",),
    },
    "sweep_orders": {
        "OrdersTable": ("GetItem", "Query", "UpdateItem"),
        "OrdersQueue": ("GetQueueUrl", "SendMessage"),
    },
    # RunRepository.give_up: a run whose reader never started is created failed (a conditional put) and made
    # the key's latest (another); one that did is updated. It reads nothing: the conditions decide.
    "record_upload_failure": {
        "LogBatchesTable": ("PutItem", "UpdateItem"),
        "InvoiceUploadsTable": ("PutItem", "UpdateItem"),
    },
}

# Granted actions that no recorded call in the replay tests makes, each with why it stays.
# (function or "*", logical id or "*", action) -> reason; tests/integration/test_orders_iam.py checks both ways.
KEPT: dict[tuple[str, str, str], str] = {
    ("*", "*", "ReceiveMessage"): "Lambda's SQS event source mapping polls with the consumer's role",
    ("*", "*", "DeleteMessage"): "the event source mapping deletes the batch's successes with the consumer's role",
    ("*", "*", "GetQueueAttributes"): "the event source mapping reads the queue's attributes when it is created",
    ("*", "*", "ListBucket"): "without it a key deleted before it is read answers AccessDenied, not NoSuchKey",
    ("*", "UploadFailuresQueue", "SendMessage"):
        "Lambda sends the given-up event to the on-failure destination with the reader's role",
    ("sweep_orders", "OrdersQueue", "GetQueueUrl"):
        "queue URLs are cached per process; in the replay the API resolved it first, in Lambda the sweep does",
    ("ingest_invoice_upload", "InvoiceUploadsTable", "GetItem"):
        "an event for a run already started reads it (RunRepository.start after a failed take-over)",
    ("process_log_lines", "LogBatchesTable", "GetItem"):
        "a redelivered batch whose chunk was counted re-reads the chunk or section to roll it up (LogRunRepository)",
    ("continue_log_split", "LogQueue", "GetQueueUrl"): "queue URLs are cached per process; the splitter resolved it",
    ("continue_log_split", "LogSplitQueue", "GetQueueUrl"):
        "queue URLs are cached per process; the splitter resolved it",
    ("continue_invoice_ingest", "InvoiceIngestQueue", "GetQueueUrl"):
        "queue URLs are cached per process; the ingester resolved it",
    ("continue_log_split", "ProcessedDataBucket", "PutObject"):
        "a duplicate continuation of a run whose lines are all counted writes its report (try_complete)",
}


def product_database_functions() -> tuple[str, ...]:
    """The functions that use the product database, in order: those granted on the table it replaces (the
    IAM replay tests keep that set exact: a missing grant is a denied call, a needless one an unexercised
    grant), and its migration."""
    users = [function for function, by_resource in GRANTS.items() if PRODUCT_DATABASE.replaces in by_resource]
    return (*users, PRODUCT_DATABASE.migrate_function)
