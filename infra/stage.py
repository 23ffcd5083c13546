"""A Chalice stage as the tools see it: its settings from .chalice/config.json and the app loaded with them."""
import importlib
import json
import os
import sys
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from infra.resources import PRODUCT_DATABASE, RESOURCES, STORE_ONLY, Queue, Table

PROJECT_DIR = Path(__file__).resolve().parent.parent
CHALICE_DIR = PROJECT_DIR / ".chalice"
DEFAULT_TIMEOUT = 60  # Chalice's default lambda_timeout
PRODUCT_STORES = ("dynamodb", "postgres")  # chalicelib/catalog/stores.py's STORES, without importing the app
# Chalice's own VPC keys take literal ids only; the VPC of a postgres stage is the template's (see InfraSettings).
CHALICE_VPC_KEYS = ("subnet_ids", "security_group_ids")
# The retention periods CloudWatch Logs accepts (days).
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
                      3288, 3653)
# An SQS consumer that sqs_maximum_concurrency does not name runs at most this many at once: Lambda's minimum,
# so that a new consumer nobody sized for its tables or database starts small (its queue's age alarm says
# when that is too few). Lambda accepts 2 to 1,000.
DEFAULT_SQS_MAXIMUM_CONCURRENCY = 2
SQS_MAXIMUM_CONCURRENCY_RANGE = (2, 1000)
# What a new on-demand table (or GSI) serves at once without WarmThroughput: a `warm_throughput` below it buys
# nothing. https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/pre-warming-on-demand-capacity-mode.html
NEW_TABLE_WARM_THROUGHPUT = {"write": 4000, "read": 12000}


@dataclass(frozen=True)
class InfraSettings:
    """What the AWS template does beyond names, per stage: the `infra` object of a stage in .chalice/config.json.

    Kept beside the stage's names so one file says everything about a stage; Chalice ignores the key.
    """
    api_throttle_rate_limit: float = 50.0  # requests per second, the API stage's steady rate
    api_throttle_burst_limit: int = 100
    reports_expire_after_days: int = 365  # 0: never
    inputs_expire_after_days: int = 90  # uploads (current and older versions); 0: never
    oldest_message_alarm_seconds: int = 900  # a work queue's oldest message older than this alarms
    api_5xx_rate_alarm: float = 0.05  # share of API requests answered 5xx over 5 minutes
    # Log lines processed in one hour (LogLinesProcessed) above this alarm: each costs $0.67-0.80 per million.
    log_lines_per_hour_alarm: int = 2_000_000
    # --- Hardening (infra/hardening.py, docs/operations.md) ---
    # Days CloudWatch keeps each function's log group and the API's access log group (one of LOG_RETENTION_DAYS).
    log_retention_days: int = 30
    # S3 server access logs of the upload buckets, into a log bucket of the stack, expired after so many days.
    s3_access_logs: bool = False
    s3_access_logs_expire_after_days: int = 90
    # API Gateway writes access logs with the one CloudWatch role of the account and region: the stack sets it
    # (AWS::ApiGateway::Account). False where something else (a landing zone) manages that setting.
    api_gateway_account_logs_role: bool = True
    # Function name -> the most invocations its SQS event source runs at once (ScalingConfig.MaximumConcurrency):
    # what its tables and database take. Unnamed consumers get DEFAULT_SQS_MAXIMUM_CONCURRENCY; see
    # sqs_concurrency(). infra/hardening.py refuses names that consume no queue.
    sqs_maximum_concurrency: dict[str, int] = field(default_factory=dict, hash=False)
    # Table logical id (infra/resources.py) -> {"write": units/s, "read": units/s}: the table's WarmThroughput,
    # what it serves from its first second instead of a new on-demand table's 4,000 writes and 12,000 reads
    # (then twice its previous peak per 30 minutes). Paid once per increase (docs/capacity.md prices it); sized
    # by `make capacity` for the stage's targets. Above 40,000 it needs the table quota raised first.
    warm_throughput: dict[str, dict[str, int]] = field(default_factory=dict, hash=False)
    # --- PRODUCT_STORE=postgres only (infra/product_db.py); ignored by a DynamoDB stage ---
    product_db_instance_class: str = "db.t4g.micro"
    product_db_storage_gb: int = 20  # allocated at creation; RDS grows it up to product_db_max_storage_gb
    product_db_max_storage_gb: int = 100
    product_db_engine_version: str = "15"  # the major version the tests run (Debian's PostgreSQL 15)
    product_db_multi_az: bool = False
    product_db_backup_retention_days: int = 7
    product_db_deletion_protection: bool = True  # turn off (and deploy) before deleting the stack
    # An existing network instead of the VPC the template creates: its id, two or more private subnets in
    # different AZs, and the route tables of those subnets (the S3 and DynamoDB gateway endpoints are added
    # to them). Empty: the template creates a VPC with two private subnets and no internet route.
    vpc_id: str = ""
    private_subnet_ids: tuple[str, ...] = ()
    private_route_table_ids: tuple[str, ...] = ()
    # The endpoints the in-VPC functions need (S3, DynamoDB, SQS, SNS, Secrets Manager, as they use them).
    # False only for an existing VPC that already has them, or a NAT gateway instead.
    vpc_endpoints: bool = True

    def sqs_concurrency(self, function: str) -> int:
        """The MaximumConcurrency of the function's SQS event source: its setting, or the default."""
        return self.sqs_maximum_concurrency.get(function, DEFAULT_SQS_MAXIMUM_CONCURRENCY)

    def table_warm_throughput(self, logical_id: str) -> dict[str, int]:
        """The table's WarmThroughput as CloudFormation spells it ({} when the stage sets none)."""
        given = self.warm_throughput.get(logical_id, {})
        spelled = {"read": "ReadUnitsPerSecond", "write": "WriteUnitsPerSecond"}
        return {spelled[kind]: units for kind, units in sorted(given.items())}


@dataclass
class Stage:
    name: str
    config: dict[str, Any]
    # The Chalice project the stage belongs to: this one, or a copy with a test-only config.
    project_dir: Path = PROJECT_DIR

    @classmethod
    def load(cls, name: str = "dev", project_dir: Path = PROJECT_DIR) -> "Stage":
        config = json.loads((Path(project_dir) / ".chalice" / "config.json").read_text())
        if name not in config.get("stages", {}):
            raise SystemExit(f"stage {name!r} is not in .chalice/config.json")
        return cls(name, config, Path(project_dir))

    @property
    def chalice_dir(self) -> Path:
        return self.project_dir / ".chalice"

    @property
    def app_name(self) -> str:
        return self.config["app_name"]

    @property
    def environment(self) -> dict[str, str]:
        stage = self.config["stages"][self.name]
        return {**self.config.get("environment_variables", {}), **stage.get("environment_variables", {})}

    @property
    def settings(self) -> InfraSettings:
        given = dict(self.config["stages"][self.name].get("infra", {}))
        unknown = set(given) - {f.name for f in fields(InfraSettings)}
        if unknown:
            raise SystemExit(f"stage {self.name}: unknown infra settings {sorted(unknown)} in .chalice/config.json")
        for key in ("private_subnet_ids", "private_route_table_ids"):
            if key in given:
                given[key] = tuple(given[key])
        settings = InfraSettings(**given)
        self._check_network(settings)
        self._check_hardening(settings)
        return settings

    def _check_hardening(self, settings: InfraSettings) -> None:
        where = f"stage {self.name} (.chalice/config.json)"
        if settings.log_retention_days not in LOG_RETENTION_DAYS:
            raise SystemExit(f"{where}: infra.log_retention_days must be one of CloudWatch's {LOG_RETENTION_DAYS}")
        low, high = SQS_MAXIMUM_CONCURRENCY_RANGE
        for function, cap in settings.sqs_maximum_concurrency.items():
            if not isinstance(cap, int) or isinstance(cap, bool) or not low <= cap <= high:
                raise SystemExit(f"{where}: infra.sqs_maximum_concurrency.{function} must be a whole number "
                                 f"from {low} to {high} (Lambda's limits), not {cap!r}")
        self._check_warm_throughput(settings)

    def _check_warm_throughput(self, settings: InfraSettings) -> None:
        where = f"stage {self.name} (.chalice/config.json)"
        for logical_id, given in settings.warm_throughput.items():
            if not isinstance(RESOURCES.get(logical_id), Table):
                raise SystemExit(f"{where}: infra.warm_throughput.{logical_id} is not a table of infra/resources.py")
            if not isinstance(given, dict) or not given or set(given) - set(NEW_TABLE_WARM_THROUGHPUT):
                raise SystemExit(f"{where}: infra.warm_throughput.{logical_id} takes \"write\" and/or \"read\" "
                                 f"units per second, not {given!r}")
            for kind, units in given.items():
                floor = NEW_TABLE_WARM_THROUGHPUT[kind]
                if not isinstance(units, int) or isinstance(units, bool) or units < floor:
                    raise SystemExit(f"{where}: infra.warm_throughput.{logical_id}.{kind} must be a whole number of "
                                     f"at least {floor:,} (what a new on-demand table serves anyway), not {units!r}")

    def _check_network(self, settings: InfraSettings) -> None:
        where = f"stage {self.name} (.chalice/config.json)"
        existing = (settings.vpc_id, settings.private_subnet_ids, settings.private_route_table_ids)
        if any(existing) and not (settings.vpc_id and len(settings.private_subnet_ids) >= 2):
            raise SystemExit(f"{where}: an existing network needs infra.vpc_id and two or more "
                             "infra.private_subnet_ids (RDS and RDS Proxy need subnets in two AZs)")
        if settings.vpc_id and settings.vpc_endpoints and not settings.private_route_table_ids:
            raise SystemExit(f"{where}: infra.private_route_table_ids is needed for the S3 and DynamoDB "
                             "gateway endpoints (or infra.vpc_endpoints: false if the VPC has them)")
        scopes = [("the stage", self.config["stages"][self.name]), ("the top level", self.config),
                  *((f"lambda_functions.{f}", c) for f, c in
                    self.config["stages"][self.name].get("lambda_functions", {}).items())]
        for scope, values in scopes:
            for key in CHALICE_VPC_KEYS:
                if key in values:
                    raise SystemExit(f"{where}: {key} in {scope}: the functions that use the product database "
                                     "are placed in the VPC by the template (infra/product_db.py); set "
                                     "infra.vpc_id and infra.private_subnet_ids for an existing network")

    @property
    def product_store(self) -> str:
        store = self.environment.get("PRODUCT_STORE") or "dynamodb"
        if store not in PRODUCT_STORES:
            raise SystemExit(f"stage {self.name}: PRODUCT_STORE must be one of {', '.join(PRODUCT_STORES)}")
        return store

    @property
    def has_product_database(self) -> bool:
        return self.product_store == PRODUCT_DATABASE.store

    def uses(self, logical_id: str) -> bool:
        """Whether the stage has this resource of infra/resources.py (ProductTable only with DynamoDB products)."""
        return STORE_ONLY.get(logical_id, self.product_store) == self.product_store

    def xray(self, function: str) -> bool:
        """Chalice's `xray` key (stage-wide or per function): active tracing, and the grants it needs."""
        return bool(self.function_setting(function, "xray", False))

    def resource_name(self, logical_id: str) -> str:
        return self.environment[RESOURCES[logical_id].env]

    def function_setting(self, function: str, key: str, default: Any = None) -> Any:
        """A setting as Chalice looks it up: the stage's function, the stage, the top level's function, the top."""
        stage = self.config["stages"][self.name]
        for scope in (stage.get("lambda_functions", {}).get(function, {}), stage,
                      self.config.get("lambda_functions", {}).get(function, {}), self.config):
            if scope.get(key) is not None:
                return scope[key]
        return default

    def lambda_function_name(self, function: str) -> str:
        if function == "api_handler":
            return f"{self.app_name}-{self.name}"
        return f"{self.app_name}-{self.name}-{function}"

    @property
    def api_name(self) -> str:
        return self.app_name  # Chalice's swagger title, which API Gateway takes as the API's name

    @property
    def api_stage_name(self) -> str:
        """The API Gateway stage Chalice deploys the API to (its `api_gateway_stage`), which the URL names."""
        return self.config["stages"][self.name].get("api_gateway_stage", "api")

    def load_app(self):
        """Import app.py with this stage's environment, as `chalice deploy` does."""
        os.environ.update(self.environment)
        if str(self.project_dir) not in sys.path:
            sys.path.insert(0, str(self.project_dir))
        self.check_log_formats()
        if "app" in sys.modules:  # imported for another stage: its event sources hold that stage's names
            return importlib.reload(sys.modules["app"]).app
        return importlib.import_module("app").app

    def check_log_formats(self) -> None:
        """Refuse a stage whose LOG_FORMATS has a bad pattern, naming it: `python -m infra package`/`deploy`
        and `make run` load the app through here, so a bad one never reaches a worker (docs/log-formats.md)."""
        from chalicelib import settings
        from chalicelib.logbatch.parsing import BadLogFormat, load_formats
        try:
            load_formats(settings.log_formats())
        except BadLogFormat as error:
            raise SystemExit(f"stage {self.name} (.chalice/config.json): {error}") from None

    def sqs_consumers(self, app) -> dict[str, list[str]]:
        """Queue logical id -> the functions that consume it."""
        by_name = {self.resource_name(lid): lid for lid, r in RESOURCES.items() if isinstance(r, Queue)}
        consumers: dict[str, list[str]] = {}
        for source in app.event_sources:
            queue = getattr(source, "queue", None)
            if queue is None:
                continue
            if queue not in by_name:
                raise SystemExit(f"{source.name} listens to queue {queue!r}, which infra/resources.py does not define")
            consumers.setdefault(by_name[queue], []).append(source.name)
        return consumers

    def visibility_timeout(self, app, logical_id: str) -> int:
        # AWS asks for at least six times the consumer's timeout, so a message
        # is not redelivered while a slow (or retried) invocation still holds it.
        timeouts = [self.function_setting(fn, "lambda_timeout", DEFAULT_TIMEOUT)
                    for fn in self.sqs_consumers(app).get(logical_id, [])]
        return max([30] + [6 * t for t in timeouts])


def dlq_name(queue_name: str) -> str:
    return f"{queue_name}-dlq"
