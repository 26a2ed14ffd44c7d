"""Fixtures: real redis-server processes and the `hoard` binary, as the Rust tests use."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

import hoard

REPO = Path(__file__).resolve().parents[3]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, timeout: float = 20.0, process: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            err = process.stderr.read().decode(errors="replace") if process.stderr else ""
            raise RuntimeError(f"the process exited ({process.returncode}) before listening: {err}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"nothing listens on port {port} after {timeout}s")


class RedisServer:
    """One redis-server on a free loopback port, without persistence."""

    def __init__(self, tmp: Path) -> None:
        if shutil.which("redis-server") is None:
            raise RuntimeError("redis-server is needed: scripts/test installs it")
        self.port = free_port()
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(tmp)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port, process=self.process)
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def cli(self, *args: str) -> str:
        out = subprocess.run(["redis-cli", "-p", str(self.port), *args], check=True,
                             capture_output=True, text=True)
        return out.stdout.strip()

    def stop(self) -> None:
        self.process.kill()
        self.process.wait()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


@pytest.fixture
def prefix() -> str:
    """A key prefix of its own for each test on the shared Redis."""
    return f"t{uuid.uuid4().hex[:12]}:"


@pytest.fixture
def redis_cache(redis_server: RedisServer, prefix: str) -> hoard.Cache:
    return hoard.Cache(redis=redis_server.url, key_prefix=prefix)


@pytest.fixture
def memory_cache() -> hoard.Cache:
    return hoard.Cache(path=None)


def hoard_binary() -> Path:
    """The `hoard` binary: $HOARD_BIN, or the workspace's debug build."""
    given = os.environ.get("HOARD_BIN")
    path = Path(given) if given else REPO / "target" / "debug" / "hoard"
    if not path.exists():
        raise RuntimeError(f"{path} is missing: build it with `cargo build -p hoard-cli`")
    return path


def run_python(code: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Runs `code` in a fresh interpreter with this one's packages."""
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          timeout=timeout, check=False)
