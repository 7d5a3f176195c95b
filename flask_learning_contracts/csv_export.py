"""CSV downloads: streamed rows, with spreadsheet formula injection neutralised.

A cell that a spreadsheet would read as a formula (OWASP "CSV Injection": it starts with ``=``, ``+``,
``-``, ``@``, a tab, a carriage return or a NUL, also after leading blanks, which spreadsheets skip) is
written with a leading ``'``, so a hostile e-mail address or name such as ``=cmd|' /C calc'!A0`` or
`` =1+1`` shows as text when an admin opens the file.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Iterable, Iterator, Sequence

from flask import Response, stream_with_context

from . import services
from .enums import InvitationStatus
from .i18n import _
from .models import Contract

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\0")
#: Blanks a spreadsheet may skip before it reads a formula: any Unicode white space and the invisible joiners.
_LEADING_BLANKS = re.compile(r"[\s\u200b-\u200d\u2060\ufeff]*")
_FLUSH_AT = 64 * 1024


def neutralise(value: object) -> str:
    """``value`` as a CSV cell a spreadsheet will never evaluate."""
    text = "" if value is None else str(value)
    blanks = _LEADING_BLANKS.match(text)
    start = blanks.end() if blanks is not None else 0
    return "'" + text if text.startswith(FORMULA_TRIGGERS) or text[start:].startswith(FORMULA_TRIGGERS) else text


def csv_response(header: Sequence[object], rows: Iterable[Sequence[object]], filename: str) -> Response:
    """Stream ``header`` and ``rows`` as a UTF-8 CSV download (with a BOM, so spreadsheets detect UTF-8)."""

    def generate() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        buffer.write("\ufeff")
        writer.writerow([neutralise(cell) for cell in header])
        for row in rows:
            writer.writerow([neutralise(cell) for cell in row])
            if buffer.tell() >= _FLUSH_AT:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue()

    response = Response(stream_with_context(generate()), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _when(value: dt.datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value is not None else ""


def invitations_csv(contract: Contract, *, search: str | None = None, status: InvitationStatus | str | None = None
                    ) -> Response:
    """The "Export invitations (CSV)" download of the admin Invitations tab and the contract-admin dashboard."""
    header = [_("E-mail"), _("Learner name"), _("Status"), _("Invited at (UTC)"), _("Invited by"),
              _("Code redeemed at (UTC)"), _("Enrolled activities")]
    rows = ([r.email, r.learner, r.status.label, _when(r.invited_at), r.invited_by or "", _when(r.code_redeemed_at),
             r.enrolled]
            for r in services.invitation_export_rows(contract, search=search, status=status))
    return csv_response(header, rows, f"invitations-{contract.code}.csv")
