"""``python -m example_app``: create the database and demo data if needed, print demo logins, serve."""
from __future__ import annotations

import argparse

from .app import DEMO_LOGINS, DEMO_PASSWORD, create_app
from .models import db


def main() -> None:
    parser = argparse.ArgumentParser(description="Run the example LMS with learning contracts.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    parser.add_argument("--no-serve", action="store_true", help="only create the demo database and exit")
    args = parser.parse_args()
    app = create_app()
    with app.app_context():
        db.create_all()
        from .demo import seed

        seeded = seed()
        import sqlalchemy as sa

        from flask_learning_contracts.codes import format_code

        contract_model = app.extensions["learning_contracts"].models.Contract
        codes = db.session.execute(sa.select(contract_model.code, contract_model.invitation_code)
                                   .order_by(contract_model.valid_from)).all()
    print("Example LMS database:", app.config["SQLALCHEMY_DATABASE_URI"], "(demo data created)" if seeded else "")
    print(f"\nDemo logins (password for all: {DEMO_PASSWORD}):")
    for email, role in DEMO_LOGINS:
        print(f"  {email:<24} {role}")
    print("\nInvitation codes (learners enter them on their Learning Contract Invitations page):")
    for code, invitation_code in codes:
        print(f"  {code:<24} {format_code(invitation_code)}")
    print(f"\nOpen http://{args.host}:{args.port}/  (admin panel: /admin/, outbox: /outbox)\n")
    if not args.no_serve:
        app.run(host=args.host, port=args.port, debug=False)


if __name__ == "__main__":
    main()
