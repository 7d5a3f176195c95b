"""Flask-Admin views for contract managers (thin layers over ``services``)."""
from __future__ import annotations

from typing import Any

from flask import Flask


def register_admin(app: Flask, state: Any, admin: Any | None) -> None:
    """Add the Learning Contracts views to ``admin`` (or the host's, or a new one)."""
    from .views import add_admin_views

    add_admin_views(app, state, admin)
