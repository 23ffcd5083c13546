"""The deployment zip holds exactly the locked packages (requirements.txt, `make lock`), boto3 included:
nothing unpinned rides along, and nothing the lock names is left to the Lambda runtime."""
import re
import zipfile

from tests.integration.test_packaging import packaged
from tests.tooling.test_dependency_lock import ROOT, canonical, pins

DIST_INFO = re.compile(r"^([^/]+)-([^-/]+)\.dist-info/METADATA$")


def test_the_zip_ships_the_lock_and_nothing_else():
    with zipfile.ZipFile(packaged("dev").parent / "deployment.zip") as deployment:
        shipped = {canonical(match[1]): match[2] for match in map(DIST_INFO.match, deployment.namelist()) if match}
    assert shipped == pins(ROOT / "requirements.txt")
    assert "boto3" in shipped and "botocore" in shipped  # the tested SDK, not the runtime's
