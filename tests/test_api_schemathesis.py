"""Schemathesis against the integration API's own OpenAPI document, in process (WSGI): for every operation,
generated requests (valid ones and, as many, invalid ones) never get a 5xx, and every answer matches its documented status, media
type, headers and schema. Examples are bounded so the whole run stays well under a minute.

(Operations are driven one by one with Hypothesis rather than through ``schemathesis.pytest.from_fixture``,
which does not run under this pytest.)"""
from __future__ import annotations

import datetime as dt

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings, strategies as st
from schemathesis import GenerationMode

from flask_learning_contracts import services
from flask_learning_contracts.views.ratelimit import CodeAttemptLimiter

from . import host
from .api_support import API, new_key

EXAMPLES = 25


def _seed() -> None:
    """A contract, an activity and an invitation with small ids, so generated ids sometimes find rows."""
    course = host.Course(title="Generated")
    host.db.session.add(course)
    host.db.session.commit()
    contract = services.create_contract(code="GEN", title="Generated", contract_type="voucher", seats=3,
                                        valid_from=dt.date(2026, 1, 1), valid_until=dt.date(2026, 12, 31),
                                        source="shop", external_id="1")
    services.add_activities(contract, [course.id])
    services.invite(contract, emails=["generated@example.com"])


#: Path parameters naming the rows ``_seed`` made.
SEEDED = {"contract_id": "1", "invitation_id": "1", "source": "shop", "external_id": "1"}
OPERATIONS = ["PUT /contracts/by-external/{source}/{external_id}", "GET /contracts", "GET /contracts/{contract_id}",
              "POST /contracts/{contract_id}/activities", "POST /contracts/{contract_id}/invitations",
              "GET /contracts/{contract_id}/invitations", "POST /invitations/{invitation_id}/revoke",
              "POST /invitations/{invitation_id}/resend"]


@pytest.mark.parametrize("label", OPERATIONS)
def test_the_api_keeps_its_document(api_app, label):
    _seed()
    # generated requests send many wrong keys: the wrong-key limit has its own test
    api_app.extensions["learning_contracts_api"].limiter = CodeAttemptLimiter("100000 per minute", "memory://")
    headers = {"Authorization": f"Bearer {new_key()}"}
    schema = schemathesis.openapi.from_wsgi(API + "/openapi.json", api_app)
    operations = {result.ok().label: result.ok() for result in schema.get_all_operations()}
    assert set(operations) == set(OPERATIONS)
    operation = operations[label]
    seen: list[int] = []

    # a third of the cases name the seeded rows, so valid requests also reach the services and succeed
    known = {name: value for name, value in SEEDED.items() if "{" + name + "}" in label}
    @given(case=st.one_of(operation.as_strategy(GenerationMode.POSITIVE),
                          operation.as_strategy(GenerationMode.NEGATIVE),
                          operation.as_strategy(GenerationMode.POSITIVE, path_parameters=known)))
    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def check(case):
        response = case.call(headers=headers)
        host.db.session.remove()
        seen.append(response.status_code)
        case.validate_response(response, headers=headers,
                               excluded_checks=[schemathesis.checks.positive_data_acceptance])

    check()
    assert seen and all(status < 500 for status in seen)
