"""OAuth2 client-credentials token endpoint (RFC 6749 section 4.4)."""

from __future__ import annotations

from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from vertebro.api.deps import state
from vertebro.api.schemas import TokenOut
from vertebro.api.security import AuthError, basic_credentials

router = APIRouter(tags=["authentication"])
FORM = "application/x-www-form-urlencoded"


def _oauth_error(status: int, error: str, description: str) -> JSONResponse:
    headers = {"Cache-Control": "no-store"}
    if status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="vertebro"'
    return JSONResponse({"error": error, "error_description": description}, status_code=status,
                        headers=headers)


@router.post(
    "/auth/token",
    response_model=TokenOut,
    summary="Get an access token (OAuth2 client credentials)",
    openapi_extra={"requestBody": {"required": True, "content": {FORM: {"schema": {
        "type": "object", "required": ["grant_type"],
        "properties": {"grant_type": {"type": "string", "enum": ["client_credentials"]},
                       "client_id": {"type": "string"},
                       "client_secret": {"type": "string"}}}}}}},
    responses={400: {"description": "OAuth2 error (invalid_request, unsupported_grant_type)"},
               401: {"description": "OAuth2 error invalid_client"}},
)
async def token(request: Request) -> JSONResponse:
    """Exchange a client id and secret (form body or HTTP Basic) for a short-lived bearer JWT.

    Errors follow RFC 6749 section 5.2 (`{"error": ...}`), not OperationOutcome.
    """
    media = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    if media != FORM:
        return _oauth_error(400, "invalid_request", f"send {FORM}")
    try:
        form = parse_qs((await request.body()).decode("utf-8"), strict_parsing=False)
    except UnicodeDecodeError:
        return _oauth_error(400, "invalid_request", "the form is not UTF-8")
    grant = (form.get("grant_type") or [""])[0]
    if grant != "client_credentials":
        return _oauth_error(400, "unsupported_grant_type", "only client_credentials is supported")
    basic = basic_credentials(request.headers.get("authorization"))
    client_id, secret = basic or ((form.get("client_id") or [""])[0],
                                  (form.get("client_secret") or [""])[0])
    if not client_id or not secret:
        return _oauth_error(401, "invalid_client", "client_id and client_secret are required")
    try:
        access, ttl = state(request).auth.issue_token(client_id, secret)
    except AuthError as exc:
        return _oauth_error(401, exc.error, exc.message)
    body = TokenOut(access_token=access, expires_in=ttl).model_dump()
    return JSONResponse(body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})
