"""One PostgreSQL connection per Lambda container, reused across invocations and re-opened after a failure.

Why this shape:
- Opening a connection (TCP, TLS, SCRAM) costs tens of milliseconds and a
  server process; a warm container keeps its one connection. Locally, chalice
  local and the event runner call handlers from several threads of one
  process, and a pg8000 connection must not run two statements at once, so a
  statement takes an idle connection (or opens one) and gives it back: on
  Lambda, one invocation at a time, that is one connection per container.
- A reused connection can be dead (the database restarted, RDS Proxy closed it
  when idle): the statement is retried once on a fresh connection. Every
  statement the catalog runs is idempotent, so a retry cannot apply twice.
- The database being down, refusing connections or too slow is turned into
  `Unavailable` (503 for the API, a retried batch item for the worker);
  anything else — a bug in SQL, a constraint — propagates unchanged.
- Credentials come from the environment or from a Secrets Manager secret (the
  RDS JSON shape), never from the repository. The secret is read once per
  container and read again after a failed connection (it may have rotated).
"""
import json
import ssl
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable, Iterator

import pg8000.native
from pg8000.exceptions import DatabaseError, InterfaceError

from chalicelib.errors import Unavailable
from chalicelib.logs import logger
from chalicelib.settings import MissingSetting, environment, setting

DEFAULT_CONNECT_TIMEOUT_SECONDS = 3.0
DEFAULT_STATEMENT_TIMEOUT_MS = 5000
# Seconds a socket read may wait beyond the statement timeout: the server cancels a slow statement
# itself; this only catches a server or network that stopped answering at all.
READ_GRACE_SECONDS = 2.0

# SQLSTATE classes meaning "the database cannot serve now", not "this statement is wrong":
# 08 connection exception, 53 insufficient resources (too many connections), 57 operator
# intervention (57014 statement timeout, 57P01 shutdown), 58 system error; plus lock timeout,
# serialization failure, deadlock, and authentication failures (a rotated password).
UNAVAILABLE_CLASSES = ("08", "53", "57", "58")
UNAVAILABLE_CODES = {"55P03", "40001", "40P01", "28P01", "28000"}
# Errors after which the connection cannot be trusted and a fresh one should be tried.
CONNECTION_LOST_CODES = {"57P01", "57P02", "57P03"}


@dataclass(frozen=True)
class DatabaseConfig:
    host: str
    port: int
    database: str
    user: str
    password: str | None
    ssl: str  # verify | require | disable
    connect_timeout: float
    statement_timeout_ms: int

    def describe(self) -> str:
        return f"{self.user}@{self.host}:{self.port}/{self.database}"


def _secret(arn: str) -> dict[str, Any]:
    from chalicelib import aws
    return json.loads(aws.client("secretsmanager").get_secret_value(SecretId=arn)["SecretString"])


def config_from_environment(read_secret: Callable[[str], dict[str, Any]] = _secret) -> DatabaseConfig:
    """PRODUCT_DB_* variables; with PRODUCT_DB_SECRET_ARN the secret supplies what they leave unset.

    The variables win over the secret so a stage can point PRODUCT_DB_HOST at an
    RDS Proxy endpoint while the secret (which names the instance) gives the login.
    """
    secret_arn = environment("PRODUCT_DB_SECRET_ARN")
    secret = read_secret(secret_arn) if secret_arn else {}

    def value(name: str, secret_key: str, default: str | None = None) -> str:
        given = environment(name)
        if given:
            return given
        if secret.get(secret_key) not in (None, ""):
            return str(secret[secret_key])
        return setting(name, default)

    ssl_mode = environment("PRODUCT_DB_SSL", "verify")
    if ssl_mode not in ("verify", "require", "disable"):
        raise MissingSetting(f"PRODUCT_DB_SSL must be verify, require or disable, not {ssl_mode!r}")
    password = environment("PRODUCT_DB_PASSWORD") or secret.get("password")
    return DatabaseConfig(
        host=value("PRODUCT_DB_HOST", "host"),
        port=int(value("PRODUCT_DB_PORT", "port", "5432")),
        database=value("PRODUCT_DB_NAME", "dbname", "catalog"),
        user=value("PRODUCT_DB_USER", "username"),
        password=password,
        ssl=ssl_mode,
        connect_timeout=float(environment("PRODUCT_DB_CONNECT_TIMEOUT_SECONDS", str(DEFAULT_CONNECT_TIMEOUT_SECONDS))),
        statement_timeout_ms=int(environment("PRODUCT_DB_STATEMENT_TIMEOUT_MS", str(DEFAULT_STATEMENT_TIMEOUT_MS))),
    )


def _ssl_context(mode: str):
    if mode == "disable":
        return False
    if mode == "require":
        return True  # encrypted, certificate not checked
    # The system trust store verifies RDS Proxy's certificate (issued by Amazon's public CAs);
    # a direct instance endpoint needs the RDS CA bundle in SSL_CERT_FILE, or PRODUCT_DB_SSL=require.
    return ssl.create_default_context()


def sqlstate(error: BaseException) -> str:
    details = error.args[0] if error.args and isinstance(error.args[0], dict) else {}
    return details.get("C", "")


def is_unavailable(error: BaseException) -> bool:
    if isinstance(error, (InterfaceError, OSError, EOFError)):
        return True
    if isinstance(error, DatabaseError):
        code = sqlstate(error)
        return code[:2] in UNAVAILABLE_CLASSES or code in UNAVAILABLE_CODES
    return False


def _connection_lost(error: BaseException) -> bool:
    return isinstance(error, (InterfaceError, OSError, EOFError)) or sqlstate(error) in CONNECTION_LOST_CODES


class Database:
    """Runs statements on a reused connection; see the module docstring for why."""

    def __init__(self, load_config: Callable[[], DatabaseConfig] = config_from_environment):
        self._load_config = load_config
        self._config: DatabaseConfig | None = None
        self._lock = threading.Lock()
        # Connections not running a statement. On Lambda (one invocation at a time) this is the container's
        # one connection; locally, threads of one process take turns with a few.
        self._idle: list[pg8000.native.Connection] = []
        self._open: list[pg8000.native.Connection] = []

    @property
    def config(self) -> DatabaseConfig:
        if self._config is None:
            self._config = self._load_config()
        return self._config

    def _connect(self) -> pg8000.native.Connection:
        config = self.config
        startup = {"statement_timeout": str(config.statement_timeout_ms)} if config.statement_timeout_ms else None
        connection = pg8000.native.Connection(
            config.user, host=config.host, port=config.port, database=config.database, password=config.password,
            ssl_context=_ssl_context(config.ssl), timeout=config.connect_timeout, startup_params=startup,
            application_name="async-catalog")
        # pg8000 keeps the connect timeout for every read; reads must outlast a statement the server
        # is still allowed to run, so the socket gets the statement timeout plus a grace.
        sock = getattr(connection, "_usock", None)
        if sock is not None and config.statement_timeout_ms:
            sock.settimeout(config.statement_timeout_ms / 1000 + READ_GRACE_SECONDS)
        with self._lock:
            self._open.append(connection)
        return connection

    def _take(self) -> pg8000.native.Connection | None:
        with self._lock:
            return self._idle.pop() if self._idle else None

    def _give_back(self, connection: pg8000.native.Connection) -> None:
        with self._lock:
            if connection in self._open:
                self._idle.append(connection)

    def run(self, sql: str, **params: Any) -> list[list[Any]]:
        """Rows of one statement (autocommit); Unavailable when the database cannot answer."""
        connection = self._take()
        reused = connection is not None
        for attempt in (1, 2):
            try:
                if connection is None:
                    connection = self._connect()
                rows = connection.run(sql, **params)
            except Exception as error:
                if not is_unavailable(error):
                    if connection is not None:
                        self._give_back(connection)  # the statement was wrong, not the connection
                    raise
                lost = _connection_lost(error)
                if lost or connection is None:
                    if connection is not None:
                        self._discard_quietly(connection)
                    if self._config is not None and environment("PRODUCT_DB_SECRET_ARN"):
                        self._config = None  # read the secret again: the password may have rotated
                else:
                    self._give_back(connection)  # a timeout or lock wait: the connection itself is fine
                if lost and reused and attempt == 1:
                    logger.info("product database connection lost; reconnecting", error=str(error))
                    connection, reused = None, False
                    continue
                logger.warning("product database unavailable", error=str(error), sqlstate=sqlstate(error))
                raise Unavailable("The product database is unavailable; try again shortly.") from error
            self._give_back(connection)
            return rows
        raise AssertionError("unreachable")

    @contextmanager
    def dedicated(self) -> Iterator[pg8000.native.Connection]:
        """A connection of its own, without retries, closed after use: for multi-statement transactions
        (a retry on a fresh connection would silently leave the transaction)."""
        connection = self._connect()
        try:
            yield connection
        finally:
            self._discard_quietly(connection)

    def _discard_quietly(self, connection: pg8000.native.Connection) -> None:
        with self._lock:
            if connection in self._open:
                self._open.remove(connection)
            if connection in self._idle:
                self._idle.remove(connection)
        try:
            connection.close()
        except Exception:  # already broken: closing it is only tidiness
            pass

    def close(self) -> None:
        """Close every connection this object opened (tests, and the migration tool when done)."""
        with self._lock:
            connections, self._open, self._idle = self._open, [], []
        for connection in connections:
            try:
                connection.close()
            except Exception:
                pass


@lru_cache(maxsize=None)
def database() -> Database:
    """The container's product database (module state lives as long as the Lambda container)."""
    return Database()


def reset() -> None:
    """Close and forget the container's connections (tests switch servers and settings)."""
    if database.cache_info().currsize:
        database().close()
    database.cache_clear()
