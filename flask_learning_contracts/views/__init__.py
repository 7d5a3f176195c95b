"""Learner and contract-admin pages (a blueprint), thin over ``services``."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask

from ..config import config_value


def register_pages(app: Flask, state: Any) -> None:
    bp = Blueprint("learning_contracts", __name__.rsplit(".", 1)[0], template_folder="../templates",
                   static_folder="../static", static_url_path="/static")
    app.register_blueprint(bp, url_prefix=config_value("URL_PREFIX", app))
