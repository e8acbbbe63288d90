"""The contract tells the truth: what /openapi.json and /asyncapi.json promise is what the server sends.

The fast tests check the promises one by one (the error model, 401/503 where a
route can give them, ``Allow`` on 405, the SSE events and the WebSocket frames a
real job produces, validated against the documents). The slow one runs
schemathesis over the whole API, every check and the stateful phase, and
expects no failure at all.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
from api_helpers import submit, wait_state
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from labs.session import LabSession
from labs.settings import REPO_ROOT
from labs.testing.api_process import ApiServer

SEED = 20261202
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")


def validator(document: dict[str, Any], pointer: str) -> jsonschema_rs.Validator:
    """A validator for ``#/<pointer>`` of ``document`` (its ``$ref``s resolve inside the document)."""
    return jsonschema_rs.validator_for({"$ref": f"#/{pointer}", "components": document["components"]})


def operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method.upper(), path, op) for path, ops in schema["paths"].items() for method, op in ops.items()]


def parse_sse(text: str) -> list[dict[str, Any]]:
    """SSE messages as a client reads them: ``event``, ``data``, ``id`` (comments dropped)."""
    messages = []
    for block in re.split(r"\r?\n\r?\n", text):
        fields: dict[str, Any] = {}
        for line in block.splitlines():
            if not line or line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            fields[name] = value.removeprefix(" ") if name != "data" else fields.get("data", "") + value.removeprefix(" ")
        if "data" in fields:
            messages.append({"event": fields.get("event", "message"), **fields})
    return messages


def test_every_error_is_the_one_documented_model(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    assert "HTTPValidationError" not in schema["components"]["schemas"]  # FastAPI's, which the lab never sends
    for method, path, op in operations(schema):
        for status, response in op["responses"].items():
            if int(status) >= 400 and not (path == "/health" and status == "503"):
                assert response["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorOut"}, (
                    method,
                    path,
                    status,
                )
    error = validator(schema, "components/schemas/ErrorOut")
    assert client.post("/students", json={"name": "alice"}).status_code == 201
    bodies = {
        422: client.post("/tasks", json={"task": "slow_task", "params": {"steps": "5"}}),
        404: client.get("/tasks/nosuchjob"),
        401: client.get("/tasks", headers={"Authorization": "Basic x"}),
        409: client.post("/students", json={"name": "alice"}),
    }
    for status, response in bodies.items():
        assert response.status_code == status, response.text
        error.validate(response.json())
    assert bodies[422].json()["errors"][0]["loc"][0] == "body" and "steps" in bodies[422].json()["detail"]
    assert "errors" not in bodies[404].json()  # only a validation error lists its problems
    assert bodies[401].headers["WWW-Authenticate"] == "Bearer"


def test_401_and_503_are_documented_wherever_a_route_can_give_them(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    tokens = {"bearer", "token_query", "token_cookie"}
    for method, path, op in operations(schema):
        if path.startswith("/playground") or path in {"/health", "/catalogue"}:
            continue
        assert "503" in op["responses"], (method, path)
        if path != "/students" or method == "GET":
            assert "401" in op["responses"] and tokens <= {k for r in op["security"] for k in r}, (method, path)
            assert {} in op["security"]  # an open lab needs no token
        for parameter in op.get("parameters", []):  # a query string or a header cannot carry null
            assert "anyOf" not in parameter["schema"], (method, path, parameter["name"])
    radio = schema["paths"]["/playground/api/radio/tasks/{job_id}/stream"]["get"]["responses"]
    assert radio == schema["paths"]["/tasks/{job_id}/stream"]["get"]["responses"]  # it relays the real stream


def test_a_wrong_method_gets_405_with_every_method_of_the_path(client: TestClient) -> None:
    for method, path, allow in [
        ("OPTIONS", "/dlq/abc", "DELETE, GET"),
        ("PUT", "/tasks/batch", "POST"),
        ("PATCH", "/tasks", "GET, POST"),
        ("GET", "/playground/api/radio/cut", "POST"),  # under the playground's static files, still the API's path
    ]:
        response = client.request(method, path)
        assert (response.status_code, response.headers.get("allow")) == (405, allow), (method, path)
    assert client.get("/batches/b-nope").status_code == 404  # a route's own 404 stays a 404
    assert client.get("/no/such/path").status_code == 404


def test_a_body_that_cannot_be_read_is_a_422(client: TestClient) -> None:
    for response in (
        client.post("/tasks", content=b'{"task": "\xe9"}', headers={"Content-Type": "application/json"}),
        client.post("/documents", content=b"--x\r\n3--x--\r\n", headers={"Content-Type": "multipart/form-data; boundary=x"}),
    ):
        assert response.status_code == 422, response.text
        assert response.json()["detail"].startswith("body: cannot be read") and response.json()["errors"][0]["loc"] == ["body"]


def test_schema_and_server_agree_on_what_is_valid(client: TestClient) -> None:
    """The request schemas say what the server checks: per-task params, JSON integers, one source of documents."""
    schema = client.get("/openapi.json").json()
    submit_request = validator(schema, "components/schemas/SubmitRequest")
    cases = [
        ({"task": "slow_task", "params": {"steps": 5.0}}, 202),  # JSON Schema's integer: no fraction
        ({"task": "slow_task", "params": {"steps": "5"}}, 422),  # pydantic alone would take it
        ({"task": "noop", "params": {"steps": 5}}, 422),  # slow_task's params are not noop's
        ({"task": "process_document", "params": {}}, 422),
        ({"task": "process_document", "params": {"document": "../../etc/passwd"}}, 422),
        ({"task": "process_document", "params": {"document": "lesson03/a.pdf"}}, 202),
        ({"task": "slow_task", "retry": {"max_retries": 2.0}}, 202),
    ]
    for body, status in cases:
        assert submit_request.is_valid(body) == (status == 202), body
        assert client.post("/tasks", json=body).status_code == status, body
    documents = validator(schema, "components/schemas/DocumentsRequest")
    for body, valid in [({"samples": 2.0}, True), ({}, False), ({"samples": 2, "documents": ["a.pdf"]}, False)]:
        assert documents.is_valid(body) == valid
        assert (client.post("/scenarios/documents", json=body).status_code == 202) == valid, body
    name = validator(schema, "components/schemas/StudentIn")
    for student, status in [("王小明", 201), ("José", 201), (" bob", 422), ("a b", 422), ("_x", 422)]:
        assert name.is_valid({"name": student}) == (status == 201), student
        assert client.post("/students", json={"name": student}).status_code == status, student


def test_sse_events_match_their_documented_schemas(lab: LabSession, client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    documented = schema["paths"]["/tasks/{job_id}/stream"]["get"]["responses"]["200"]["content"]["text/event-stream"]
    branches = documented["schema"]["oneOf"]
    job_id = submit(client, "slow_task", {"steps": 3, "step_seconds": 0.1})
    wait_state(client, job_id, {"completed"})
    messages = parse_sse(client.get(f"/tasks/{job_id}/stream").text)
    assert [m["event"] for m in messages][:2] == ["snapshot", "enqueued"] and messages[-1]["event"] == "end"
    assert {"started", "progress", "completed"} <= {m["event"] for m in messages}
    for message in messages:
        if "retry" in message:
            message["retry"] = int(message["retry"])
        fitting = [b for b in branches if jsonschema_rs.validator_for(b).is_valid(message)]
        assert len(fitting) == 1, message  # exactly one event type describes it
        data = fitting[0]["properties"]["data"]["contentSchema"]["$ref"].removeprefix("#/")
        validator(schema, data).validate(json.loads(message["data"]))


def test_websocket_frames_match_the_asyncapi_document(lab: LabSession, client: TestClient) -> None:
    document = client.get("/asyncapi.json").json()
    assert document["asyncapi"].startswith("3.") and document["channels"]["job"]["address"] == "/ws/tasks/{job_id}"

    def direction(action: str, channel: str) -> list[jsonschema_rs.Validator]:
        op = next(o for o in document["operations"].values() if o["action"] == action and o["channel"]["$ref"].endswith(channel))
        names = [ref["$ref"].rsplit("/", 1)[-1] for ref in op["messages"]]
        return [validator(document, document["components"]["messages"][n]["payload"]["$ref"].removeprefix("#/")) for n in names]

    def fits(frame: dict[str, Any], validators: list[jsonschema_rs.Validator]) -> bool:
        return sum(v.is_valid(frame) for v in validators) == 1

    server_frames, client_frames = direction("send", "job"), direction("receive", "job")
    commands = [{"action": "ping", "ts": 1}, {"action": "resume", "after": "0-0"}, {"action": "cancel"}]
    assert all(fits(c, client_frames) for c in commands) and not fits({"action": "dance"}, client_frames)
    job_id = submit(client, "slow_task", {"steps": 200, "step_seconds": 0.2})
    frames = []
    with client.websocket_connect(f"/ws/tasks/{job_id}") as ws:
        frames.append(ws.receive_json())
        for text in ["not json", json.dumps({"action": "dance"}), *map(json.dumps, commands)]:
            ws.send_text(text)
        try:
            while True:
                frames.append(ws.receive_json())
        except WebSocketDisconnect as closed:
            assert closed.code == 1000
    kinds = {f["type"] for f in frames}
    assert {"snapshot", "event", "pong", "ack", "error", "end"} <= kinds, kinds
    for frame in frames:
        assert fits(frame, server_frames), frame

    batch_frames = direction("send", "batch")
    started = client.post("/scenarios/summaries", json={"n": 2}).json()
    with client.websocket_connect(started["links"]["ws"]) as ws:
        ws.send_text(json.dumps({"action": "ping"}))
        seen = []
        try:
            while True:
                seen.append(ws.receive_json())
        except WebSocketDisconnect:
            pass
    assert {"snapshot", "end"} <= {f["type"] for f in seen}
    for frame in seen:
        assert fits(frame, batch_frames), frame


@pytest.mark.slow
@pytest.mark.timeout(420)
@pytest.mark.parametrize("broker", ["redis"], indirect=True)
def test_schemathesis_finds_no_failure(broker: str, tmp_path: Path) -> None:
    """Every check schemathesis has, the stateful phase included, over the whole API: 0 failures, 0 errors.

    No worker runs, so a job's stream stays open until its job ends: schemathesis reads
    an event stream until it ends, sends 20 events or its request timeout passes, and
    the repository's schemathesis.toml gives the streams 1 s (the rest keeps 15 s). Nothing is excluded.
    """
    config = REPO_ROOT / "schemathesis.toml"  # what a plain `schemathesis run` in the repository reads too
    assert 'include-path-regex = "(/stream|/events)$"' in config.read_text()
    with ApiServer(env={"REDIS_URL": broker}) as api:
        started = time.monotonic()
        run = subprocess.run(
            [
                str(SCHEMATHESIS),
                "--config-file",
                str(config),
                "run",
                f"{api.url}/openapi.json",
                "--checks",
                "all",
                "--seed",
                str(SEED),
                "--max-examples",
                "10",
                "--request-timeout",
                "15",
                "--no-color",
                "--report",
                "junit",
                "--report-junit-path",
                str(tmp_path / "junit.xml"),
            ],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            timeout=400,
        )
        seconds = time.monotonic() - started
    summary = run.stdout[run.stdout.rfind("SUMMARY") :] if "SUMMARY" in run.stdout else run.stdout[-4000:]
    print(summary, f"({seconds:.0f} s)")
    cases = re.search(r"(\d+) generated", run.stdout)
    assert run.returncode == 0, run.stdout[-20000:] + run.stderr[-2000:]
    assert cases and int(cases.group(1)) > 500, summary
    assert "Stateful" in run.stdout and "failures" not in summary.splitlines()[-1].replace("0 failures", "")
