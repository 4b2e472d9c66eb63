"""API6:2023 sensitive business flows: business-flow."""

from __future__ import annotations

from apiward.scanner.auth import ANONYMOUS
from apiward.scanner.client import Response
from apiward.scanner.context import ScanContext
from apiward.scanner.registry import Recorder, check


@check("business-flow")
def business_flow(ctx: ScanContext, recorder: Recorder) -> None:
    if not ctx.auth.flows:
        recorder.not_run(None, "the auth file declares no flows")
        return
    for flow in ctx.auth.flows:
        identity = ctx.anonymous if flow.identity == ANONYMOUS else ctx.identities[flow.identity]
        last_step = flow.steps[-1]
        where = (last_step.method.upper(), last_step.path)
        evidence: list[Response] = []
        stopped = False
        for round_number in range(flow.repeat):
            responses = [
                identity.send(step.method.upper(), step.path, json=step.json_body) for step in flow.steps
            ]
            evidence.append(responses[-1])
            if not responses[-1].ok:
                recorder.passed(
                    where,
                    f"flow {flow.name!r} stopped in round {round_number + 1} with {responses[-1].status}",
                    [responses[-1]],
                )
                stopped = True
                break
        if not stopped:
            recorder.finding(
                where,
                f"flow {flow.name!r} completed {flow.repeat} times in a row",
                [evidence[0], evidence[-1]],
            )
