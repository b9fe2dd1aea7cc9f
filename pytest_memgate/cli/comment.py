"""``memgate comment``: the body of the one pull-request comment a CI job keeps up to date.

The job finds its earlier comment by the marker, passes its body with ``--previous-body``,
and posts or edits only when this command writes a body: nothing is written while the
verdicts stay the ones that comment shows, so a push that changes no verdict notifies no one.
"""

from __future__ import annotations

import argparse
import sys

from ..errors import MemgateError
from ..files import decode_json, read_document_text
from ..reports.comment import comment_body, should_post
from .documents import EXIT_OK, WHAT_TO_PASS, load_document


def _previous(path: str | None) -> str | None:
    if path is None:
        return None
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            text = handle.read()
    except FileNotFoundError:
        return None  # no earlier comment: the job had nothing to save
    except OSError as exc:
        raise MemgateError(
            f"memgate: cannot read {path}: {exc.strerror}; pass the earlier comment's body, or "
            "leave --previous-body out to post a new comment"
        ) from None
    return text if text.strip() else None


def cmd_comment(args: argparse.Namespace) -> int:
    """Print (or write to --output) the comment body, or nothing when --previous-body
    already shows these verdicts. Exit 0 either way: the gate's own step fails the build."""
    doc = load_document(args.path)
    if doc.kind != "report":
        raise MemgateError(
            f"memgate: {args.path} is a baseline; `memgate comment` reads a --memgate-report file"
        )
    raw = decode_json(read_document_text(args.path, "", WHAT_TO_PASS), args.path, WHAT_TO_PASS)
    previous = _previous(args.previous_body)
    if not should_post(raw, previous):
        print(
            "memgate: the verdicts are the ones the existing comment shows; nothing to post", file=sys.stderr
        )
        text = ""
    else:
        text = comment_body(
            raw, report_only=args.report_only, details_url=args.details_url, limit=args.max_chars
        )
    if args.output is None:
        sys.stdout.write(text)
        return EXIT_OK
    from ..files import write_atomic

    try:
        write_atomic(args.output, text)
    except OSError as exc:
        raise MemgateError(f"memgate: cannot write {args.output}: {exc.strerror}; check the path") from None
    return EXIT_OK
