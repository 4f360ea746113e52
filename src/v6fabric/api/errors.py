"""Every failure leaves the API in Neutron's error shape with Neutron's status code."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from v6fabric.api.responses import JSONBody
from v6fabric.domain.errors import FabricError

_HTTP_TYPES = {
    400: "HTTPBadRequest",
    401: "HTTPUnauthorized",
    403: "HTTPForbidden",
    404: "HTTPNotFound",
    405: "HTTPMethodNotAllowed",
    409: "HTTPConflict",
    415: "HTTPUnsupportedMediaType",
}


def neutron_error(status: int, type_name: str, message: str) -> JSONBody:
    body = {"NeutronError": {"type": type_name, "message": message, "detail": ""}}
    return JSONBody(body, status_code=status)


def _validation_message(exc: RequestValidationError) -> str:
    errors = exc.errors()
    if not errors:
        return "Invalid request body."
    first = errors[0]
    loc = [str(part) for part in first.get("loc", ()) if part not in ("body",)]
    if first.get("type") == "extra_forbidden":
        return f"Unrecognized attribute(s) '{loc[-1] if loc else ''}'"
    if first.get("type") == "missing":
        return (
            f"Failed to parse request. Required attribute '{loc[-1] if loc else ''}' not specified"
        )
    attribute = loc[-1] if loc else "request"
    reason = str(first.get("msg", "invalid value"))
    if "input" in first and not isinstance(first["input"], dict | list):
        reason = f"'{first['input']}' is not valid: {reason}"
    return f"Invalid input for {attribute}. Reason: {reason}."


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(FabricError)
    async def _fabric(_: Request, exc: FabricError) -> JSONBody:
        return neutron_error(exc.status, exc.type, exc.message)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONBody:
        return neutron_error(400, "HTTPBadRequest", _validation_message(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONBody:
        if exc.status_code == 404:
            return neutron_error(404, "HTTPNotFound", "The resource could not be found.")
        type_name = _HTTP_TYPES.get(exc.status_code, "HTTPError")
        return neutron_error(exc.status_code, type_name, str(exc.detail))
