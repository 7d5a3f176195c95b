"""The Activities tab: the contract's activities, adding eligible ones, importing another contract's, removing one
with its impact shown first (rule 11)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from flask import flash, redirect, request
from flask_admin import expose
from werkzeug.wrappers import Response

from .. import errors, services
from ..config import config_value
from ..i18n import _, _n
from ..invite_flow import picker_script, search_answer
from ..models import Contract
from . import forms
from .base import PICKER_SIZE, ContractViewBase, _host_key, _models, _page_arg, _state, _ticked_activities
from .display import DISPLAY, KIND_LABELS

if TYPE_CHECKING:
    pass


#: The contracts the import chooser lists at once (and its search-as-you-type answers): search to narrow.
IMPORT_CHOICES = 20


class ActivityPages(ContractViewBase):
    """The Activities tab's pages (mixed into :class:`~.views.ContractView`)."""

    @expose("/<int:contract_id>/activities")
    def activities_view(self, contract_id: int) -> str:
        contract = self._contract(contract_id)
        st = _state()
        return self._page("activities.html", contract, "activities", activities=list(contract.activities),
                          activity_id=st.activity_id)

    @expose("/<int:contract_id>/activities/add", methods=("GET", "POST"))
    def add_activities_view(self, contract_id: int) -> str | Response:
        contract = self._contract(contract_id)
        st = _state()
        form = forms.AddActivitiesForm()
        if self._posted(form) and (chosen := _ticked_activities(form)):
            outcome = self._call(services.add_activities, contract, chosen)
            if outcome[0]:
                flash(_n("Added %(num)s activity to the contract.", "Added %(num)s activities to the contract.",
                         len(outcome[1])), "success")
                return redirect(self._url(".activities_view", contract))
        text = request.args.get("q", "").strip()
        kind = request.args.get("kind", "")
        page = st.db.paginate(self._eligible_query(contract, text, kind), page=_page_arg(), per_page=PICKER_SIZE,
                              error_out=False)
        return self._page("activities_add.html", contract, "activities", form=form, page=page, query=text,
                          kind=kind, kinds=KIND_LABELS, activity_id=st.activity_id)

    def _eligible_query(self, contract: Contract, text: str, kind: str) -> sa.Select[Any]:
        """The host's eligible activities not yet on ``contract``, filtered by title text and kind."""
        st, m = _state(), _models()
        model = st.activity_model
        stmt = st.rules.eligible_activities().where(st.activity_pk_column.not_in(
            sa.select(m.ContractActivity.activity_id).where(m.ContractActivity.contract_id == contract.id)))
        title_column = getattr(model, config_value("ACTIVITY_TITLE_ATTR"), None)
        kind_column = getattr(model, config_value("ACTIVITY_KIND_ATTR"), None)
        if text and title_column is not None:
            stmt = stmt.where(sa.func.lower(title_column).contains(text.lower(), autoescape=True))
        if kind in KIND_LABELS and kind_column is not None:
            stmt = stmt.where(kind_column == kind)
        return stmt.order_by(title_column if title_column is not None else st.activity_pk_column)

    @expose("/<int:contract_id>/activities/import", methods=("GET", "POST"))
    def import_activities_view(self, contract_id: int) -> str | Response:
        """Choose the contract to import from (a search by code or title, ``find``; a long list is never one
        drop-down), preview what it adds (``source``), and POST to import."""
        contract = self._contract(contract_id)
        form = forms.ImportActivitiesForm()
        find = request.args.get("find", "").strip()[:200]
        sources, total = services.importable_contracts(contract, find, limit=IMPORT_CHOICES)
        source: Contract | None = None
        raw_source = form.source_contract.data if request.method == "POST" else request.args.get("source")
        if raw_source:
            source = self._import_source(contract, raw_source)
            form.source_contract.data = str(raw_source)
            form.source_contract.choices = [forms.choice(str(source.id), str(source))] if source else []
        if self._posted(form) and source is not None:
            outcome = self._call(services.import_activities, contract, source, form=form)
            if outcome[0]:
                added = len(outcome[1])  # none: a double click's second POST, or imported meanwhile
                flash(_n("Imported %(num)s activity from %(code)s.", "Imported %(num)s activities from %(code)s.",
                         added, code=source.code) if added else
                      _("Every activity of %(code)s is already in this contract.", code=source.code),
                      "success" if added else "info")
                return redirect(self._url(".activities_view", contract))
        preview = services.preview_import(contract, source) if source is not None else None
        return self._page("activities_import.html", contract, "activities", form=form, source=source,
                          preview=preview, sources=sources, sources_total=total, find=find,
                          picker_js=picker_script())

    @staticmethod
    def _import_source(contract: Contract, raw: object) -> Contract | None:
        try:
            source = services.get_contract(raw)
        except errors.ValidationError:
            return None
        return source if source.id != contract.id else None

    @expose("/<int:contract_id>/activities/import/contracts.json", methods=("GET",))
    def import_search_view(self, contract_id: int) -> Response:
        """GET ``?q=``: the contracts to import from whose code or title holds ``q``, as JSON (search as you
        type); each row's ``url`` opens its preview."""
        contract = self._contract(contract_id)
        query = request.args.get("q", "").strip()[:200]
        found, _total = services.importable_contracts(contract, query, limit=IMPORT_CHOICES)
        return search_answer(query, [
            {"value": str(c.id), "name": c.title, "email": c.code, "note": "",
             "url": self._url(".import_activities_view", contract, source=str(c.id))} for c in found])

    @expose("/<int:contract_id>/activities/<activity_id>/remove", methods=("GET", "POST"))
    def remove_activity_view(self, contract_id: int, activity_id: str) -> str | Response:
        contract = self._contract(contract_id)
        st = _state()
        aid = _host_key(st.activity_pk_column, activity_id)
        activity = next((a for a in contract.activities if st.activity_id(a) == aid), None)
        back = self._url(".activities_view", contract)
        if activity is None:
            flash(_("This activity is not part of the contract."), "error")
            return redirect(back)
        title = DISPLAY.title(activity)
        if request.method == "POST":
            return self._post_action(back, lambda: self._call(services.remove_activity, contract, aid),
                                     lambda impact: _("Removed %(title)s. Existing enrollments and used seats were "
                                                      "kept.", title=title))
        impact = services.activity_impact(contract, aid)
        lines = [_n("%(invited)s invited learner has this activity in their invitation; it will be taken out of "
                    "their invitation.", "%(invited)s invited learners have this activity in their invitation; it "
                    "will be taken out of their invitations.", impact.invited, invited=DISPLAY.number(impact.invited)),
                 _n("%(enrolled)s learner is enrolled in it through this contract; their enrollment and the seat "
                    "they used are kept.", "%(enrolled)s learners are enrolled in it through this contract; their "
                    "enrollments and the seats they used are kept.", impact.enrolled,
                    enrolled=DISPLAY.number(impact.enrolled))]
        return self._confirm(contract, "activities", title=_("Remove %(title)s from this contract?", title=title),
                             lines=lines, button=_("Remove the activity"), cancel_url=back)

