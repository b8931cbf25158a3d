"""The pre-termination workflow and the reactive guards as deployed."""

from __future__ import annotations

import json
from typing import Any

from aws_cdk.assertions import Template

from guardrails import constants as c
from guardrails.routing import GUARD_HANDLER, PROTECTION_CHANGE_PATTERN, SPOT_WARNING_PATTERN
from guardrails.workflow.definition import TASK_HANDLERS, definition, placeholder
from tests.infra.conftest import resources


def functions_by_handler(template: Template) -> dict[str, str]:
    return {f["Properties"]["Handler"]: logical_id
            for logical_id, f in resources(template, "AWS::Lambda::Function").items()}


def actions_of_role(template: Template, role_id: str) -> set[str]:
    found: set[str] = set()
    for policy in resources(template, "AWS::IAM::Policy").values():
        if {"Ref": role_id} in policy["Properties"]["Roles"]:
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
                listed = statement["Action"]
                found.update([listed] if isinstance(listed, str) else listed)
    return found


def role_of(template: Template, handler: str) -> str:
    fn = resources(template, "AWS::Lambda::Function")[functions_by_handler(template)[handler]]
    return str(fn["Properties"]["Role"]["Fn::GetAtt"][0])


def test_the_state_machine_is_the_shared_definition_with_each_task_on_its_function(
    template: Template,
) -> None:
    [machine] = resources(template, "AWS::StepFunctions::StateMachine").values()
    props = machine["Properties"]
    assert props["StateMachineType"] == "STANDARD"
    deployed = json.loads(props["DefinitionString"])
    assert deployed["States"] == definition()["States"]
    by_handler = functions_by_handler(template)
    for task, handler in TASK_HANDLERS.items():
        assert props["DefinitionSubstitutions"][placeholder(task)] == {
            "Fn::GetAtt": [by_handler[handler], "Arn"]}
    assert props["LoggingConfiguration"]["Level"] == "ALL"
    assert props["TracingConfiguration"] == {"Enabled": True}


def test_only_the_terminate_task_may_terminate(template: Template) -> None:
    for handler in (*TASK_HANDLERS.values(), GUARD_HANDLER):
        actions = actions_of_role(template, role_of(template, handler))
        may = "ec2:TerminateInstances" in actions
        assert may == (handler == TASK_HANDLERS["terminate"]), handler
    audit_only = {"dynamodb:PutItem", "logs:CreateLogStream", "logs:PutLogEvents"}
    assert actions_of_role(template, role_of(template, TASK_HANDLERS["record_blocked"])) == (
        audit_only)
    # A failure also reads whether the instance is gone, to say so truthfully
    assert actions_of_role(template, role_of(template, TASK_HANDLERS["record_failure"])) == (
        audit_only | {"ec2:DescribeInstances"})


def test_the_api_may_start_and_read_only_the_termination_workflow(template: Template) -> None:
    actions = actions_of_role(template, role_of(template, "guardrails.handlers.api.handler"))
    assert {"states:StartExecution", "states:DescribeExecution"} <= actions
    [api] = [f for f in resources(template, "AWS::Lambda::Function").values()
             if f["Properties"]["Handler"] == "guardrails.handlers.api.handler"]
    [machine_id] = resources(template, "AWS::StepFunctions::StateMachine")
    assert api["Properties"]["Environment"]["Variables"][c.ENV_STATE_MACHINE_ARN] == {
        "Ref": machine_id}


def test_spot_warnings_and_protection_changes_reach_the_guard(template: Template) -> None:
    rules = resources(template, "AWS::Events::Rule").values()
    guard_id = functions_by_handler(template)[GUARD_HANDLER]
    for pattern in (SPOT_WARNING_PATTERN, PROTECTION_CHANGE_PATTERN):
        [rule] = [r for r in rules if r["Properties"].get("EventPattern") == pattern]
        [target] = rule["Properties"]["Targets"]
        assert target["Arn"] == {"Fn::GetAtt": [guard_id, "Arn"]}
        assert "DeadLetterConfig" in target


def test_the_guard_trusts_exactly_the_roles_that_lift_protection_by_design(
    template: Template,
) -> None:
    [guard] = [f for f in resources(template, "AWS::Lambda::Function").values()
               if f["Properties"]["Handler"] == GUARD_HANDLER]
    trusted: Any = guard["Properties"]["Environment"]["Variables"][c.ENV_TRUSTED_ROLE_ARNS]
    named = {part["Fn::GetAtt"][0] for part in trusted["Fn::Join"][1]
             if isinstance(part, dict)}
    lifters = {role_of(template, h) for h in (TASK_HANDLERS["terminate"],
                                              "guardrails.handlers.api.handler",
                                              "guardrails.handlers.sweep.handler")}
    assert named == lifters
    for handler in (TASK_HANDLERS["terminate"], "guardrails.handlers.api.handler",
                    "guardrails.handlers.sweep.handler"):
        assert "ec2:ModifyInstanceAttribute" in actions_of_role(template, role_of(template,
                                                                                  handler))
