"""Security headers on every response."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["SecurityHeadersMiddleware", "raw_security_headers"]

_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}
# What the others guard (framing, the referrer of the requests a page makes, the page's browsing context)
# exists only for a document: an image, a file or a JSON answer has no use for them.
_DOCUMENT_ONLY = frozenset({"X-Frame-Options", "Referrer-Policy", "Cross-Origin-Opener-Policy"})


def raw_security_headers(*, hsts: bool, documents: bool = True) -> list[tuple[bytes, bytes]]:
    """The headers every response carries, as an ASGI app sends them (HSTS when the site is on https);
    ``documents=False``: only those that mean something for a response that is not an HTML page."""
    headers = {k: v for k, v in _HEADERS.items() if documents or k not in _DOCUMENT_ONLY}
    if hsts:
        headers["Strict-Transport-Security"] = "max-age=31536000"
    return [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()]


class SecurityHeadersMiddleware:
    """Adds ``_HEADERS`` (and HSTS when the site is served over https) unless a route set them."""

    def __init__(self, app: ASGIApp, *, hsts: bool) -> None:
        self.app = app
        self._raw = raw_security_headers(hsts=hsts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                raw = list(message.get("headers", ()))
                present = {name.lower() for name, _ in raw}
                message["headers"] = raw + [header for header in self._raw if header[0] not in present]
            await send(message)

        await self.app(scope, receive, send_with_headers)
