"""Schemathesis hooks of the contract step of `cargo xtask test` (xtask/src/contract.rs).

A submission's `context.invitation` is valid only when this collector signed it, which no schema
can say: a generated one is refused (400 `invalid_invitation`), rightly. Submissions generated as
valid leave it out, so that the refusal of anything else the document calls valid still fails
the run; those generated as invalid keep it.

Likewise a submission's `submitted_at` must lie within 14 days before its arrival and 1 day after
(400 `submitted_at_out_of_range`), a bound on the clock no schema can state: submissions generated
as valid are dated now.
"""

from datetime import datetime, timezone

import schemathesis


@schemathesis.hook("filter_case").apply_to(path="/v1/responses", method="POST")
def valid_without_invitation(ctx, case):
    if case.meta is not None and not case.meta.generation.mode.is_positive:
        return True
    context = case.body.get("context") if isinstance(case.body, dict) else None
    return not (isinstance(context, dict) and "invitation" in context)


@schemathesis.hook("map_case").apply_to(path="/v1/responses", method="POST")
def valid_dated_now(ctx, case):
    if case.meta is not None and not case.meta.generation.mode.is_positive:
        return case
    if isinstance(case.body, dict) and isinstance(case.body.get("submitted_at"), str):
        case.body["submitted_at"] = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return case
