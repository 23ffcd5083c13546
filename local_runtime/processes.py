"""Child processes that die with their parent and stop cleanly."""
import ctypes
import os
import signal
import socket
import subprocess
import time

PR_SET_PDEATHSIG = 1


def _die_with_parent():
    # A new session keeps the terminal's Ctrl-C for the parent, which stops
    # children in order; PDEATHSIG ends them even if the parent is killed.
    os.setsid()
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass


def start(args: list[str], env: dict[str, str], cwd: str | None = None, log_path: str | None = None):
    output = open(log_path, "ab") if log_path else subprocess.DEVNULL
    return subprocess.Popen(args, env=env, cwd=cwd, stdout=output, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent)


def stop(process: subprocess.Popen, timeout: float = 3) -> None:
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    except ProcessLookupError:
        pass


def port_is_open(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


def wait_for_port(host: str, port: int, process: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not port_is_open(host, port):
        if process.poll() is not None:
            raise RuntimeError(f"{' '.join(process.args[:4])} exited with code {process.returncode}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"nothing listens on {host}:{port} after {timeout:.0f} s")
        time.sleep(0.1)
