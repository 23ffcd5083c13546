"""Which Host headers the local emulator answers (local_runtime/emulator.py, fix 7: DNS rebinding)."""
import pytest

from local_runtime.emulator import loopback_host


@pytest.mark.parametrize("host", ["127.0.0.1:5005", "127.0.0.1", "127.9.8.7:1", "localhost", "LocalHost:5005",
                                  "localhost.", "notas-fiscais.localhost:5005", "[::1]:5005", "[::1]"])
def test_loopback_names_are_answered(host):
    assert loopback_host(host)


@pytest.mark.parametrize("host", [None, "", " ", "evil.example", "evil.example:5005", "127.0.0.1.nip.io:5005",
                                  "localhost.evil.example", "evillocalhost", "0.0.0.0:5005", "192.168.0.10:5005",
                                  "10.0.0.1", "::1", "[::1", "localhost:abc", "localhost:5005:5005",
                                  "[fe80::1]:5005", "2130706433"])
def test_other_names_are_refused(host):
    assert not loopback_host(host)
