"""The throwaway PostgreSQL server finds a data directory its user can reach (issue 20, item 8).

As root the server runs as `postgres`, which may not enter a clone under a 0700
directory: `make run PRODUCT_STORE=postgres` then failed in initdb ("could not
change directory ... Permission denied"). These tests start a real server the
way `make run` does, from inside such a directory; they need root, since only
then is the server's user someone else.
"""
import os
import shutil
import tempfile
from pathlib import Path

import pg8000.native
import pytest

from local_runtime import postgres
from local_runtime.postgres import DATABASE, HOST, PASSWORD, USER, LocalPostgres, find_bin_dir
from tests.postgres import MISSING, free_port


@pytest.fixture
def as_root():
    if find_bin_dir() is None:
        (pytest.fail if os.environ.get("CI") else pytest.skip)(MISSING)
    if os.geteuid() != 0:
        pytest.skip("only root runs the server as another user (postgres)")


@pytest.fixture
def locked(tmp_path, monkeypatch):
    """A 0700 directory owned by root, and our working directory inside it, as a clone in /root would be."""
    directory = tmp_path / "locked"
    directory.mkdir(mode=0o700)
    os.chmod(directory, 0o700)  # mkdir's mode is masked by the umask; this is the mode we mean
    clone = directory / "clone"
    clone.mkdir()
    monkeypatch.chdir(clone)
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


def answers(server: LocalPostgres) -> bool:
    connection = pg8000.native.Connection(USER, host=HOST, port=server.port, password=PASSWORD, database=DATABASE,
                                          timeout=5)
    try:
        return connection.run("SELECT 1") == [[1]]
    finally:
        connection.close()


def test_the_server_user_cannot_reach_a_locked_directory_but_can_reach_the_temp_dir(as_root, locked):
    user = postgres._server_user()
    assert not postgres._reaches(user, locked / "clone")
    assert postgres._reaches(user, postgres._scratch_root(user))


def test_a_base_dir_out_of_the_server_users_reach_keeps_the_log_and_puts_the_data_in_a_per_run_directory(
        as_root, locked):
    base_dir = locked / "clone" / "build" / "local" / "postgres"  # make run's place for it
    server = LocalPostgres(base_dir, free_port(), durable=False)
    try:
        server.start()
        scratch = server.scratch_dir
        assert scratch is not None and not scratch.is_relative_to(locked)
        assert (server.data_dir / "PG_VERSION").exists()
        assert answers(server)
        assert (base_dir / "server.log").stat().st_size > 0
    finally:
        server.stop()
    assert not scratch.exists(), "stop() removes the per-run data directory"
    assert server.scratch_dir is None and server.data_dir == base_dir / "data"


def test_a_reachable_base_dir_keeps_the_data_there_between_runs(as_root):
    # mkdtemp's directory is root's and 0700; start() hands it to postgres, as make run does with build/local.
    base_dir = Path(tempfile.mkdtemp(prefix="catalog-pg-test-", dir=postgres._scratch_root(postgres._server_user())))
    server = LocalPostgres(base_dir, free_port(), durable=False)
    try:
        server.start()
        assert server.scratch_dir is None
        assert server.data_dir == base_dir / "data"
        assert answers(server)
        server.stop()
        assert (base_dir / "data" / "PG_VERSION").exists()
    finally:
        server.stop()
        shutil.rmtree(base_dir, ignore_errors=True)
