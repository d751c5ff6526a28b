"""The suite's guards work: a warning fails a test, a blocking call inside the event loop fails
it, and only loopback can be reached (README, "Development").

Each guard is shown twice where it matters: by a direct call in this very session (the
configuration really is active here), and, for the warnings, by a small suite run with
``pytester`` under the same ``filterwarnings`` list as ours (a test that warns fails).
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
import tomllib
import warnings
from pathlib import Path

import pytest
from blockbuster import BlockBuster, BlockingError
from pytest_socket import SocketConnectBlockedError

ROOT = Path(__file__).resolve().parents[1]
TEST_NET = "192.0.2.1"  # RFC 5737 TEST-NET-1: documentation only, never routed


def _our_filterwarnings() -> list[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    filters: list[str] = config["tool"]["pytest"]["ini_options"]["filterwarnings"]
    return filters


def test_the_warning_filters_turn_warnings_into_errors_and_every_exception_is_narrow() -> None:
    filters = _our_filterwarnings()
    assert filters[0] == "error"
    for entry in filters[1:]:
        action, message, category, *_ = [*entry.split(":"), "", ""]
        assert action == "ignore" and message and category, f"too broad a warnings exception: {entry!r}"


def test_a_deprecation_warning_raised_in_this_session_is_an_error() -> None:
    with pytest.raises(DeprecationWarning, match="old API"):
        warnings.warn("old API", DeprecationWarning, stacklevel=1)


def test_a_suite_under_our_filters_fails_a_test_that_warns(pytester: pytest.Pytester) -> None:
    pytester.makepyprojecttoml(
        "[tool.pytest.ini_options]\n"
        'asyncio_default_fixture_loop_scope = "function"\n'
        f"filterwarnings = {json.dumps(_our_filterwarnings())}\n"
    )
    pytester.makepyfile(
        """
        import warnings

        def test_warns():
            warnings.warn("this API is going away", DeprecationWarning)

        def test_quiet():
            pass
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*DeprecationWarning: this API is going away*"])


async def test_time_sleep_inside_the_event_loop_fails() -> None:
    with pytest.raises(BlockingError, match=r"time\.sleep"):
        time.sleep(0.001)  # noqa: ASYNC251 (the call the guard exists to catch)


async def test_reading_a_file_inside_the_event_loop_fails(tmp_path: Path) -> None:
    path = tmp_path / "note.txt"
    await asyncio.to_thread(path.write_text, "hej")
    with pytest.raises(BlockingError):
        path.read_text()
    assert await asyncio.to_thread(path.read_text) == "hej"  # the same read in a worker thread is fine


def test_blocking_outside_an_event_loop_is_allowed() -> None:
    time.sleep(0.001)


async def test_a_test_that_must_block_switches_the_guard_off(blockbuster: BlockBuster) -> None:
    blockbuster.deactivate()
    time.sleep(0.001)  # noqa: ASYNC251 (allowed: the guard is off for this test)


# pytest-socket warns before it raises; under ``filterwarnings = error`` the warning alone already
# fails a test, so both are expected here.
def test_a_non_loopback_address_is_refused() -> None:
    with pytest.warns(UserWarning, match=TEST_NET), pytest.raises(SocketConnectBlockedError, match=TEST_NET):
        socket.create_connection((TEST_NET, 80), timeout=0.1)


async def test_a_non_loopback_address_is_refused_inside_the_event_loop() -> None:
    with pytest.warns(UserWarning, match=TEST_NET), pytest.raises(SocketConnectBlockedError):
        await asyncio.open_connection(TEST_NET, 80)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_loopback_is_allowed(host: str) -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        with socket.create_connection((host, port), timeout=2):
            accepted, _ = server.accept()
            accepted.close()


def test_a_unix_socket_is_allowed(tmp_path: Path) -> None:
    path = str(tmp_path / "s.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(path)
        server.listen()
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            client.connect(path)
