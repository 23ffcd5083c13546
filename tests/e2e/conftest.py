"""The real thing: `python -m local_runtime` as a subprocess on free ports, driven over HTTP and boto3."""
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import boto3
import pytest
import requests

PROJECT_DIR = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_is_open(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def wait_until(condition, timeout: float, interval: float = 0.2, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


class LocalSystem:
    """`python -m local_runtime` on free ports; `env` adds settings of its own (e.g. LOCAL_RETRY_SECONDS)."""

    def __init__(self, **env_overrides: str):
        self.api_port, self.emulator_port, self.console_port = free_port(), free_port(), free_port()
        self.api = f"http://127.0.0.1:{self.api_port}"
        self.emulator = f"http://127.0.0.1:{self.emulator_port}"
        self.console = f"http://127.0.0.1:{self.console_port}"
        self.output: list[str] = []
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(API_PORT=str(self.api_port), EMULATOR_PORT=str(self.emulator_port),
                   CONSOLE_PORT=str(self.console_port), PYTHONUNBUFFERED="1", **env_overrides)
        self.process = subprocess.Popen([sys.executable, "-m", "local_runtime"], cwd=PROJECT_DIR, env=env,
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        threading.Thread(target=self._collect, daemon=True).start()

    def _collect(self):
        for line in self.process.stdout:
            self.output.append(line.rstrip("\n"))

    def client(self, service: str):
        return boto3.session.Session(aws_access_key_id="local", aws_secret_access_key="local",
                                     region_name="us-east-1").client(service, endpoint_url=self.emulator)

    def log(self) -> str:
        return "\n".join(self.output)

    def pool(self) -> dict[str, str]:
        """The ids of the user pool the local runtime provisioned (found by the stage's pool name)."""
        if not hasattr(self, "_pool"):
            from infra.provision import provision_user_pool
            from infra.stage import Stage
            session = boto3.session.Session(aws_access_key_id="local", aws_secret_access_key="local",
                                            region_name="us-east-1")
            with _endpoint(self.emulator):
                self._pool = provision_user_pool(Stage.load(os.environ.get("STAGE", "dev")), session)
        return self._pool

    def token(self, user: str = "operator") -> str:
        """A demo user's ID token from the emulator's pool, as a client logs in (USER_PASSWORD_AUTH)."""
        from infra.resources import USER_POOL
        from local_runtime.identity import log_in
        return log_in(self.client("cognito-idp"), self.pool()[USER_POOL.client_env], user)["IdToken"]

    def session(self, user: str = "operator") -> requests.Session:
        """HTTP as `user`: every request carries the user's ID token."""
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {self.token(user)}"
        return session

    def printed_shell(self, command: str) -> subprocess.CompletedProcess:
        """`command` in a fresh bash after the banner's log-in lines, as a user pastes them in order."""
        log_ins = [line.strip() for line in self.output if line.strip().startswith(("TOKEN=$(aws ", "ANA_TOKEN=$("))]
        env = {**os.environ, "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local",
               "AWS_DEFAULT_REGION": "us-east-1", "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
        return subprocess.run(["bash", "-c", "; ".join([*log_ins, command])], cwd=PROJECT_DIR, env=env,
                              capture_output=True, text=True)

    @property
    def http(self) -> requests.Session:
        """HTTP as the demo operator (one session, logged in on first use)."""
        if not hasattr(self, "_http"):
            self._http = self.session("operator")
        return self._http


@contextmanager
def _endpoint(url: str):
    """boto3 at the emulator for the length of the block (provision_user_pool makes its own client)."""
    saved = os.environ.get("AWS_ENDPOINT_URL")
    os.environ["AWS_ENDPOINT_URL"] = url
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("AWS_ENDPOINT_URL", None)
        else:
            os.environ["AWS_ENDPOINT_URL"] = saved


@contextmanager
def running(system: LocalSystem):
    """The system once it has printed "ready"; Ctrl-C (SIGINT) at the end, unless a test stopped it already."""
    try:
        wait_until(lambda: any(line.endswith(" ready") for line in system.output) or system.process.poll() is not None,
                   timeout=90, what="the local runtime to be ready")
        assert system.process.poll() is None, system.log()
        yield system
    finally:
        if system.process.poll() is None:
            system.process.send_signal(signal.SIGINT)
            try:
                system.process.wait(15)
            except subprocess.TimeoutExpired:
                system.process.kill()
                system.process.wait()


def package_system(**env_overrides: str):
    """A `local_system` fixture for one test package: started on first use, stopped when the package's tests
    are done. A stack left running idles at about 15% of a core (its runner polls every queue), so one kept
    to the end of the session slows every test after it; each package that needs one declares its own."""
    @pytest.fixture(scope="package")
    def local_system():
        with running(LocalSystem(**env_overrides)) as system:
            yield system
    return local_system


local_system = package_system()
