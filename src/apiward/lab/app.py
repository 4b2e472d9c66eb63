"""The lab's deliberately vulnerable API: ``create_app()`` builds it with chosen holes open.

Every hole listed in ``holes.yaml`` is a real flaw of a real route, closable on its own:
``create_app(fixed=True)`` closes them all, ``create_app(fixed={"sqli", "ssrf"})`` just those two.
Serve it on 127.0.0.1 only; ``apiward lab serve`` rejects other hosts without an explicit flag.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

from fastapi import FastAPI

from apiward.lab import routes_auth, routes_orders, routes_shop, routes_tools, routes_users
from apiward.lab.context import FILES_DIR, LabContext
from apiward.lab.holes import HoleSet
from apiward.lab.middleware import BodyLimitMiddleware, ErrorBoundaryMiddleware, HeadersMiddleware

DESCRIPTION = (
    "A small shop API with deliberate security holes, for learning and for testing apiward. "
    "Never expose it beyond this machine."
)


def create_app(fixed: bool | Collection[str] = False, *, files_dir: Path | None = None) -> FastAPI:
    """Build the lab API.

    ``fixed``: False leaves every hole open, True closes every hole, and a collection of hole ids
    closes just those (an unknown id raises ValueError). ``files_dir`` replaces the folder that
    GET /api/v1/files serves.
    """
    holes = HoleSet(fixed)
    context = LabContext(holes=holes, files_dir=files_dir or FILES_DIR)
    docs_open = holes.is_open("exposed-docs")
    app = FastAPI(
        title="apiward lab",
        version="1.0.0",
        description=DESCRIPTION,
        docs_url="/docs" if docs_open else None,
        redoc_url="/redoc" if docs_open else None,
        openapi_url="/openapi.json",
    )
    app.state.lab = context

    app.include_router(routes_auth.router)
    for module in (routes_users, routes_orders, routes_shop, routes_tools):
        app.include_router(module.build_router(context))

    @app.get("/health", include_in_schema=False)
    def health() -> dict[str, str]:
        return {"status": "ok"}

    # add_middleware wraps the app, so the last one added runs first on a request.
    app.add_middleware(BodyLimitMiddleware, holes=holes)
    app.add_middleware(ErrorBoundaryMiddleware, holes=holes)
    app.add_middleware(HeadersMiddleware, holes=holes)
    return app
