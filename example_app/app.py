"""The example LMS: members with logins, activities of three kinds, host enrollments, an e-mail outbox.

Run it with ``python -m example_app`` (creates ``instance/example.db`` with demo data on first run).
"""
from __future__ import annotations

import importlib.util
import os

import sqlalchemy as sa
from flask import Flask, flash, redirect, render_template, request, url_for
from flask_admin import Admin, AdminIndexView, expose
from flask_admin.menu import MenuLink
from flask_admin.theme import Bootstrap4Theme
from flask_login import LoginManager, current_user, login_required, login_user, logout_user

from flask_learning_contracts import LearningContracts, services

from .mail import outbox_folder, read_outbox, setup_mail
from .models import ActivityEnrollment, LearningActivity, Member, db
from .rules import ExampleRules, ExampleRulesWithoutMailman


class LmsAdminIndex(AdminIndexView):
    """The host's own admin home: only LMS administrators get in."""

    def is_accessible(self) -> bool:
        return current_user.is_authenticated and current_user.is_admin

    def inaccessible_callback(self, name, **kwargs):
        return redirect(url_for("login", next=request.url))

    @property
    def extra_css(self):
        """The extension's admin stylesheet (contrast and focus fixes to Bootstrap) on the host's admin home too."""
        return [url_for("lc_contract.static", filename="admin.css")]

    @expose("/")
    def index(self):
        # Flask-Admin's base template has a bare <html>: say the page's language, as the extension's pages do.
        return self.render("admin_home.html", contracts_url=url_for("lc_contract.index_view")).replace(
            "<html>", '<html lang="en">', 1)


def create_app(config: dict | None = None) -> Flask:
    app = Flask(__name__, instance_relative_config=True)
    os.makedirs(app.instance_path, exist_ok=True)
    app.config.update(
        SECRET_KEY=os.environ.get("EXAMPLE_SECRET_KEY", "example-lms-dev-secret"),
        SQLALCHEMY_DATABASE_URI=os.environ.get(
            "EXAMPLE_DATABASE_URL", "sqlite:///" + os.path.join(app.instance_path, "example.db")),
        # Links in e-mails written outside a request (the demo data, `flask contracts tick`).
        LEARNING_CONTRACTS_BASE_URL=os.environ.get("EXAMPLE_BASE_URL", "http://127.0.0.1:5000"),
        # The learner and contract-admin pages sit inside this LMS's own header and menu (templates/layout.html).
        LEARNING_CONTRACTS_BASE_TEMPLATE="layout.html",
        # The integration API (README: Integration API) when its [api] extra (pydantic) is installed.
        LEARNING_CONTRACTS_API=importlib.util.find_spec("pydantic") is not None,
    )
    app.config.update(config or {})
    db.init_app(app)

    login_manager = LoginManager(app)
    login_manager.login_view = "login"

    @login_manager.user_loader
    def load_member(member_id: str):
        return db.session.get(Member, int(member_id))

    admin = Admin(app, name="Example LMS admin", theme=Bootstrap4Theme(), index_view=LmsAdminIndex())
    admin.add_link(MenuLink(name="Back to the LMS", url="/"))
    # Flask-Mailman (the [mail] extra) sends the extension's e-mails into files; without it the rules do.
    rules = ExampleRules() if setup_mail(app) else ExampleRulesWithoutMailman()
    LearningContracts(app, db=db, user_model=Member, activity_model=LearningActivity, rules=rules, admin=admin)

    @app.context_processor
    def navigation():
        """Every page's menu shows the contract dashboard to contract admins."""
        if not current_user.is_authenticated:
            return {"is_contract_admin": False}
        return {"is_contract_admin": current_user.is_admin or any(services.contracts_for_admin(current_user).values())}

    @app.route("/")
    def home():
        if not current_user.is_authenticated:
            return redirect(url_for("login"))
        enrollments = db.session.execute(
            sa.select(ActivityEnrollment).where(ActivityEnrollment.member_id == current_user.id)
            .options(sa.orm.joinedload(ActivityEnrollment.activity))).scalars().all()
        return render_template("home.html", enrollments=enrollments)

    @app.route("/login", methods=["GET", "POST"])
    def login():
        error = None
        if request.method == "POST":
            member = db.session.execute(sa.select(Member).where(
                sa.func.lower(Member.email) == request.form.get("email", "").strip().lower())).scalars().first()
            if member is not None and member.check_password(request.form.get("password", "")):
                login_user(member)
                services.link_registered_user(member)
                target = request.args.get("next") or ""
                return redirect(target if target.startswith("/") and not target.startswith("//") else url_for("home"))
            error = "Wrong e-mail or password."
        return render_template("login.html", error=error, demo_logins=DEMO_LOGINS)

    @app.route("/signup", methods=["GET", "POST"])
    def signup():
        error = None
        if request.method == "POST":
            email = request.form.get("email", "").strip().lower()
            name = request.form.get("full_name", "").strip()
            password = request.form.get("password", "")
            if not email or "@" not in email or not name or len(password) < 8:
                error = "Enter your name, a valid e-mail and a password of at least 8 characters."
            elif db.session.execute(sa.select(Member.id).where(Member.email == email)).first():
                error = "An account with this e-mail already exists. Log in instead."
            else:
                member = Member(email=email, full_name=name)
                member.set_password(password)
                db.session.add(member)
                db.session.commit()
                services.link_registered_user(member)  # Not Registered invitations become Outstanding
                login_user(member)
                flash("Welcome! Any learning contract invitations sent to your e-mail are now yours.")
                return redirect(url_for("home"))
        return render_template("signup.html", error=error)

    @app.route("/logout", methods=["POST"])
    def logout():
        logout_user()
        return redirect(url_for("login"))

    @app.route("/outbox")
    @login_required
    def outbox():
        """The e-mails the LMS sent (written to files instead of a mail server); learners see their own."""
        messages = read_outbox(outbox_folder(app), to=None if current_user.is_admin else current_user.email)
        return render_template("outbox.html", messages=messages, mailman="mailman" in app.extensions)

    return app


DEMO_PASSWORD = "demo-pass-1"
DEMO_LOGINS = [
    ("admin@example.com", "LMS administrator: manages learning contracts in the admin panel"),
    ("contracts@example.com", "Contract admin of the Acme contracts (dashboard)"),
    ("ana@example.com", "Learner with invitations to both demo contracts"),
    ("ben@example.com", "Learner invited to the Acme Voucher contract"),
    ("cleo@example.com", "Learner never invited: redeem the GLOBEX-SUB code (printed at start-up)"),
]
