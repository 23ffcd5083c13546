"""Fixtures of the fuzz tests, and the tally of inputs tried that ends their run."""
import pytest

from tests.e2e.conftest import package_system
from tests.fuzz.support import SERVER_ERRORS, TRIED, aws

# The real HTTP runs' system: its own, as it always was (importing the e2e fixture here made a second
# session-wide one), stopped when the fuzz tests are done.
local_system = package_system()


@pytest.fixture(autouse=True)
def fresh_test_clients():
    """Each test's moto account gets its own clients."""
    aws.cache_clear()
    yield
    aws.cache_clear()


def pytest_terminal_summary(terminalreporter):
    if not TRIED:
        return
    terminalreporter.section("fuzz: inputs tried per entry point")
    for entry_point, count in sorted(TRIED.items()):
        terminalreporter.write_line(f"{entry_point:<44} {count:>6} tried, {SERVER_ERRORS[entry_point]} 5xx")
    terminalreporter.write_line(f"{'total':<44} {sum(TRIED.values()):>6} tried, {sum(SERVER_ERRORS.values())} 5xx")
