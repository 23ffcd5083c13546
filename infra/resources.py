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
    "ProcessedLogsTable": Table(env="PROCESSED_LOGS_TABLE_NAME", hash_key="id",
                                indexes={"batch_id-index": ("batch_id", "id")}),
    "LogBatchesTable": Table(env="LOG_BATCHES_TABLE_NAME", hash_key="pk", range_key="sk", ttl_attribute="ttl"),
}

# What each Lambda function does to each resource, beyond what its event
# sources imply (an SQS handler may consume its queue; that is added for you).
# Levels: queue send|consume, table read|write, bucket read|write, topic publish.
GRANTS: dict[str, dict[str, tuple[str, ...]]] = {
    "api_handler": {
        "ProductQueue": ("send",),
        "ProductTable": ("read",),
        "LogBatchesTable": ("read",),
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
}
