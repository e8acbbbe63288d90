"""The API's contract made complete: ``/openapi.json`` says what the server really sends.

FastAPI documents what a route declares, not what the lab adds around it. This
fills the rest in from the routes themselves, so a new route is documented
truthfully without anyone remembering to:

- **one error model**: every 4xx and 503 body is :class:`~labs.api.models.ErrorOut`
  (``{"detail", "errors"?}``, see ``errors.py``); FastAPI's own
  ``HTTPValidationError``, which the lab never sends, is replaced;
- **429** with ``Retry-After`` on each route that enqueues jobs (it takes an
  admission gate, ``admission.py``);
- **401** on each route that reads a token (it depends on ``get_viewer``), with
  its ``WWW-Authenticate`` header, and **503** on each route that needs the
  broker (it depends on ``get_broker``);
- **the token** is a security scheme, not three parameters: ``Authorization:
  Bearer``, ``?token=`` or the ``lab_token`` cookie, each optional (an open lab
  needs none; a classroom answers 401 without one);
- **optional parameters** are "a string, or absent": a query string, a header
  or a cookie cannot carry JSON ``null``;
- a route marked ``x-relays: "<METHOD> <path>"`` (the playground's radio) gives
  the answers of the route it relays;
- the models that only event-stream schemas name (``StreamEnd``, ...) are added
  to the components.

The WebSockets are not OpenAPI's to describe: ``GET /asyncapi.json`` serves
their AsyncAPI document (``asyncapi.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from . import asyncapi
from .admission import GATES
from .connections import get_broker
from .models import ErrorOut, FirehoseSnapshot, StreamEnd, StreamError
from .students import get_viewer

ERROR_REF = {"$ref": "#/components/schemas/ErrorOut"}
EXTRA_MODELS: tuple[type[BaseModel], ...] = (ErrorOut, StreamEnd, StreamError, FirehoseSnapshot)
"""Models named by hand-written schemas (error responses, event streams), which FastAPI does not collect."""
UNSENT = ("HTTPValidationError", "ValidationError")
TOKEN_PARAMETERS = {("header", "authorization"), ("query", "token"), ("cookie", "lab_token")}
"""How ``get_viewer`` takes a token; documented as the security schemes below rather than as parameters."""
SECURITY_SCHEMES = {
    "bearer": {"type": "http", "scheme": "bearer", "description": "the token from POST /students"},
    "token_query": {"type": "apiKey", "in": "query", "name": "token", "description": "where a header cannot be set"},
    "token_cookie": {"type": "apiKey", "in": "cookie", "name": "lab_token", "description": "set by POST /students"},
}
OPTIONAL_TOKEN = [{}, {"bearer": []}, {"token_query": []}, {"token_cookie": []}]
"""No token (an open lab), or one of the three; a classroom lab answers 401 without a known one."""


def error_response(description: str, **extra: Any) -> dict[str, Any]:
    """A response whose body is the lab's error model."""
    return {"description": description, "content": {"application/json": {"schema": ERROR_REF}}, **extra}


INVALID = error_response("the request is invalid: `detail` says why in one line, `errors` lists each problem")
UNAUTHORIZED = error_response(
    "classroom mode without a known token, or a token that is not one of this class, or an Authorization header"
    " that is not 'Bearer <token>'",
    headers={"WWW-Authenticate": {"description": "Bearer", "schema": {"type": "string"}}},
)
TOO_MANY = error_response(
    "admission control refused the request (a student's submit rate, their jobs pending or running, or the queue"
    " depth): `detail` names the limit and the count; nothing of it was enqueued",
    headers={"Retry-After": {"description": "seconds to wait before trying again", "schema": {"type": "integer"}}},
)
UNAVAILABLE = error_response("no broker answers (or it was lost during the request): try again once it is back")


def calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    """Every dependency a route calls, however deep."""
    for sub in dependant.dependencies:
        if sub.call is not None:
            yield sub.call
        yield from calls(sub)


def _plain(schema: dict[str, Any]) -> dict[str, Any]:
    """``anyOf: [X, {type: null}]`` -> X (keeping the description and default)."""
    options = schema.get("anyOf")
    if not isinstance(options, list):
        return schema
    rest = [option for option in options if option != {"type": "null"}]
    if len(rest) != 1 or len(rest) == len(options):
        return schema
    out = {key: value for key, value in schema.items() if key != "anyOf"}
    out.update(rest[0])
    if out.get("default", 0) is None:
        del out["default"]
    return out


def _add_models(components: dict[str, Any], models: tuple[type[BaseModel], ...]) -> None:
    _, defs = models_json_schema([(model, "serialization") for model in models], ref_template="#/components/schemas/{model}")
    for name, schema in defs.get("$defs", {}).items():
        components.setdefault(name, schema)


def complete(schema: dict[str, Any], routes: list[Any]) -> dict[str, Any]:
    """Complete FastAPI's ``schema`` (in place, see the module docstring) and return it."""
    schema.setdefault("components", {})["securitySchemes"] = SECURITY_SCHEMES
    components = schema["components"].setdefault("schemas", {})
    for name in UNSENT:
        components.pop(name, None)
    _add_models(components, EXTRA_MODELS)
    for route in iter_route_contexts(routes):  # the routes of the included routers, with their dependencies
        if not isinstance(route.original_route, APIRoute) or not route.include_in_schema:
            continue
        needs = set(calls(route.dependant))
        for method in route.methods:
            operation = schema["paths"].get(route.path_format, {}).get(method.lower())
            if operation is None:
                continue
            responses = operation.setdefault("responses", {})
            if "422" in responses:
                said = responses["422"].get("description")
                kept = said not in (None, "Validation Error")
                responses["422"] = {**INVALID, "description": said if kept else INVALID["description"]}
            if get_viewer in needs:
                responses.setdefault("401", UNAUTHORIZED)
                operation["security"] = OPTIONAL_TOKEN
                operation["parameters"] = [
                    p for p in operation.get("parameters", []) if (p.get("in"), p.get("name")) not in TOKEN_PARAMETERS
                ]
                if not operation["parameters"]:
                    del operation["parameters"]
            if get_broker in needs:
                responses.setdefault("503", UNAVAILABLE)
            if needs.intersection(GATES):
                responses.setdefault("429", TOO_MANY)
            for parameter in operation.get("parameters", []):
                parameter["schema"] = _plain(parameter.get("schema", {}))
    for operation in (op for ops in schema["paths"].values() for op in ops.values()):
        relayed = operation.get("x-relays")  # a pass-through (the playground's radio) answers what it relays
        if relayed:
            method, path = relayed.split(" ", 1)
            operation["responses"].update(schema["paths"][path][method.lower()]["responses"])
    return schema


def install(app: FastAPI) -> None:
    """Serve the completed schema at ``/openapi.json`` and the AsyncAPI document at ``/asyncapi.json``."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None or not getattr(app.state, "contract_complete", False):
            app.openapi_schema = complete(generate(), app.routes)
            app.state.contract_complete = True
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    document = asyncapi.document(app.version)

    @app.get("/asyncapi.json", include_in_schema=False)
    def asyncapi_json() -> dict[str, Any]:
        """The WebSockets' contract (AsyncAPI 3.0): every frame, both directions."""
        return document
