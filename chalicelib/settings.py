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
