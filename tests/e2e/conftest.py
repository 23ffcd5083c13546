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


@pytest.fixture(scope="session")
def local_system():
    with running(LocalSystem()) as system:
        yield system
