"""Run in the Rasa environment (.venv-rasa): Rasa's real HTTP app, asked what it makes
of the paths and headers the inbox sends. Used by test_rasa_api.py.

stdin: ``{"secret": …, "paths": [[method, path], …], "requests": [[method, path,
headers], …]}``; stdout: ``{"params": [route params per path], "statuses": [HTTP
status per request]}``. The app has no model loaded, so a request that passes Rasa's
authentication answers 409 ("No agent loaded"), one that does not 401/403.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import sys
from typing import Any


async def main(spec: dict[str, Any]) -> dict[str, Any]:
    import httpx
    import rasa.server

    app = rasa.server.create_app(
        agent=None, auth_token=None, jwt_secret=spec["secret"], jwt_method="HS256"
    )
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = await app.create_server(
        host="127.0.0.1", port=port, return_asyncio_server=True, access_log=False
    )
    assert server is not None
    await server.startup()
    await server.after_start()
    try:
        params = []
        for method, path in spec["paths"]:
            _, _, found = app.router.get(path, method, None)
            params.append(dict(found))
        statuses = []
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            for method, path, headers in spec["requests"]:
                resp = await client.request(method, path, headers=headers, json=[])
                statuses.append(resp.status_code)
    finally:
        await server.close()
    return {"params": params, "statuses": statuses}


if __name__ == "__main__":
    logging.disable(logging.CRITICAL)
    result = asyncio.run(main(json.load(sys.stdin)))
    print("PROBE " + json.dumps(result))
