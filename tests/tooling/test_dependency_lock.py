"""requirements.txt is the lock of what ships to Lambda (issue 20, item 7): made from requirements.in by
`make lock`, every package pinned and hashed, and the very versions the tests run against."""
import re
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;\\]+)")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(path: Path) -> dict[str, str]:
    found = {}
    for line in path.read_text().splitlines():
        match = PIN.match(line)
        if match:
            found[canonical(match[1])] = match[2]
    return found


def locked_entries() -> list[list[str]]:
    """The lock's requirements, each as its lines (the pin, then its hash and `via` lines)."""
    entries: list[list[str]] = []
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        if line and not line[0].isspace() and not line.startswith("#"):
            entries.append([line])
        elif entries and line.strip():
            entries[-1].append(line.strip())
    return entries


def test_every_package_of_the_lock_is_pinned_and_hashed():
    entries = locked_entries()
    assert entries, "requirements.txt lists no package"
    for entry in entries:
        assert PIN.match(entry[0]), f"not pinned with ==: {entry[0]}"
        assert any(line.startswith("--hash=sha256:") for line in entry), f"no hash: {entry[0]}"


def test_the_lock_holds_every_pin_of_requirements_in():
    wanted, locked = pins(ROOT / "requirements.in"), pins(ROOT / "requirements.txt")
    assert wanted, "requirements.in pins nothing"
    stale = {name: (version, locked.get(name)) for name, version in wanted.items() if locked.get(name) != version}
    assert not stale, f"requirements.in and the lock disagree (run `make lock`): {stale}"


def test_the_tests_run_the_locked_versions():
    installed = {}
    for name, version in pins(ROOT / "requirements.txt").items():
        try:
            installed[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            installed[name] = None
    differ = {name: (version, installed[name]) for name, version in pins(ROOT / "requirements.txt").items()
              if installed[name] != version}
    assert not differ, f"(locked, installed) differ; `make test` reinstalls .venv when the lock changes: {differ}"
