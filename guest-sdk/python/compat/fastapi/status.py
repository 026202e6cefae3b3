"""HTTP status code constants named as FastAPI's (Starlette's) ``status`` module names
them: ``status.HTTP_400_BAD_REQUEST``, ``status.HTTP_429_TOO_MANY_REQUESTS``, ..."""

import http

for _status in http.HTTPStatus:
    globals()[f"HTTP_{_status.value}_{_status.name}"] = _status.value
del _status
