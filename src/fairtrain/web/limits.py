"""Request body size limit, enforced before any route reads the body."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["BodySizeLimitMiddleware", "BodyTooLarge"]


class BodyTooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"request body is larger than the {limit:,}-byte limit")
        self.limit = limit


class BodySizeLimitMiddleware:
    """413 for a body over ``max_bytes``: at once from Content-Length, or while a chunked body streams in."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_bytes: int,
        on_too_large: ASGIApp,
        upload_paths: tuple[str, ...] = (),
        max_upload_bytes: int = 0,
    ) -> None:
        self.app = app
        self.default_max = max_bytes
        self.on_too_large = on_too_large
        # Media uploads may be far larger than forms; Starlette spools them to disk, not memory.
        self.upload_paths = upload_paths
        self.max_upload_bytes = max(max_upload_bytes, max_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_upload_bytes if scope["path"] in self.upload_paths else self.default_max
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = -1
                if declared < 0 or declared > limit:
                    scope.setdefault("state", {})["body_error"] = (
                        "malformed Content-Length" if declared < 0 else str(BodyTooLarge(limit))
                    )
                    await self.on_too_large(scope, receive, send)
                    return
        received = 0
        exceeded = False
        started = False

        async def counting_receive() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    exceeded = True
                    raise BodyTooLarge(limit)
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if exceeded and not started:
                return  # the app turned our error into a reply of its own (e.g. a 400): send the 413 instead
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except BodyTooLarge:
            if started:
                raise
        if exceeded and not started:
            scope.setdefault("state", {})["body_error"] = str(BodyTooLarge(limit))
            await self.on_too_large(scope, receive, send)
