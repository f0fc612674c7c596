"""uvicorn peer: an ASGI app echoing each request body once it is complete."""


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    body = bytearray()
    more = True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    content_type = dict(scope["headers"]).get(b"content-type", b"application/octet-stream")
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", content_type),
                            (b"content-length", b"%d" % len(body))]})
    await send({"type": "http.response.body", "body": bytes(body)})
