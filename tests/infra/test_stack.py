"""The stack as CloudFormation will see it: Template assertions and cdk-nag."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from guardrails import constants as c
from guardrails.routing import (
    API_HANDLER,
    API_ROUTES,
    GUARD_HANDLER,
    ON_STATE_CHANGE_HANDLER,
    STATE_CHANGE_PATTERN,
    SWEEP_HANDLER,
)
from guardrails.workflow.definition import TASK_HANDLERS
from infra.config import ConfigError
from tests.infra.conftest import acknowledgements, resources, synth


def test_state_changes_reach_on_state_change(template: Template) -> None:
    rules = resources(template, "AWS::Events::Rule")
    [rule] = [r for r in rules.values()
              if r["Properties"].get("EventPattern") == STATE_CHANGE_PATTERN]
    [target] = rule["Properties"]["Targets"]
    functions = resources(template, "AWS::Lambda::Function")
    target_fn = functions[target["Arn"]["Fn::GetAtt"][0]]
    assert target_fn["Properties"]["Handler"] == ON_STATE_CHANGE_HANDLER
    assert "DeadLetterConfig" in target


def test_sweep_runs_on_the_default_rate(template: Template) -> None:
    template.has_resource_properties("AWS::Events::Rule", {
        "ScheduleExpression": "rate(15 minutes)",
        "Targets": Match.array_with([Match.object_like({"Arn": Match.any_value()})]),
    })


def test_sweep_rate_comes_from_context(tmp_path: Path) -> None:
    _, template = synth(tmp_path, sweep_rate_minutes=5)
    template.has_resource_properties("AWS::Events::Rule", {"ScheduleExpression": "rate(5 minutes)"})


def test_table_has_pitr_ttl_on_demand_and_is_retained(template: Template) -> None:
    template.has_resource("AWS::DynamoDB::GlobalTable", {
        "DeletionPolicy": "Retain",
        "UpdateReplacePolicy": "Retain",
        "Properties": Match.object_like({
            "BillingMode": "PAY_PER_REQUEST",
            "TimeToLiveSpecification": {"AttributeName": c.TTL_ATTRIBUTE, "Enabled": True},
            "Replicas": [Match.object_like({"PointInTimeRecoverySpecification": {
                "PointInTimeRecoveryEnabled": True}})],
        }),
    })


def test_alerts_topic_is_kms_encrypted_and_ssl_only(template: Template) -> None:
    topics = resources(template, "AWS::SNS::Topic")
    [topic] = topics.values()
    key_ref = topic["Properties"]["KmsMasterKeyId"]["Fn::GetAtt"][0]
    key = resources(template, "AWS::KMS::Key")[key_ref]
    assert key["Properties"]["EnableKeyRotation"] is True
    template.has_resource_properties("AWS::SNS::TopicPolicy", {"PolicyDocument": {
        "Statement": Match.array_with([Match.object_like({
            "Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}})])}})


def test_email_and_slack_subscriptions_come_from_context(tmp_path: Path) -> None:
    _, template = synth(tmp_path, alert_emails=["ml-team@example.com", "billing@example.com"],
                        slack_workspace_id="T0123", slack_channel_id="C0456")
    subs = resources(template, "AWS::SNS::Subscription")
    assert sorted(s["Properties"]["Endpoint"] for s in subs.values()) == [
        "billing@example.com", "ml-team@example.com"]
    template.has_resource_properties("AWS::Chatbot::SlackChannelConfiguration", {
        "SlackWorkspaceId": "T0123", "SlackChannelId": "C0456"})


def test_no_slack_without_both_ids(template: Template) -> None:
    template.resource_count_is("AWS::Chatbot::SlackChannelConfiguration", 0)
    template.resource_count_is("AWS::SNS::Subscription", 0)


def test_a_bad_context_value_fails_with_the_key_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="max_hourly_usd"):
        synth(tmp_path, max_hourly_usd=-1)
    with pytest.raises(ConfigError, match="alert_emails"):
        synth(tmp_path, alert_emails="not-an-address")


def test_thresholds_reach_the_functions(tmp_path: Path) -> None:
    _, template = synth(tmp_path, max_uptime_hours=12, max_hourly_usd=2.5)
    for fn in resources(template, "AWS::Lambda::Function").values():
        env = fn["Properties"]["Environment"]["Variables"]
        assert env[c.ENV_MAX_UPTIME_HOURS] == "12"
        assert env[c.ENV_MAX_HOURLY_USD] == "2.5"
        assert env[c.ENV_MAX_ACCUMULATED_USD] == "10"


def test_every_async_function_has_a_dlq_and_every_function_an_error_alarm(
    template: Template,
) -> None:
    functions = resources(template, "AWS::Lambda::Function")
    assert {f["Properties"]["Handler"] for f in functions.values()} == {
        ON_STATE_CHANGE_HANDLER, SWEEP_HANDLER, API_HANDLER, GUARD_HANDLER,
        *TASK_HANDLERS.values()}
    alarms = resources(template, "AWS::CloudWatch::Alarm").values()
    alarmed = {d["Value"]["Ref"] for a in alarms for d in a["Properties"]["Dimensions"]}
    synchronous = {API_HANDLER, *TASK_HANDLERS.values()}  # the API, and the workflow's tasks
    for logical_id, fn in functions.items():
        if fn["Properties"]["Handler"] not in synchronous:
            assert "TargetArn" in fn["Properties"]["DeadLetterConfig"]
        assert fn["Properties"]["Runtime"].startswith("python3.1")
        assert logical_id in alarmed
        assert any("AWSLambdaPowertoolsPythonV3" in json.dumps(layer)
                   for layer in fn["Properties"]["Layers"])


def test_each_function_has_its_own_role(template: Template) -> None:
    roles = [f["Properties"]["Role"]["Fn::GetAtt"][0]
             for f in resources(template, "AWS::Lambda::Function").values()]
    assert len(set(roles)) == len(roles)
    all_roles = resources(template, "AWS::IAM::Role")
    for role in roles:
        assert "ManagedPolicyArns" not in all_roles[role]["Properties"]


def test_no_iam_statement_grants_wildcard_actions(template: Template) -> None:
    for kind in ("AWS::IAM::Policy", "AWS::IAM::Role"):
        for resource in resources(template, kind).values():
            documents = [resource["Properties"].get("PolicyDocument", {})] + [
                p["PolicyDocument"] for p in resource["Properties"].get("Policies", [])]
            for document in documents:
                for statement in document.get("Statement", []):
                    actions = statement["Action"]
                    for action in [actions] if isinstance(actions, str) else actions:
                        assert "*" not in action, f"wildcard action {action}"


def test_scheduler_role_may_only_invoke_the_sweep(template: Template) -> None:
    functions = resources(template, "AWS::Lambda::Function")
    [sweep_id] = [k for k, f in functions.items() if f["Properties"]["Handler"] == SWEEP_HANDLER]
    template.has_resource_properties("AWS::IAM::Policy", {"PolicyDocument": {"Statement": [{
        "Action": "lambda:InvokeFunction", "Effect": "Allow",
        "Resource": {"Fn::GetAtt": [sweep_id, "Arn"]}}]}})
    template.resource_count_is("AWS::Scheduler::ScheduleGroup", 1)


def test_cdk_nag_aws_solutions_is_clean_and_every_acknowledgement_has_a_reason(
    tmp_path: Path,
) -> None:
    app, _ = synth(tmp_path, alert_emails=["ml-team@example.com"],
                   slack_workspace_id="T0123", slack_channel_id="C0456")
    app.synth()  # raises RuntimeError('ValidationFailed ...') on any unacknowledged finding
    report = json.loads((tmp_path / "validation-report.json").read_text())
    for plugin in report["pluginReports"]:
        assert plugin["conclusion"] == "success" and plugin["violations"] == [], plugin
    found = acknowledgements(app)
    assert found, "expected the documented acknowledgements"
    for where, reason in found.items():
        assert len(reason) > 30, f"{where}: acknowledged without a real reason"


def test_the_api_has_exactly_the_routes_of_routing_all_iam_authorized(
    template: Template,
) -> None:
    resources_by_id = resources(template, "AWS::ApiGateway::Resource")

    def path_of(ref: Any) -> str:
        if "Fn::GetAtt" in ref:  # the root resource
            return ""
        node = resources_by_id[ref["Ref"]]["Properties"]
        return f"{path_of(node['ParentId'])}/{node['PathPart']}"

    methods = resources(template, "AWS::ApiGateway::Method").values()
    found = {(m["Properties"]["HttpMethod"], path_of(m["Properties"]["ResourceId"]))
             for m in methods}
    assert found == set(API_ROUTES.values())
    for method in methods:
        assert method["Properties"]["AuthorizationType"] == "AWS_IAM"
        assert "RequestValidatorId" in method["Properties"]


def test_the_api_stage_logs_access_and_throttles(template: Template) -> None:
    template.has_resource_properties("AWS::ApiGateway::Stage", {
        "AccessLogSetting": Match.object_like({"DestinationArn": Match.any_value()}),
        "MethodSettings": Match.array_with([Match.object_like({
            "ThrottlingRateLimit": Match.any_value(), "ThrottlingBurstLimit": Match.any_value(),
            "LoggingLevel": "ERROR"})]),
    })


def test_the_checkpoint_bucket_is_encrypted_versioned_ssl_only_and_private(
    template: Template,
) -> None:
    buckets = resources(template, "AWS::S3::Bucket")
    [bucket] = [b for b in buckets.values() if "VersioningConfiguration" in b["Properties"]]
    props = bucket["Properties"]
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True, "BlockPublicPolicy": True, "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True}
    [rule] = props["LifecycleConfiguration"]["Rules"]
    assert rule["Transitions"] == [{"StorageClass": "STANDARD_IA", "TransitionInDays": 30}]
    assert bucket["DeletionPolicy"] == "Retain"
    template.has_resource_properties("AWS::S3::BucketPolicy", {"PolicyDocument": {
        "Statement": Match.array_with([Match.object_like({
            "Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}})])}})


def test_the_training_instance_role_has_exactly_what_the_training_side_needs(
    template: Template,
) -> None:
    roles = resources(template, "AWS::IAM::Role")
    [role_id] = [k for k, r in roles.items() if r["Properties"]["AssumeRolePolicyDocument"][
        "Statement"][0]["Principal"] == {"Service": "ec2.amazonaws.com"}]
    [policy] = [p for p in resources(template, "AWS::IAM::Policy").values()
                if {"Ref": role_id} in p["Properties"]["Roles"]]
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    by_action = {json.dumps(s["Action"]): s for s in statements}
    assert set(by_action) == {'"execute-api:Invoke"', '["s3:PutObject", "s3:GetObject"]',
                              '"s3:ListBucket"'}
    invoke = json.dumps(by_action['"execute-api:Invoke"']["Resource"])
    for route in ("/v1/POST/instances/*/runs", "/v1/POST/instances/*/runs/*/heartbeat",
                  "/v1/POST/instances/*/runs/*/checkpoints", "/v1/POST/instances/*/runs/*/finish",
                  "/v1/GET/instances/*"):
        assert route + '"' in invoke
    objects = json.dumps(by_action['["s3:PutObject", "s3:GetObject"]']["Resource"])
    assert "/${ec2:InstanceID}/*" in objects
    template.resource_count_is("AWS::IAM::InstanceProfile", 1)
    # The SSM agent's own policy, so the guardrails can reach the instance over Run Command
    managed = json.dumps(roles[role_id]["Properties"]["ManagedPolicyArns"])
    assert "AmazonSSMManagedInstanceCore" in managed


def test_the_api_knows_which_role_may_write(template: Template) -> None:
    [fn] = [f for f in resources(template, "AWS::Lambda::Function").values()
            if f["Properties"]["Handler"] == API_HANDLER]
    role_ref = fn["Properties"]["Environment"]["Variables"][c.ENV_INSTANCE_ROLE_NAME]
    role = resources(template, "AWS::IAM::Role")[role_ref["Ref"]]
    assert role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "Service": "ec2.amazonaws.com"}


def test_enforcement_is_off_and_dry_run_by_default_and_context_turns_it_on(
    template: Template, tmp_path: Path,
) -> None:
    [sweep_fn] = [f for f in resources(template, "AWS::Lambda::Function").values()
                  if f["Properties"]["Handler"] == SWEEP_HANDLER]
    env = sweep_fn["Properties"]["Environment"]["Variables"]
    assert env[c.ENV_ENFORCEMENT_DRY_RUN] == "true"
    assert c.ENV_STOP_AT_USD not in env and c.ENV_IDLE_STOP_MINUTES not in env
    _, enforcing = synth(tmp_path, stop_at_accumulated_usd=500, idle_stop_minutes=60,
                         enforcement_dry_run=False)
    [sweep_fn] = [f for f in resources(enforcing, "AWS::Lambda::Function").values()
                  if f["Properties"]["Handler"] == SWEEP_HANDLER]
    env = sweep_fn["Properties"]["Environment"]["Variables"]
    assert env[c.ENV_STOP_AT_USD] == "500" and env[c.ENV_IDLE_STOP_MINUTES] == "60"
    assert env[c.ENV_ENFORCEMENT_DRY_RUN] == "false"


def test_the_template_routes_events_exactly_as_local_mode_does(template: Template) -> None:
    """Local mode puts local/event_bus.RULES (built from guardrails.routing) on the
    emulator's bus: each pattern, to its handler. The stack must route the same events to
    the same handlers, and nothing else, so the two cannot drift apart."""
    from guardrails.routing import SWEEP_HANDLER, sweep_rate_expression
    from local.event_bus import RULES

    functions = resources(template, "AWS::Lambda::Function")
    routed, scheduled = [], []
    for rule in resources(template, "AWS::Events::Rule").values():
        props = rule["Properties"]
        [target] = props["Targets"]
        handler = functions[target["Arn"]["Fn::GetAtt"][0]]["Properties"]["Handler"]
        if "EventPattern" in props:
            routed.append((json.dumps(props["EventPattern"], sort_keys=True), handler))
        else:
            scheduled.append((props["ScheduleExpression"], handler))
    local = [(json.dumps(pattern, sort_keys=True), handler) for pattern, handler in
             RULES.values()]
    assert sorted(routed) == sorted(local)
    assert scheduled == [(sweep_rate_expression(15), SWEEP_HANDLER)]
