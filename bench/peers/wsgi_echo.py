"""Gunicorn peer: a WSGI app echoing each request body (sync worker)."""


def app(environ, start_response):
    body = environ["wsgi.input"].read()
    start_response("200 OK", [
        ("Content-Type", environ.get("CONTENT_TYPE") or "application/octet-stream"),
        ("Content-Length", str(len(body))),
    ])
    return [body]
