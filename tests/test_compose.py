"""docker-compose.yml, run without Docker: each service's command as a local process.

No Docker engine runs on the project's machines, so this test reads the compose
file, starts a real Redis with the password the file asks for, and runs the
worker, api, dashboard and jupyter commands with the environment the file sets
(host names and published ports mapped to loopback). It checks that each comes
up and that a job submitted through the API is processed by the worker service.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import redis
import yaml

from labs.ports import free_port
from labs.settings import REPO_ROOT

pytestmark = [pytest.mark.slow, pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server")]


def dotenv(path: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line and not line.startswith("#"))
    return {k.strip(): v.strip() for k, v in pairs}


def expand(value: str, env: dict[str, str]) -> str:
    value = re.sub(r"\$\{(\w+)(?::\?[^}]*)?\}", lambda m: env[m.group(1)], value)
    return value.replace("$$", "$")


def wait_http(url: str, timeout: float = 60, **kwargs: object) -> httpx.Response:
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            reply = httpx.get(url, timeout=2, **kwargs)  # type: ignore[arg-type]
            if reply.status_code == 200:
                return reply
            last = reply.status_code
        except httpx.HTTPError as exc:
            last = exc
        time.sleep(0.3)
    raise AssertionError(f"{url} did not answer 200: {last}")


SERVICES = ("worker", "celery-worker", "flower", "api", "dashboard", "jupyter")


def wait_state(url: str, headers: dict[str, str], state: str, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    view: dict = {}
    while time.monotonic() < deadline:
        view = httpx.get(url, headers=headers).json()
        if view["state"] == state:
            break
        time.sleep(0.2)
    return view


def test_every_compose_service_runs_as_written(tmp_path: Path) -> None:
    compose = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert set(services) == {"redis", "worker", "celery-worker", "flower", "api", "dashboard", "jupyter"}
    assert "ports" not in services["redis"]  # Redis is not published beyond the compose network
    for name in ("worker", "celery-worker"):  # scalable: no fixed replica count or container name
        assert services[name].get("deploy") is None and "container_name" not in services[name]
    assert all(services[name]["depends_on"]["redis"]["condition"] == "service_healthy" for name in SERVICES)
    env_file = dotenv(REPO_ROOT / ".env.example")
    redis_port = free_port()
    shell, flag, script = services["redis"]["command"]
    assert "--requirepass" in script
    redis_env = {**os.environ, **env_file}
    server = subprocess.Popen(
        [shell, flag, expand(script, env_file) + f" --port {redis_port} --bind 127.0.0.1"],
        env=redis_env,
        stdout=subprocess.DEVNULL,
    )
    procs: list[subprocess.Popen[bytes]] = []
    ports = {port: str(free_port()) for port in ("8000", "8501", "8888", "5555")}
    try:
        url = f"redis://:{env_file['REDIS_PASSWORD']}@127.0.0.1:{redis_port}/0"
        conn = redis.Redis.from_url(url)
        for _ in range(50):
            try:
                conn.ping()
                break
            except redis.exceptions.ConnectionError:
                time.sleep(0.1)
        with pytest.raises(redis.exceptions.AuthenticationError):
            redis.Redis(port=redis_port).ping()  # the password is required
        check = services["redis"]["healthcheck"]["test"]
        probe = expand(check[1], env_file).replace("redis-cli", f"redis-cli -p {redis_port}")
        assert subprocess.run(["sh", "-c", probe], env=redis_env).returncode == 0  # the healthcheck passes
        for name in SERVICES:
            spec = services[name]
            env = {**os.environ, **env_file, "HOME": str(tmp_path / "home"), "LAB_TIME_SCALE": "0.05"}
            env.update({k: expand(str(v), env_file) for k, v in spec["environment"].items()})
            env["REDIS_URL"] = env["REDIS_URL"].replace("@redis:6379", f"@127.0.0.1:{redis_port}")
            env["LAB_STATE_DIR"] = str(tmp_path / "data")  # the shared volume
            if "LAB_API_URL" in env:
                env["LAB_API_URL"] = f"http://127.0.0.1:{ports['8000']}"
            if "LAB_FLOWER_URL" in env:
                env["LAB_FLOWER_URL"] = env["LAB_FLOWER_URL"].replace(":5555", f":{ports['5555']}")
            cmd = [expand(part, env_file) for part in spec["command"]]
            if cmd[:2] == ["sh", "-c"]:  # jupyter, flower: one shell line
                line = cmd[2].replace("python", sys.executable, 1).replace("/app/notebooks", str(REPO_ROOT / "notebooks"))
                line = line.replace("--ip 0.0.0.0", "--ip 127.0.0.1 --allow-root")  # the image runs as a user; tests as root
                line = line.replace("--address=0.0.0.0", "--address=127.0.0.1")
                cmd = ["sh", "-c", re.sub(r"--port([ =])(\d+)", lambda m: f"--port{m.group(1)}{ports[m.group(2)]}", line)]
            else:
                cmd = [
                    sys.executable if part == "python" else ports.get(part, part).replace("0.0.0.0", "127.0.0.1") for part in cmd
                ]
            (tmp_path / "home").mkdir(exist_ok=True)
            log = open(tmp_path / f"{name}.log", "wb")  # noqa: SIM115
            procs.append(
                subprocess.Popen(cmd, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
            )
        health = wait_http(f"http://127.0.0.1:{ports['8000']}/health").json()
        assert health["status"] == "ok"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and httpx.get(f"http://127.0.0.1:{ports['8000']}/health").json()["workers"] < 2:
            time.sleep(0.3)
        assert httpx.get(f"http://127.0.0.1:{ports['8000']}/health").json()["engines"] == {"rq": 1, "celery": 1, "arq": 0}
        wait_http(f"http://127.0.0.1:{ports['8501']}/_stcore/health")
        wait_http(f"http://127.0.0.1:{ports['8888']}/api/status", params={"token": env_file["JUPYTER_TOKEN"]}, timeout=90)
        assert httpx.get(f"http://127.0.0.1:{ports['8888']}/api/status").status_code == 403  # the token is required
        api = f"http://127.0.0.1:{ports['8000']}"
        assert httpx.post(f"{api}/tasks", json={"task": "noop"}).status_code == 401  # classroom mode: a token is required
        token = httpx.post(f"{api}/students", json={"name": "alice"}).json()["token"]
        alice = {"Authorization": f"Bearer {token}"}
        job = httpx.post(f"{api}/tasks", json={"task": "slow_task", "params": {"steps": 2}}, headers=alice).json()
        deadline = time.monotonic() + 30
        view: dict = {}
        while time.monotonic() < deadline:
            view = httpx.get(f"{api}/tasks/{job['id']}", headers=alice).json()
            if view["state"] == "completed":
                break
            time.sleep(0.2)
        assert view["state"] == "completed" and view["student"] == "alice"
        teacher = {"Authorization": f"Bearer {env_file['LAB_INSTRUCTOR_TOKEN']}"}
        assert httpx.get(f"{api}/students", headers=teacher).json() == {"students": [{"name": "alice", "jobs": 1}]}
        worker = {e["worker"] for e in view["events"] if e["event"] == "started"}
        registered = {w.decode().split(":")[-1] for w in conn.smembers("rq:workers")}
        assert worker and worker <= registered  # processed by the worker service
        # the seed's engine: a Celery job runs on the celery-worker service, and Flower (basic auth) lists it
        job = httpx.post(f"{api}/tasks", json={"task": "send_email", "engine": "celery"}, headers=alice).json()
        view = wait_state(f"{api}/tasks/{job['id']}", alice, "completed")
        assert view["engine"] == "celery" and view["student"] == "alice"
        flower = f"http://127.0.0.1:{ports['5555']}"
        wait_http(f"{flower}/healthcheck")
        assert httpx.get(f"{flower}/api/tasks").status_code == 401  # basic auth from .env
        user, password = env_file["FLOWER_BASIC_AUTH"].split(":", 1)
        deadline = time.monotonic() + 30
        listed: dict = {}
        while time.monotonic() < deadline and listed.get(job["id"], {}).get("state") != "SUCCESS":
            listed = httpx.get(f"{flower}/api/tasks", auth=(user, password), timeout=5).json()
            time.sleep(0.5)
        assert listed[job["id"]]["state"] == "SUCCESS" and listed[job["id"]]["name"] == "labs.tasks.demo.send_email"
    finally:
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, 15)
        for proc in procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, 9)
        server.terminate()
        server.wait(10)
