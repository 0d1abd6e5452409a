"""A lost Prefect API ends the command with one line at once; any other failure is left alone."""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Iterator

import pytest

from flows import cli_common
from flows.cli_common import exit_at_once_if_api_lost, lost_api_url, set_debug


class _Exited(Exception):
    pass


@pytest.fixture
def no_exit(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    codes: list[int] = []

    def fake_exit(code: int) -> None:
        codes.append(code)
        raise _Exited

    monkeypatch.setattr(cli_common.os, "_exit", fake_exit)
    return codes


@pytest.fixture
def health_server() -> Iterator[str]:
    class Health(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/api/health" else 404)
            self.end_headers()
            self.wfile.write(b"true")

        def log_message(self, *args: object) -> None:
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Health)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}/api"
    srv.shutdown()


def _closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/api"


def test_lost_api_url_names_an_api_that_no_longer_answers(
    monkeypatch: pytest.MonkeyPatch, health_server: str
) -> None:
    monkeypatch.setenv("PREFECT_API_URL", health_server)
    assert lost_api_url() is None
    gone = _closed_port_url()
    monkeypatch.setenv("PREFECT_API_URL", gone)
    assert lost_api_url() == gone


def test_a_failure_after_the_api_went_away_is_one_line_and_exit_3(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], no_exit: list[int]
) -> None:
    gone = _closed_port_url()
    monkeypatch.setenv("PREFECT_API_URL", gone)
    with pytest.raises(_Exited), exit_at_once_if_api_lost("Finished runs are kept in runs/x/records."):
        raise ConnectionError("[Errno 111] Connection refused")
    assert no_exit == [3]
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("error: the Prefect API at " + gone)
    assert "Connection refused" in line and "kept in runs/x/records" in line and "rerun" in line


def test_other_failures_and_debug_mode_propagate_unchanged(
    monkeypatch: pytest.MonkeyPatch, health_server: str, no_exit: list[int]
) -> None:
    monkeypatch.setenv("PREFECT_API_URL", health_server)  # the API answers: not a lost API
    with pytest.raises(ValueError, match="bad value"), exit_at_once_if_api_lost("kept"):
        raise ValueError("bad value")
    monkeypatch.setenv("PREFECT_API_URL", _closed_port_url())
    set_debug(True)
    try:
        with pytest.raises(ConnectionError), exit_at_once_if_api_lost("kept"):
            raise ConnectionError("refused")
    finally:
        set_debug(False)
    assert no_exit == []
