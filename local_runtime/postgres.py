"""A throwaway PostgreSQL server for `make run PRODUCT_STORE=postgres` and the tests: no Docker, no system service.

It uses the distribution's binaries (Debian's postgresql package puts them in
/usr/lib/postgresql/<version>/bin). initdb and postgres refuse to run as root,
so when we are root they run as the `postgres` user, in a data directory that
user owns and can reach: when it may not enter the directory we were given (a
clone under a 0700 home, say), the data goes to a fresh directory under the
temp dir for this run only, and the log stays where it was asked for. The
server listens on 127.0.0.1 only, with password (SCRAM) authentication, as
RDS would ask for, and no Unix socket (its path length and directory
permissions are a portability trap we do not need).
"""
import ctypes
import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

HOST = "127.0.0.1"
USER = "catalog"
PASSWORD = "catalog-local"  # a local throwaway server's; real stages use env vars or a secret
DATABASE = "catalog"
PR_SET_PDEATHSIG = 1


def find_bin_dir() -> Path | None:
    """The newest installed server's bin directory (PG_BIN_DIR overrides), or None when none is installed."""
    if os.environ.get("PG_BIN_DIR"):
        given = Path(os.environ["PG_BIN_DIR"])
        return given if (given / "initdb").exists() else None
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda path: int(Path(path).parent.parent.name) if Path(path).parent.parent.name.isdigit() else 0)
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _server_user() -> pwd.struct_passwd | None:
    """Whom the server runs as: the postgres user when we are root (initdb refuses root), else ourselves."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam("postgres")
    except KeyError:
        raise RuntimeError("running as root, and there is no postgres user to run the server as "
                           "(apt-get install -y postgresql creates it)") from None


def _reaches(user: pwd.struct_passwd | None, path: Path) -> bool:
    """Whether the server's user may enter and write `path`, every parent included. Asked of the kernel as
    that user (test -w -x), because mode bits alone miss ACLs and supplementary groups."""
    if user is None:
        return True  # we are that user: where we cannot write, neither could our own log
    result = subprocess.run(["test", "-d", str(path), "-a", "-w", str(path), "-a", "-x", str(path)],
                            preexec_fn=_as(user, False), cwd="/", capture_output=True, timeout=30)
    return result.returncode == 0


def _scratch_root(user: pwd.struct_passwd | None) -> Path:
    """A temp directory the server's user can reach: TMPDIR's, else /var/tmp or /tmp (world-writable, sticky)."""
    candidates = [Path(tempfile.gettempdir()), Path("/var/tmp"), Path("/tmp")]
    for candidate in dict.fromkeys(candidates):
        if _reaches(user, candidate):
            return candidate
    name = user.pw_name if user else "this user"
    raise RuntimeError(f"{name} can write none of {', '.join(map(str, dict.fromkeys(candidates)))}: give it one "
                       "as TMPDIR, or set LOCAL_POSTGRES_DIR to a directory it may enter")


def _as(user: pwd.struct_passwd | None, die_with_parent: bool):
    def preexec():
        os.setsid()  # Ctrl-C reaches us, not the server: we stop it in order
        if user is not None:
            os.setgroups([])
            os.setgid(user.pw_gid)
            os.setuid(user.pw_uid)
        if die_with_parent:
            # Set after setuid, which clears it. SIGINT is PostgreSQL's fast shutdown.
            try:
                ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGINT)
            except OSError:
                pass
    return preexec


class LocalPostgres:
    """One server process: `start()` (initdb on first use, then the migration is the caller's), `stop()`."""

    def __init__(self, base_dir: str | Path, port: int, bin_dir: Path | None = None, durable: bool = True):
        self.base_dir = Path(base_dir).absolute()  # initdb and postgres run in another directory
        self.data_dir = self.base_dir / "data"
        self.scratch_dir: Path | None = None  # the per-run data directory when base_dir is out of the server's reach
        self.log_path = self.base_dir / "server.log"
        self.port = port
        self.bin_dir = bin_dir or find_bin_dir()
        self.durable = durable
        self.process: subprocess.Popen | None = None
        self.user = _server_user()

    @property
    def environment(self) -> dict[str, str]:
        """What points the app (API process and event runner alike) at this server."""
        return {"PRODUCT_STORE": "postgres", "PRODUCT_DB_HOST": HOST, "PRODUCT_DB_PORT": str(self.port),
                "PRODUCT_DB_NAME": DATABASE, "PRODUCT_DB_USER": USER, "PRODUCT_DB_PASSWORD": PASSWORD,
                "PRODUCT_DB_SSL": "disable"}

    def _run(self, args: list[str]) -> None:
        # cwd where the server's user may be: initdb chdirs back to its working directory after finding itself
        result = subprocess.run(args, preexec_fn=_as(self.user, False), capture_output=True, text=True,
                                cwd=self.data_dir.parent, timeout=120)
        if result.returncode != 0:
            raise RuntimeError(f"{Path(args[0]).name} failed ({result.returncode}): {result.stderr.strip()[-2000:]}")

    def _own(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        if self.user is not None:
            os.chown(path, self.user.pw_uid, self.user.pw_gid)

    def _place_data(self) -> None:
        """Data under base_dir, kept between runs, when the server's user can reach it. Otherwise (root, and
        a parent of base_dir that postgres may not enter) a fresh directory under the temp dir, owned by that
        user and removed by stop(): initdb and postgres open their data directory as that user."""
        if self.scratch_dir is not None or _reaches(self.user, self.base_dir):
            return
        self.scratch_dir = Path(tempfile.mkdtemp(prefix="catalog-pg-", dir=_scratch_root(self.user)))
        self._own(self.scratch_dir)
        self.data_dir = self.scratch_dir / "data"

    def start(self, timeout: float = 30) -> "LocalPostgres":
        if self.bin_dir is None:
            raise RuntimeError("PostgreSQL is not installed (apt-get install -y postgresql); no initdb found")
        self._own(self.base_dir)  # the log's directory (we write the log), and the data's when it is reachable
        self._place_data()
        try:
            self._start(self.bin_dir, timeout)
        except BaseException:
            self.stop()  # a failed start leaves no server and no scratch directory behind
            raise
        return self

    def _start(self, bin_dir: Path, timeout: float) -> None:
        if not (self.data_dir / "PG_VERSION").exists():
            # The password file is read by initdb as the server's user, so it sits beside the data.
            with tempfile.NamedTemporaryFile("w", dir=self.data_dir.parent, delete=False) as pwfile:
                pwfile.write(PASSWORD + "\n")
            try:
                if self.user is not None:
                    os.chown(pwfile.name, self.user.pw_uid, self.user.pw_gid)
                self._run([str(bin_dir / "initdb"), "-D", str(self.data_dir), "-U", USER,
                           f"--pwfile={pwfile.name}", "--auth=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8",
                           "--no-sync"])
            finally:
                os.unlink(pwfile.name)
        settings = ["-c", f"listen_addresses={HOST}", "-p", str(self.port), "-c", "unix_socket_directories=",
                    "-c", "max_connections=50", "-c", "shared_buffers=16MB"]
        if not self.durable:  # tests: the data dies with the run, so do not wait for disks
            settings += ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
        log = open(self.log_path, "ab")
        try:
            self.process = subprocess.Popen([str(bin_dir / "postgres"), "-D", str(self.data_dir), *settings],
                                            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                            cwd=self.data_dir.parent, preexec_fn=_as(self.user, True))
        finally:
            log.close()
        self._wait_ready(timeout)
        self._create_database()

    def _wait_ready(self, timeout: float) -> None:
        import pg8000.native
        assert self.process is not None, "_wait_ready follows the Popen"
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"postgres exited ({self.process.returncode}); see {self.log_path}:\n"
                                   + self.log_path.read_text(errors="replace")[-2000:])
            try:
                pg8000.native.Connection(USER, host=HOST, port=self.port, password=PASSWORD, database="postgres",
                                         timeout=2).close()
                return
            except Exception as error:  # not accepting connections yet ("the database system is starting up")
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"postgres on {HOST}:{self.port} not ready after {timeout:.0f} s: {error}")
                time.sleep(0.1)

    def _create_database(self) -> None:
        import pg8000.native
        connection = pg8000.native.Connection(USER, host=HOST, port=self.port, password=PASSWORD, database="postgres")
        try:
            if not connection.run("SELECT 1 FROM pg_database WHERE datname = :name", name=DATABASE):
                connection.run(f"CREATE DATABASE {DATABASE}")
        finally:
            connection.close()

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 15) -> None:
        """Fast shutdown (SIGINT: open sessions are ended, nothing waits for clients), then harder if it hangs.
        A per-run data directory goes with it."""
        try:
            self._stop_process(timeout)
        finally:
            if self.scratch_dir is not None:
                shutil.rmtree(self.scratch_dir, ignore_errors=True)
                self.scratch_dir, self.data_dir = None, self.base_dir / "data"

    def _stop_process(self, timeout: float) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        for signum, wait in ((signal.SIGINT, timeout), (signal.SIGQUIT, 5), (signal.SIGKILL, 5)):
            try:
                self.process.send_signal(signum)
                self.process.wait(wait)
                return
            except subprocess.TimeoutExpired:
                continue
            except ProcessLookupError:
                return


def start_if_selected(log_dir: Path, port: int, say, store: str | None = None) -> LocalPostgres | None:
    """`make run`'s step: with PRODUCT_STORE=postgres (given, else the stage's), a server under
    <log_dir>/postgres, migrated, its PRODUCT_DB_* put in os.environ (which chalice local and the
    event runner both inherit). Its data stays there between runs; `make clean` removes it. When the
    postgres user cannot enter that directory (root, a clone under a 0700 directory) the data lives in
    a directory under the temp dir for this run only, as the emulator's DynamoDB tables do."""
    if (store or os.environ.get("PRODUCT_STORE") or "dynamodb") != "postgres":
        return None
    base_dir = Path(os.environ.get("LOCAL_POSTGRES_DIR") or log_dir / "postgres")
    server = LocalPostgres(base_dir, port)
    say(f"starting PostgreSQL on {HOST}:{port} (data and log: {base_dir})")
    server.start()
    if server.scratch_dir is not None:
        say(f"PostgreSQL's data is in {server.data_dir} for this run only: the postgres user may not enter "
            f"{base_dir} (LOCAL_POSTGRES_DIR chooses another place)")
    os.environ.update(server.environment)
    from chalicelib.db import connection, migrate
    connection.reset()
    try:
        applied = migrate.migrate(connection.database())
    except Exception:
        server.stop()
        raise
    finally:
        connection.reset()
    say(f"product store: PostgreSQL {DATABASE} on {HOST}:{port}, schema "
        + (f"migrated ({', '.join(map(str, applied))})" if applied else "up to date"))
    return server
