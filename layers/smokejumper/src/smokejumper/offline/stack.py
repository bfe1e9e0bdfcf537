"""The synthesized stack, created on emulated AWS (moto) from its template.

moto's CloudFormation cannot deploy a CDK template (it trips on CDK's
BootstrapVersion parameter, and registers state machines where the executing
Step Functions backend does not see them), so each resource is created here
with the service's own API, from the template's properties with their
intrinsics resolved (templates.py), in dependency order. Every resource type
of the template is either created or deliberately left out with a reason
(`NOT_EMULATED`); a new type stops the runner until it is given one or the
other, so the emulated stack never silently differs from the synthesized one.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from smokejumper.errors import SmokejumperError
from smokejumper.templates import Resolver, Template, UnresolvableError

# What is not created on moto, and why; references to them resolve to placeholders.
NOT_EMULATED = {
    # The functions run in-process from the installed library (offline/lambdas.py), not from a layer.
    "AWS::Lambda::LayerVersion": "the handlers run in-process with the installed library",
    # The functions' VPC is the plan's; offline they run on this machine, whose loopback the sources use.
    "AWS::EC2::SecurityGroup": "the functions run on this machine, not in a VPC",
    "AWS::CDK::Metadata": "CDK's own bookkeeping",
    # Dashboards are pictures of metrics; moto does not render them.
    "AWS::CloudWatch::Dashboard": "nothing renders dashboards offline",
}


@dataclass
class EmulatedStack:
    """What was created: physical ids by logical id, and the resolver that knows them."""

    template: Template
    resolver: Resolver
    session: Any
    created: dict[str, str] = field(default_factory=dict)  # logical id -> resource type
    skipped: dict[str, str] = field(default_factory=dict)  # logical id -> reason
    left_out: list[str] = field(default_factory=list)  # parts of created resources moto cannot honour

    def ids_of(self, resource_type: str) -> list[str]:
        return [logical_id for logical_id, kind in self.created.items() if kind == resource_type]

    def ref(self, logical_id: str) -> Any:
        return self.resolver.refs[logical_id]

    def properties(self, logical_id: str) -> dict[str, Any]:
        return self.resolver.resolve(self.template.resources[logical_id].get("Properties", {}))


def _references(node: Any) -> Iterator[str]:
    if isinstance(node, list):
        for entry in node:
            yield from _references(entry)
    elif isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref" and isinstance(value, str) and not value.startswith("AWS::"):
                yield value
            elif key == "Fn::GetAtt":
                yield value[0] if isinstance(value, list) else value.split(".", 1)[0]
            else:
                yield from _references(value)


def creation_order(template: Template) -> list[str]:
    """Logical ids, each after everything it references or depends on."""
    needs: dict[str, set[str]] = {}
    for logical_id, resource in template.resources.items():
        depends = resource.get("DependsOn", [])
        needs[logical_id] = set(_references(resource.get("Properties", {}))) | set(
            [depends] if isinstance(depends, str) else depends
        )
    order: list[str] = []
    done: set[str] = set()
    while len(order) < len(needs):
        ready = sorted(logical_id for logical_id, wanted in needs.items() if logical_id not in done and wanted <= done)
        if not ready:
            stuck = sorted(set(needs) - done)
            raise SmokejumperError(f"the template's resources depend on each other in a cycle: {', '.join(stuck)}")
        order += ready
        done.update(ready)
    return order


def _physical_name(stack_name: str, logical_id: str, *, lower: bool = False, limit: int = 64) -> str:
    """A name like CloudFormation's: stack, logical id and a suffix, within the service's limit."""
    base = re.sub(r"[0-9A-F]{8}$", "", logical_id)
    name = f"{stack_name}-{base}"[: limit - 9] + "-" + logical_id[-8:].lower()
    return name.lower() if lower else name


def _tags(properties: Mapping[str, Any]) -> list[dict[str, str]]:
    return [{"Key": tag["Key"], "Value": str(tag["Value"])} for tag in properties.get("Tags", [])]


class _Creator:
    def __init__(self, stack: EmulatedStack, stack_name: str) -> None:
        self.stack = stack
        self.stack_name = stack_name
        self.session = stack.session
        self.account = stack.resolver.account
        self.region = stack.resolver.region
        self.deferred: list[Callable[[], Any]] = []

    def arn(self, service: str, resource: str) -> str:
        return f"arn:aws:{service}:{self.region}:{self.account}:{resource}"

    # Each returns (Ref, attributes).

    def kms_key(self, logical_id: str, p: dict[str, Any]) -> tuple[str, dict[str, str]]:
        kms = self.session.client("kms")
        metadata = kms.create_key(
            Description=p.get("Description", ""), Policy=json.dumps(p["KeyPolicy"]), Tags=[
                {"TagKey": t["Key"], "TagValue": t["Value"]} for t in _tags(p)
            ]
        )["KeyMetadata"]  # fmt: skip
        if p.get("EnableKeyRotation"):
            kms.enable_key_rotation(KeyId=metadata["KeyId"])
        return metadata["KeyId"], {"Arn": metadata["Arn"], "KeyId": metadata["KeyId"]}

    def kms_alias(self, logical_id: str, p: dict[str, Any]) -> tuple[str, dict[str, str]]:
        self.session.client("kms").create_alias(AliasName=p["AliasName"], TargetKeyId=p["TargetKeyId"])
        return p["AliasName"], {}

    def iam_role(self, logical_id: str, p: dict[str, Any]) -> tuple[str, dict[str, str]]:
        name = p.get("RoleName") or _physical_name(self.stack_name, logical_id)
        role = self.session.client("iam").create_role(
            RoleName=name,
            AssumeRolePolicyDocument=json.dumps(p["AssumeRolePolicyDocument"]),
            Description=p.get("Description", ""),
        )["Role"]
        return name, {"Arn": role["Arn"], "RoleId": role["RoleId"]}

    def iam_policy(self, logical_id: str, p: dict[str, Any]) -> tuple[str, dict[str, str]]:
        iam = self.session.client("iam")
        for role in p.get("Roles", []):
            iam.put_role_policy(
                RoleName=role, PolicyName=p["PolicyName"], PolicyDocument=json.dumps(p["PolicyDocument"])
            )
        return p["PolicyName"], {}

    def log_group(self, logical_id: str, p: dict[str, Any]) -> tuple[str, dict[str, str]]:
        name = p.get("LogGroupName") or f"/{self.stack_name}/{logical_id}"
        logs = self.session.client("logs")
        logs.create_log_group(logGroupName=name)
        if "RetentionInDays" in p:
            logs.put_retention_policy(logGroupName=name, retentionInDays=int(p["RetentionInDays"]))
        return name, {"Arn": self.arn("logs", f"log-group:{name}:*")}

    def s3_bucket(self, logical_id: str, p: dict[str, Any]) -> tuple[str, dict[str, str]]:
        s3 = self.session.client("s3")
        name = p.get("BucketName") or _physical_name(self.stack_name, logical_id, lower=True, limit=63)
        create: dict[str, Any] = {"Bucket": name}
        if self.region != "us-east-1":
            create["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
        if p.get("ObjectLockEnabled"):
            create["ObjectLockEnabledForBucket"] = True
        s3.create_bucket(**create)
        if "VersioningConfiguration" in p:
            s3.put_bucket_versioning(Bucket=name, VersioningConfiguration=p["VersioningConfiguration"])
        if "BucketEncryption" in p:
            # CloudFormation's ServerSideEncryptionByDefault is the API's ApplyServerSideEncryptionByDefault.
            rules = [
                {
                    "ApplyServerSideEncryptionByDefault": rule["ServerSideEncryptionByDefault"],
                    **({"BucketKeyEnabled": bool(rule["BucketKeyEnabled"])} if "BucketKeyEnabled" in rule else {}),
                }
                for rule in p["BucketEncryption"]["ServerSideEncryptionConfiguration"]
            ]
            s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": rules})
        if "PublicAccessBlockConfiguration" in p:
            s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration=p["PublicAccessBlockConfiguration"])
        if "OwnershipControls" in p:
            s3.put_bucket_ownership_controls(Bucket=name, OwnershipControls=p["OwnershipControls"])
        if "ObjectLockConfiguration" in p:
            s3.put_object_lock_configuration(Bucket=name, ObjectLockConfiguration=p["ObjectLockConfiguration"])
        if "LifecycleConfiguration" in p:
            s3.put_bucket_lifecycle_configuration(
                Bucket=name,
                LifecycleConfiguration={"Rules": [_lifecycle_rule(r) for r in p["LifecycleConfiguration"]["Rules"]]},
            )
        if "LoggingConfiguration" in p:
            logging = p["LoggingConfiguration"]
            # moto (like S3) checks that the target bucket's policy admits the logging service, and that
            # policy names this bucket: CloudFormation settles it eventually, here it waits for the end.
            self.deferred.append(
                lambda: s3.put_bucket_logging(
                    Bucket=name,
                    BucketLoggingStatus={
                        "LoggingEnabled": {
                            "TargetBucket": logging["DestinationBucketName"],
                            "TargetPrefix": logging.get("LogFilePrefix", ""),
                        }
                    },
                )
            )
        if "ReplicationConfiguration" in p:
            # moto stores the rule (after versioning, as S3 requires) and never replicates. CloudFormation's
            # rule Id is the API's ID; the rest has the API's shape.
            replication = p["ReplicationConfiguration"]
            rules = [{("ID" if k == "Id" else k): v for k, v in rule.items()} for rule in replication["Rules"]]
            s3.put_bucket_replication(Bucket=name, ReplicationConfiguration={**replication, "Rules": rules})
        if p.get("Tags"):
            s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": _tags(p)})
        return name, {
            "Arn": f"arn:aws:s3:::{name}",
            "DomainName": f"{name}.s3.amazonaws.com",
            "RegionalDomainName": f"{name}.s3.{self.region}.amazonaws.com",
        }

    def s3_bucket_policy(self, logical_id: str, p: dict[str, Any]) -> tuple[str, dict[str, str]]:
        # moto evaluates a bucket policy's Deny statements but cannot tell that a request came over TLS
        # (nothing offline does): the TLS-only statements would deny every request. They are left out,
        # and listed; everything else of the policy is put as synthesized.
        document = dict(p["PolicyDocument"])
        kept = [statement for statement in document["Statement"] if not _only_about_tls(statement)]
        self.stack.left_out.extend(
            f"{logical_id}: {statement['Effect']} {statement['Action']} when {statement['Condition']}"
            for statement in document["Statement"]
            if _only_about_tls(statement)
        )
        if kept:
            document["Statement"] = kept
            self.session.client("s3").put_bucket_policy(Bucket=p["Bucket"], Policy=json.dumps(document))
        return p["Bucket"], {}

    def dynamodb_table(self, logical_id: str, p: dict[str, Any]) -> tuple[str, dict[str, str]]:
        dynamodb = self.session.client("dynamodb")
        name = p.get("TableName") or _physical_name(self.stack_name, logical_id, limit=255)
        create: dict[str, Any] = {
            "TableName": name,
            "KeySchema": p["KeySchema"],
            "AttributeDefinitions": p["AttributeDefinitions"],
            "BillingMode": p.get("BillingMode", "PROVISIONED"),
        }
        if "SSESpecification" in p:
            sse = p["SSESpecification"]
            create["SSESpecification"] = {
                "Enabled": bool(sse.get("SSEEnabled")),
                **({"SSEType": sse["SSEType"]} if "SSEType" in sse else {}),
                **({"KMSMasterKeyId": sse["KMSMasterKeyId"]} if "KMSMasterKeyId" in sse else {}),
            }
        table = dynamodb.create_table(**create)["TableDescription"]
        if "TimeToLiveSpecification" in p:
            dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification=p["TimeToLiveSpecification"])
        return name, {"Arn": table["TableArn"]}

    def sns_topic(self, logical_id: str, p: dict[str, Any]) -> tuple[str, dict[str, str]]:
        name = p.get("TopicName") or _physical_name(self.stack_name, logical_id, limit=256)
        attributes = {key: str(p[key]) for key in ("DisplayName", "KmsMasterKeyId") if key in p}
        arn = self.session.client("sns").create_topic(Name=name, Attributes=attributes, Tags=_tags(p))["TopicArn"]
        return arn, {"TopicArn": arn, "TopicName": name}

    def sns_topic_policy(self, logical_id: str, p: dict[str, Any]) -> tuple[str, dict[str, str]]:
        for topic in p["Topics"]:
            self.session.client("sns").set_topic_attributes(
                TopicArn=topic, AttributeName="Policy", AttributeValue=json.dumps(p["PolicyDocument"])
            )
        return logical_id, {}

    def sns_subscription(self, logical_id: str, p: dict[str, Any]) -> tuple[str, dict[str, str]]:
        arn = self.session.client("sns").subscribe(
            TopicArn=p["TopicArn"], Protocol=p["Protocol"], Endpoint=p["Endpoint"]
        )["SubscriptionArn"]
        return arn, {}

    def sqs_queue(self, logical_id: str, p: dict[str, Any]) -> tuple[str, dict[str, str]]:
        name = p.get("QueueName") or _physical_name(self.stack_name, logical_id, limit=80)
        attributes = {
            key: str(p[key]).lower() if isinstance(p[key], bool) else str(p[key])
            for key in ("MessageRetentionPeriod", "KmsMasterKeyId", "SqsManagedSseEnabled", "VisibilityTimeout")
            if key in p
        }
        url = self.session.client("sqs").create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        arn = self.arn("sqs", name)
        return url, {"Arn": arn, "QueueName": name, "QueueUrl": url}

    def sqs_queue_policy(self, logical_id: str, p: dict[str, Any]) -> tuple[str, dict[str, str]]:
        for url in p["Queues"]:
            self.session.client("sqs").set_queue_attributes(
                QueueUrl=url, Attributes={"Policy": json.dumps(p["PolicyDocument"])}
            )
        return logical_id, {}

    def lambda_function(self, logical_id: str, p: dict[str, Any]) -> tuple[str, dict[str, str]]:
        name = p.get("FunctionName") or _physical_name(self.stack_name, logical_id)
        function = self.session.client("lambda").create_function(
            FunctionName=name,
            Runtime=p["Runtime"],
            Role=p["Role"],
            Handler=p["Handler"],
            # moto needs a zip; the code that runs is the real handler, in-process (offline/lambdas.py).
            Code={"ZipFile": _EMPTY_ZIP},
            Description=p.get("Description", ""),
            Timeout=int(p.get("Timeout", 3)),
            MemorySize=int(p.get("MemorySize", 128)),
            Environment=p.get("Environment", {"Variables": {}}),
            Tags={tag["Key"]: tag["Value"] for tag in _tags(p)},
        )
        return name, {"Arn": function["FunctionArn"]}

    def state_machine(self, logical_id: str, p: dict[str, Any]) -> tuple[str, dict[str, str]]:
        name = p.get("StateMachineName") or _physical_name(self.stack_name, logical_id, limit=80)
        arn = self.session.client("stepfunctions").create_state_machine(
            name=name, definition=p["DefinitionString"], roleArn=p["RoleArn"]
        )["stateMachineArn"]
        return arn, {"Arn": arn, "Name": name}

    def schedule(self, logical_id: str, p: dict[str, Any]) -> tuple[str, dict[str, str]]:
        name = p.get("Name") or _physical_name(self.stack_name, logical_id)
        create = {key[0].upper() + key[1:]: value for key, value in p.items()}
        create["Name"] = name
        arn = self.session.client("scheduler").create_schedule(**create)["ScheduleArn"]
        return name, {"Arn": arn}

    def events_rule(self, logical_id: str, p: dict[str, Any]) -> tuple[str, dict[str, str]]:
        events = self.session.client("events")
        name = p.get("Name") or _physical_name(self.stack_name, logical_id)
        rule: dict[str, Any] = {"Name": name, "State": p.get("State", "ENABLED")}
        for key in ("EventPattern", "ScheduleExpression", "Description", "EventBusName"):
            if key in p:
                rule[key] = json.dumps(p[key]) if key == "EventPattern" else p[key]
        arn = events.put_rule(**rule)["RuleArn"]
        if p.get("Targets"):
            events.put_targets(Rule=name, EventBusName=p.get("EventBusName", "default"), Targets=p["Targets"])
        return name, {"Arn": arn}

    def alarm(self, logical_id: str, p: dict[str, Any]) -> tuple[str, dict[str, str]]:
        name = p.get("AlarmName") or _physical_name(self.stack_name, logical_id, limit=255)
        alarm = {key: value for key, value in p.items() if key != "AlarmName"}
        for key in ("Period", "EvaluationPeriods", "DatapointsToAlarm"):
            if key in alarm:
                alarm[key] = int(alarm[key])
        if "Threshold" in alarm:
            alarm["Threshold"] = float(alarm["Threshold"])
        self.session.client("cloudwatch").put_metric_alarm(AlarmName=name, **alarm)
        return name, {"Arn": self.arn("cloudwatch", f"alarm:{name}")}


_TLS_CONDITIONS = {("Bool", "aws:SecureTransport"), ("NumericLessThan", "s3:TlsVersion")}


def _only_about_tls(statement: Mapping[str, Any]) -> bool:
    conditions = statement.get("Condition", {})
    keys = {(operator, key) for operator, values in conditions.items() for key in values}
    return statement.get("Effect") == "Deny" and bool(keys) and keys <= _TLS_CONDITIONS


def _lifecycle_rule(rule: dict[str, Any]) -> dict[str, Any]:
    """A CloudFormation lifecycle rule in the S3 API's shape (the two spell most fields differently)."""
    api: dict[str, Any] = {
        "ID": rule.get("Id", "rule"),
        "Status": rule["Status"],
        "Filter": {"Prefix": rule.get("Prefix", "")},
    }
    if "AbortIncompleteMultipartUpload" in rule:
        api["AbortIncompleteMultipartUpload"] = {
            "DaysAfterInitiation": int(rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"])
        }
    if "ExpirationInDays" in rule:
        api["Expiration"] = {"Days": int(rule["ExpirationInDays"])}
    if "ExpiredObjectDeleteMarker" in rule:
        api["Expiration"] = {"ExpiredObjectDeleteMarker": bool(rule["ExpiredObjectDeleteMarker"])}
    if "NoncurrentVersionExpiration" in rule:
        api["NoncurrentVersionExpiration"] = {
            "NoncurrentDays": int(rule["NoncurrentVersionExpiration"]["NoncurrentDays"])
        }
    if "Transitions" in rule:
        api["Transitions"] = [
            {"Days": int(t["TransitionInDays"]), "StorageClass": t["StorageClass"]} for t in rule["Transitions"]
        ]
    return api


_EMPTY_ZIP = bytes.fromhex("504b0506" + "00" * 18)  # an empty zip archive (the end-of-central-directory record)

_CREATORS: dict[str, Callable[[_Creator, str, dict[str, Any]], tuple[str, dict[str, str]]]] = {
    "AWS::KMS::Key": _Creator.kms_key,
    "AWS::KMS::Alias": _Creator.kms_alias,
    "AWS::IAM::Role": _Creator.iam_role,
    "AWS::IAM::Policy": _Creator.iam_policy,
    "AWS::Logs::LogGroup": _Creator.log_group,
    "AWS::S3::Bucket": _Creator.s3_bucket,
    "AWS::S3::BucketPolicy": _Creator.s3_bucket_policy,
    "AWS::DynamoDB::Table": _Creator.dynamodb_table,
    "AWS::SNS::Topic": _Creator.sns_topic,
    "AWS::SNS::TopicPolicy": _Creator.sns_topic_policy,
    "AWS::SNS::Subscription": _Creator.sns_subscription,
    "AWS::SQS::Queue": _Creator.sqs_queue,
    "AWS::SQS::QueuePolicy": _Creator.sqs_queue_policy,
    "AWS::Lambda::Function": _Creator.lambda_function,
    "AWS::StepFunctions::StateMachine": _Creator.state_machine,
    "AWS::Scheduler::Schedule": _Creator.schedule,
    "AWS::Events::Rule": _Creator.events_rule,
    "AWS::CloudWatch::Alarm": _Creator.alarm,
}


def create_stack(template: Template, session: Any, *, stack_name: str, account: str) -> EmulatedStack:
    """Every resource of `template` on moto (which must be active), in dependency order."""
    unknown = sorted({r["Type"] for r in template.resources.values()} - set(_CREATORS) - set(NOT_EMULATED))
    if unknown:
        raise SmokejumperError(
            f"the offline runner does not know how to create {', '.join(unknown)}",
            hint="add a creator (or a reason not to create it) in smokejumper/offline/stack.py",
        )
    resolver = Resolver(account=account, region=session.region_name)
    stack = EmulatedStack(template, resolver, session)

    def placeholder(logical_id: str, attribute: str | None) -> str:
        # A resource left out offline (NOT_EMULATED) still has a Ref and attributes others name.
        if logical_id not in stack.skipped:
            raise UnresolvableError(f"{logical_id}{'.' + attribute if attribute else ''} is not created yet")
        return f"offline-placeholder-{logical_id}" + (f"-{attribute}" if attribute else "")

    resolver.missing = placeholder
    creator = _Creator(stack, stack_name)
    for logical_id in creation_order(template):
        resource_type = template.resources[logical_id]["Type"]
        if resource_type in NOT_EMULATED:
            stack.skipped[logical_id] = NOT_EMULATED[resource_type]
            continue
        ref, attributes = _CREATORS[resource_type](creator, logical_id, stack.properties(logical_id))
        resolver.refs[logical_id] = ref
        resolver.attributes.update({(logical_id, name): value for name, value in attributes.items()})
        stack.created[logical_id] = resource_type
    for settle in creator.deferred:
        settle()
    return stack
