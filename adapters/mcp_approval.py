"""MCP: a tool call that needs approval pauses and asks the client, by elicitation, for the override token a human's
grant issued; the call is then checked again with it.

There are two protocol paths, and this module holds both so :mod:`yaml2rego.adapters.mcp` stays the adapter: before
2026-07-28 the question is an ``elicitation/create`` request sent while the call waits (:func:`ask_for_token`); from
2026-07-28 the call is answered with an ``InputRequiredResult`` holding the question, and the client makes the call
again with the answer in ``inputResponses`` (:func:`resumed_call`). A client that declared no elicitation, or
declines, gets the refusal as before.

>>> resumed = resumed_call(ctx)  # doctest: +SKIP
>>> paused = await ask_for_token(ctx, guard, decision, call, refusal_result)  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from yaml2rego.adapters.tool_calls import approval_request, require
from yaml2rego.runtime.decision import Decision
from yaml2rego.runtime.guard import Guard

__all__ = [
    "APPROVAL_INPUT",
    "APPROVAL_REQUEST_META",
    "ask_for_token",
    "resumed_call",
]

# A paused call asks for the token by elicitation: the key of the question (and of the client's answer in a
# 2026-07-28 retry's ``inputResponses``), and the ``_meta`` key of the elicitation holding the approval request.
APPROVAL_INPUT = "yaml2rego/approval"
APPROVAL_REQUEST_META = "yaml2rego/approval_request"
# From this protocol version a server may not send a request in the middle of a call: it answers with the question
# and the client makes the call again with the answer (SEP-2322). Before it, the question is an
# ``elicitation/create`` request while the call waits.
_INPUT_REQUIRED_VERSION = "2026-07-28"
_TOKEN_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"approval_token": {"type": "string", "title": "Override token"}},
    "required": ["approval_token"],
}


def resumed_call(ctx: Any) -> tuple[Any, str | None, Any] | None:
    """For a call made again with the answer to the question :func:`ask_for_token` asked (2026-07-28 on): the
    context without the answer and state, the token answered (``None`` if declined) and the refusal held back in the
    state (``None`` if the state is not one). ``None`` for any other call."""
    params = ctx.params
    responses = params.get("inputResponses")
    if not (isinstance(responses, Mapping) and APPROVAL_INPUT in responses):
        return None
    held = _held_refusal(params.get("requestState"))
    params = {key: value for key, value in params.items() if key not in ("inputResponses", "requestState")}
    return dataclasses.replace(ctx, params=params), _answered_token(responses[APPROVAL_INPUT]), held


async def ask_for_token(
    ctx: Any,
    guard: Guard,
    decision: Decision,
    call: Mapping[str, Any],
    refusal: Callable[[Decision, Mapping[str, Any]], Any],
) -> Any:
    """Pause an ``approval_needed`` call where the client declared elicitation.

    Returns an ``InputRequiredResult`` to answer the call with (2026-07-28 on; the ``refusal(decision, call)`` is held
    back in its state), or the decision: checked again with the token if the client gave one in the call, else as it
    was.
    """
    if _can_elicit(ctx) and _input_required(ctx):
        types = require("mcp.types", "mcp")
        held_back = refusal(decision, call).model_dump_json(by_alias=True, exclude_none=True)
        questions = {APPROVAL_INPUT: _question(decision, call)}
        return types.InputRequiredResult(input_requests=questions, request_state=held_back)
    if _can_elicit(ctx) and ctx.session.can_send_request:
        answered = _answered_token(await _ask(ctx, decision, call))
        if answered is not None:
            decision = await guard.acheck({**call, "approval_token": answered})
    return decision


def _can_elicit(ctx: Any) -> bool:
    """Whether the client declared form elicitation (a bare ``elicitation: {}`` is form, as before modes existed)."""
    elicitation = getattr(getattr(ctx.session, "client_capabilities", None), "elicitation", None)
    return elicitation is not None and (elicitation.form is not None or elicitation.url is None)


def _input_required(ctx: Any) -> bool:
    return bool(require("mcp.types.version", "mcp").is_version_at_least(ctx.protocol_version, _INPUT_REQUIRED_VERSION))


def _question(decision: Decision, call: Mapping[str, Any]) -> Any:
    """The elicitation asking for the override token: the tool, the reasons and the approval request's id for the
    person, the approval request in ``_meta`` for code."""
    types = require("mcp.types", "mcp")
    reasons = "; ".join(f"{reason.get('message')} [{reason.get('code')}]" for reason in decision.reasons)
    message = (
        f"The call of tool `{call.get('tool')}` needs a human's approval: {reasons}. Enter the override token granted "
        f"for approval request {decision.approval_id}, or decline to leave the call refused."
    )
    request = {key: value for key, value in approval_request(decision, call).items() if key != "answers"}
    params = types.ElicitRequestFormParams(
        message=message, requested_schema=_TOKEN_SCHEMA, meta={APPROVAL_REQUEST_META: request}
    )
    return types.ElicitRequest(params=params)


async def _ask(ctx: Any, decision: Decision, call: Mapping[str, Any]) -> Any:
    """Ask the question while the call waits (protocol versions before 2026-07-28); ``None`` when the client fails to
    answer, which leaves the call refused."""
    types = require("mcp.types", "mcp")
    message = require("mcp.shared.message", "mcp")
    exceptions = require("mcp.shared.exceptions", "mcp")
    pydantic = require("pydantic", "mcp")
    related = message.ServerMessageMetadata(related_request_id=ctx.request_id)
    try:
        return await ctx.session.send_request(_question(decision, call), types.ElicitResult, metadata=related)
    except (exceptions.MCPError, pydantic.ValidationError):
        return None


def _answered_token(answer: Any) -> str | None:
    """The token of an accepted elicitation; ``None`` for a declined or cancelled one, or one without a token."""
    if hasattr(answer, "model_dump"):
        answer = answer.model_dump(mode="json")
    content = answer.get("content") if isinstance(answer, Mapping) and answer.get("action") == "accept" else None
    token = content.get("approval_token") if isinstance(content, Mapping) else None
    return token if isinstance(token, str) and token else None


def _held_refusal(state: Any) -> Any:
    """The refusal held back while the client was asked (``None`` if the state is not one)."""
    types = require("mcp.types", "mcp")
    try:
        refusal = types.CallToolResult.model_validate_json(state) if isinstance(state, str) else None
    except ValueError:  # pydantic's ValidationError
        return None
    return refusal if refusal is not None and refusal.is_error else None
