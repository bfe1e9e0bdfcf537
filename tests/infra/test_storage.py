"""The backup bucket, its key and its access-log bucket, as CloudFormation sees them."""

from __future__ import annotations

from aws_cdk.assertions import Match


def buckets_with(built, properties):
    return set(built.template.find_resources("AWS::S3::Bucket", {"Properties": properties}))


def lifecycle_rule(built, logical_id, rule_id):
    rules = built.resource(logical_id)["Properties"]["LifecycleConfiguration"]["Rules"]
    matching = [rule for rule in rules if rule["Id"] == rule_id]
    assert len(matching) == 1, f"lifecycle rule {rule_id!r} in {rules}"
    return matching[0]


def key_id(built):
    (logical_id,) = built.template.find_resources("AWS::KMS::Key")
    return logical_id


def test_both_buckets_are_versioned(example):
    assert buckets_with(example, {"VersioningConfiguration": {"Status": "Enabled"}}) == {
        example.bucket_id,
        example.access_logs_id,
    }


def test_backup_bucket_is_encrypted_with_the_stack_key_and_a_bucket_key(example):
    encryption = {
        "ServerSideEncryptionConfiguration": [
            {
                "BucketKeyEnabled": True,
                "ServerSideEncryptionByDefault": {
                    "SSEAlgorithm": "aws:kms",
                    "KMSMasterKeyID": {"Fn::GetAtt": [key_id(example), "Arn"]},
                },
            }
        ]
    }
    assert buckets_with(example, {"BucketEncryption": encryption}) == {example.bucket_id}


def test_access_log_bucket_uses_s3_managed_encryption(example):
    # Server access logs cannot be delivered into an SSE-KMS bucket.
    encryption = {"ServerSideEncryptionConfiguration": [{"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]}
    assert buckets_with(example, {"BucketEncryption": encryption}) == {example.access_logs_id}


def test_both_buckets_block_all_public_access(example):
    block_all = {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert buckets_with(example, {"PublicAccessBlockConfiguration": block_all}) == {
        example.bucket_id,
        example.access_logs_id,
    }


def test_both_buckets_deny_requests_without_tls(example):
    for bucket_id in (example.bucket_id, example.access_logs_id):
        example.template.has_resource_properties(
            "AWS::S3::BucketPolicy",
            {
                "Bucket": {"Ref": bucket_id},
                "PolicyDocument": {
                    "Statement": Match.array_with(
                        [
                            Match.object_like(
                                {
                                    "Effect": "Deny",
                                    "Action": "s3:*",
                                    "Principal": {"AWS": "*"},
                                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                                }
                            ),
                            Match.object_like(
                                {
                                    "Effect": "Deny",
                                    "Action": "s3:*",
                                    "Condition": {"NumericLessThan": {"s3:TlsVersion": 1.2}},
                                }
                            ),
                        ]
                    )
                },
            },
        )


def test_backup_bucket_logs_access_to_the_log_bucket(example):
    logging = {"DestinationBucketName": {"Ref": example.access_logs_id}, "LogFilePrefix": "backup-bucket/"}
    assert buckets_with(example, {"LoggingConfiguration": logging}) == {example.bucket_id}
    # S3's log delivery may write there, and only for this bucket.
    example.template.has_resource_properties(
        "AWS::S3::BucketPolicy",
        {
            "Bucket": {"Ref": example.access_logs_id},
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Effect": "Allow",
                                "Action": "s3:PutObject",
                                "Principal": {"Service": "logging.s3.amazonaws.com"},
                                "Condition": Match.object_like(
                                    {"ArnLike": {"aws:SourceArn": {"Fn::GetAtt": [example.bucket_id, "Arn"]}}}
                                ),
                            }
                        )
                    ]
                )
            },
        },
    )


def test_backup_bucket_lifecycle_follows_the_plan(example, example_plan):
    storage = example_plan.storage
    assert lifecycle_rule(example, example.bucket_id, "archive") == {
        "Id": "archive",
        "Status": "Enabled",
        "Transitions": [{"StorageClass": "GLACIER_IR", "TransitionInDays": storage.archive_after_days}],
    }
    assert lifecycle_rule(example, example.bucket_id, "expire-noncurrent-versions") == {
        "Id": "expire-noncurrent-versions",
        "Status": "Enabled",
        "NoncurrentVersionExpiration": {"NoncurrentDays": storage.noncurrent_expire_days},
        "ExpiredObjectDeleteMarker": True,
    }
    assert lifecycle_rule(example, example.bucket_id, "abort-incomplete-uploads") == {
        "Id": "abort-incomplete-uploads",
        "Status": "Enabled",
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
    }


def test_lifecycle_days_change_with_the_plan(plain):
    rule = lifecycle_rule(plain, plain.bucket_id, "expire-noncurrent-versions")
    assert rule["NoncurrentVersionExpiration"] == {"NoncurrentDays": 7}
    rule = lifecycle_rule(plain, plain.access_logs_id, "expire-access-logs")
    assert rule["ExpirationInDays"] == 90


def test_no_archive_rule_when_the_plan_has_none(plain):
    rule_ids = [rule["Id"] for rule in plain.resource(plain.bucket_id)["Properties"]["LifecycleConfiguration"]["Rules"]]
    assert rule_ids == ["abort-incomplete-uploads", "expire-noncurrent-versions"]


def test_access_logs_expire(example, example_plan):
    rule = lifecycle_rule(example, example.access_logs_id, "expire-access-logs")
    assert rule["ExpirationInDays"] == example_plan.storage.access_logs_expire_days
    assert rule["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}


def test_object_lock_compliance_with_the_plans_days(example, example_plan):
    lock = {
        "ObjectLockEnabled": True,
        "ObjectLockConfiguration": {
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": example_plan.storage.object_lock_days}},
        },
    }
    assert buckets_with(example, lock) == {example.bucket_id}


def test_no_object_lock_when_the_plan_has_none(plain):
    properties = plain.resource(plain.bucket_id)["Properties"]
    assert "ObjectLockEnabled" not in properties
    assert "ObjectLockConfiguration" not in properties


def test_created_key_rotates_and_is_retained(example):
    example.template.resource_count_is("AWS::KMS::Key", 1)
    example.template.has_resource(
        "AWS::KMS::Key",
        {
            "Properties": Match.object_like({"EnableKeyRotation": True}),
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
        },
    )
    example.template.has_resource_properties("AWS::KMS::Alias", {"AliasName": "alias/smokejumper/cf-prod"})


def test_both_buckets_are_retained(example):
    for bucket_id in (example.bucket_id, example.access_logs_id):
        resource = example.resource(bucket_id)
        assert (resource["DeletionPolicy"], resource["UpdateReplacePolicy"]) == ("Retain", "Retain")


def test_an_existing_key_is_used_not_created(plain, imported_key_arn):
    plain.template.resource_count_is("AWS::KMS::Key", 0)
    encryption = plain.resource(plain.bucket_id)["Properties"]["BucketEncryption"]
    assert encryption["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "aws:kms",
        "KMSMasterKeyID": imported_key_arn,
    }
    plain.template.has_output("KeyArn", {"Value": imported_key_arn})


def test_bucket_name_from_the_plan_or_generated(example, plain):
    assert "BucketName" not in example.resource(example.bucket_id)["Properties"]
    assert plain.resource(plain.bucket_id)["Properties"]["BucketName"] == "cf-plain-backups"


def test_outputs_name_the_bucket_and_the_key(example):
    example.template.has_output("BucketName", {"Value": {"Ref": example.bucket_id}})
    example.template.has_output("KeyArn", {"Value": {"Fn::GetAtt": [key_id(example), "Arn"]}})


def test_resources_carry_the_plan_tag(example):
    example.template.has_resource_properties(
        "AWS::S3::Bucket", {"Tags": Match.array_with([{"Key": "smokejumper:plan", "Value": "cf-prod"}])}
    )
