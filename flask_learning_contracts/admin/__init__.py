"""Flask-Admin views for contract managers (thin layers over ``services``)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Flask

if TYPE_CHECKING:
    from flask_admin import Admin

    from ..state import LearningContractsState


def register_admin(app: Flask, state: LearningContractsState, admin: Admin | None) -> Admin:
    """Add the Learning Contracts views to ``admin`` (or the host's first Flask-Admin, or a new one).

    Stores the ``Admin`` used on ``state.admin`` and returns it.
    """
    from .views import add_admin_views

    return add_admin_views(app, state, admin)
