"""A Chalice stage as the tools see it: its settings from .chalice/config.json and the app loaded with them."""
import importlib
import json
import os
import sys
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from infra.resources import RESOURCES, Queue

PROJECT_DIR = Path(__file__).resolve().parent.parent
CHALICE_DIR = PROJECT_DIR / ".chalice"
DEFAULT_TIMEOUT = 60  # Chalice's default lambda_timeout


@dataclass(frozen=True)
class InfraSettings:
    """What the AWS template does beyond names, per stage: the `infra` object of a stage in .chalice/config.json.

    Kept beside the stage's names so one file says everything about a stage; Chalice ignores the key.
    """
    api_key_required_for_writes: bool = False  # POST /products and POST /orders need an x-api-key
    api_throttle_rate_limit: float = 50.0  # requests per second, the API stage's steady rate
    api_throttle_burst_limit: int = 100
    reports_expire_after_days: int = 365  # 0: never
    inputs_expire_after_days: int = 90  # uploads (current and older versions); 0: never
    oldest_message_alarm_seconds: int = 900  # a work queue's oldest message older than this alarms
    api_5xx_rate_alarm: float = 0.05  # share of API requests answered 5xx over 5 minutes


@dataclass
class Stage:
    name: str
    config: dict[str, Any]

    @classmethod
    def load(cls, name: str = "dev") -> "Stage":
        config = json.loads((CHALICE_DIR / "config.json").read_text())
        if name not in config.get("stages", {}):
            raise SystemExit(f"stage {name!r} is not in .chalice/config.json")
        return cls(name, config)

    @property
    def app_name(self) -> str:
        return self.config["app_name"]

    @property
    def environment(self) -> dict[str, str]:
        stage = self.config["stages"][self.name]
        return {**self.config.get("environment_variables", {}), **stage.get("environment_variables", {})}

    @property
    def settings(self) -> InfraSettings:
        given = self.config["stages"][self.name].get("infra", {})
        unknown = set(given) - {f.name for f in fields(InfraSettings)}
        if unknown:
            raise SystemExit(f"stage {self.name}: unknown infra settings {sorted(unknown)} in .chalice/config.json")
        return InfraSettings(**given)

    def resource_name(self, logical_id: str) -> str:
        return self.environment[RESOURCES[logical_id].env]

    def function_setting(self, function: str, key: str, default: Any = None) -> Any:
        stage = self.config["stages"][self.name]
        for scope in (stage.get("lambda_functions", {}).get(function, {}), stage, self.config):
            if key in scope:
                return scope[key]
        return default

    def lambda_function_name(self, function: str) -> str:
        if function == "api_handler":
            return f"{self.app_name}-{self.name}"
        return f"{self.app_name}-{self.name}-{function}"

    def load_app(self):
        """Import app.py with this stage's environment, as `chalice deploy` does."""
        os.environ.update(self.environment)
        if str(PROJECT_DIR) not in sys.path:
            sys.path.insert(0, str(PROJECT_DIR))
        if "app" in sys.modules:  # imported for another stage: its event sources hold that stage's names
            return importlib.reload(sys.modules["app"]).app
        return importlib.import_module("app").app

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
