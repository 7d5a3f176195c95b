"""Flask-Admin views (filled in by the admin panel work)."""
from __future__ import annotations

from typing import Any

from flask import Flask


def add_admin_views(app: Flask, state: Any, admin: Any | None) -> None:
    state.admin = admin
