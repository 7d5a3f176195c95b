"""Reading an uploaded CSV of e-mail addresses, streamed and checked, then inviting them (rule 13)."""
from __future__ import annotations

import codecs
import csv
import itertools
import tempfile
from collections.abc import Iterable, Iterator
from typing import IO, Any

from .. import errors
from ..config import config_value
from ..i18n import _
from ..models import Contract
from ..rules import ActivityRef, HostUser
from ._core import _BATCH, _normalize_email, transactional
from .inviting import InviteReport, InviteResult, _Candidate, _invite_candidates, _valid_email, bracketed_address

_HEADER_WORDS = {"email", "e-mail", "emails", "email address", "e-mail address", "mail", "user", "login"}


_CHUNK = 1 << 16


def _too_large(limit: int) -> errors.ValidationError:
    return errors.ValidationError(
        _("The file is larger than %(mb)s MB. Split it into smaller files.", mb=round(limit / 1048576, 1)),
        field="file")


def _upload_chunks(stream: IO[Any]) -> Iterator[str]:
    """The decoded text of an uploaded file (binary or text stream), read and checked 64 KiB at a time
    (size limit, binary content, encoding), so a large file is never held in memory whole."""
    limit = int(config_value("CSV_MAX_BYTES"))
    size, decoder, first = 0, None, True
    while True:
        data = stream.read(_CHUNK)
        if not data:
            break
        if isinstance(data, str):
            size += len(data.encode("utf-8", "surrogatepass"))
            if size > limit:
                raise _too_large(limit)
            if first:
                data, first = data.lstrip("\ufeff"), False
            yield data
            continue
        size += len(data)
        if size > limit:
            raise _too_large(limit)
        if decoder is None:
            encoding = "utf-16" if data[:2] in (b"\xff\xfe", b"\xfe\xff") else "utf-8-sig"
            decoder = codecs.getincrementaldecoder(encoding)()
        # NUL bytes mean a binary file, except in UTF-16 text (checked once decoded instead).
        if b"\x00" in data and encoding != "utf-16":
            raise errors.ValidationError(
                _("This does not look like a CSV text file. Upload a .csv with one e-mail address per line."),
                field="file")
        try:
            text = decoder.decode(data)
        except UnicodeDecodeError:
            _raise_encoding()
        if "\x00" in text:
            raise errors.ValidationError(
                _("This does not look like a CSV text file. Upload a .csv with one e-mail address per line."),
                field="file")
        yield text
    if decoder is not None:
        try:
            tail = decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            _raise_encoding()
        if tail:
            yield tail


def _upload_lines(chunks: Iterable[str]) -> Iterator[str]:
    """The lines of streamed text, cut as ``str.splitlines`` cuts them, without their line endings."""
    pending = ""
    for chunk in chunks:
        parts = (pending + chunk).splitlines(keepends=True)
        pending = parts.pop() if parts else ""  # may be cut mid-line (or between \r and \n): wait for more
        for part in parts:
            yield part.splitlines()[0]
    if pending:
        yield pending.splitlines()[0]


def _raise_encoding() -> str:
    raise errors.ValidationError(
        _("The file is not UTF-8 text. Save it as \"CSV UTF-8\" and upload it again."), field="file")


def _parse_csv_lines(lines: Iterable[str], report: InviteReport) -> Iterator[_Candidate]:
    """One e-mail per line (first cell when there are several), yielded as the file is read. Tolerates a
    header, blank lines, spaces, a BOM, duplicates and mixed case; every other bad line is reported as
    invalid with its number."""
    max_rows = int(config_value("CSV_MAX_ROWS"))
    first_content = True
    lines = iter(lines)
    for number, line in enumerate(lines, start=1):
        if number > max_rows + 1:
            total = number + sum(1 for _line in lines)
            raise errors.ValidationError(
                _("The file has %(n)s lines; at most %(max)s can be invited at once. Split it into smaller files.",
                  n=format(total, ","), max=format(max_rows, ",")), field="file")
        if not line.strip():
            continue
        named = bracketed_address(line)
        if named is not None:  # ``Ada Lovelace <ada@example.com>``, as a mail program exports it
            cells = [named]
        elif '"' in line or "," in line:  # the csv module only for lines that need it (most hold one address)
            try:
                cells = next(csv.reader([line], skipinitialspace=True))
            except csv.Error:
                cells = [line]
        else:
            cells = [line]
        cell = next((c for c in cells if c.strip()), "")
        email = _normalize_email(cell)
        if first_content:
            first_content = False
            if "@" not in email and email.replace("_", " ") in _HEADER_WORDS:
                continue
        if len(cell) > 320:
            report.add(InviteResult(cell[:60] + "…", "invalid", _("Line %(n)s is too long to be an e-mail address.", n=number),
                                    number, source="csv"))
        elif not _valid_email(email):
            report.add(InviteResult(cell.strip(), "invalid", _("Not a valid e-mail address."), number, source="csv"))
        else:
            yield _Candidate(email, number, source="csv")


def invite_csv(contract: Contract, stream: IO[Any], *, activities: Iterable[ActivityRef] | None = None,
               actor: HostUser | None = None) -> InviteReport:
    """Invite every e-mail of an uploaded CSV (binary or text stream). Returns the per-line report.

    A file that cannot be read as a whole (too large, not text, not UTF-8, too many rows) raises
    ``ValidationError`` and invites nobody; otherwise every good line is invited in one transaction
    and every bad one is reported with its line number.
    """
    stream = _rewindable(stream)
    return _invite_csv(contract, stream, stream.tell(), activities=activities, actor=actor)


def _rewindable(stream: IO[Any]) -> IO[Any]:
    """``stream`` itself when it can seek, else a spooled copy: a retried transaction reads the file again."""
    try:
        if stream.seekable():
            return stream
    except (AttributeError, ValueError):
        pass
    first = stream.read(_CHUNK)
    copy: IO[Any] = tempfile.SpooledTemporaryFile(max_size=1 << 20, mode="w+" if isinstance(first, str) else "w+b")
    budget = int(config_value("CSV_MAX_BYTES")) + _CHUNK  # enough for the size check to refuse an oversize file
    while first and budget > 0:
        copy.write(first)
        budget -= len(first)
        first = stream.read(_CHUNK)
    copy.seek(0)
    return copy


@transactional
def _invite_csv(contract: Contract, stream: IO[Any], start: int, *, activities: Iterable[ActivityRef] | None,
                actor: HostUser | None) -> InviteReport:
    stream.seek(start)
    report = InviteReport()
    # Streamed: read, parsed and written one batch at a time (memory does not grow with the file). A file
    # found unreadable part-way raises, and the transaction rolls back whatever was already written.
    candidates = _parse_csv_lines(_upload_lines(_upload_chunks(stream)), report)
    first = list(itertools.islice(candidates, _BATCH))
    if not first and not report.invalid:
        raise errors.ValidationError(_("The file has no e-mail addresses."), field="file")
    return _invite_candidates(contract, itertools.chain(first, candidates), activities, report, actor,
                              _("CSV upload"))
