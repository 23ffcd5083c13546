"""The postgres stage's network and database deploy on CloudFormation (moto's), as far as moto can model them.

moto 5.2's CloudFormation has no RDS Proxy (AWS::RDS::DBProxy,
DBProxyTargetGroup), does not return an instance's MasterUserSecret, and
skips AWS::EC2::SecurityGroupEgress. So the stack deployed here is the
postgres stage's `resource_template` without the proxy, the proxy's role
and the outputs that name them or the secret (the test checks that exactly
those are left out); they, the egress rules, and the instance properties moto
ignores (VPCSecurityGroups, DeletionProtection, ManageMasterUserPassword; a
subnet's MapPublicIpOnLaunch and route table association, which it keeps
out of DescribeRouteTables) are
checked on the template in test_product_db_aws.py and by cfn-lint. What is
deployed is then read back through the EC2 and RDS APIs.
"""
import json
import warnings

import boto3
import pytest
from moto import mock_aws

from infra.cloudformation import resource_template
from tests.integration.test_packaging import stage_environment, variant

REGION = "us-west-2"
UNSUPPORTED_TYPES = {"AWS::RDS::DBProxy", "AWS::RDS::DBProxyTargetGroup"}
# Left out with them: what refers to them, or to the secret moto's instance does not have.
LEFT_OUT = {"ProductDbProxy", "ProductDbProxyTargetGroup", "ProductDbProxyRole"}
OUTPUTS_LEFT_OUT = {"ProductDbProxyEndpoint", "ProductDbSecretArn"}
SKIPPED_BY_MOTO = {"AWS::CloudWatch::Alarm", "AWS::S3::BucketPolicy", "AWS::EC2::SecurityGroupEgress",
                   # the user pool: proved through cognito-idp's API by test_cfn_moto_stack.py
                   "AWS::Cognito::UserPool", "AWS::Cognito::UserPoolClient", "AWS::Cognito::UserPoolGroup"}


def references(value):
    if isinstance(value, dict):
        if "Ref" in value:
            yield value["Ref"]
        if "Fn::GetAtt" in value:
            yield value["Fn::GetAtt"][0]
        for inner in value.values():
            yield from references(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from references(inner)


def uses_the_secret(value) -> bool:
    return "MasterUserSecret" in json.dumps(value)


def what_moto_models(template: dict) -> tuple[dict, set, set]:
    """The template without what moto cannot create; and the resources and outputs left out."""
    resources = template["Resources"]
    left_out = {lid for lid, r in resources.items() if r["Type"] in UNSUPPORTED_TYPES}
    while True:
        more = {lid for lid, r in resources.items() if lid not in left_out
                and (set(references(r)) & left_out or uses_the_secret(r))}
        if not more:
            break
        left_out |= more
    outputs = {name for name, output in template["Outputs"].items()
               if set(references(output)) & left_out or uses_the_secret(output)}
    kept = {**template, "Resources": {lid: r for lid, r in resources.items() if lid not in left_out},
            "Outputs": {name: o for name, o in template["Outputs"].items() if name not in outputs}}
    return kept, left_out, outputs


@pytest.fixture(scope="module")
def template():
    stage = variant("pg")
    with stage_environment(stage):
        return resource_template(stage, stage.load_app())


@pytest.fixture
def stack(template):
    deployable, left_out, outputs = what_moto_models(template)
    assert (left_out, outputs) == (LEFT_OUT, OUTPUTS_LEFT_OUT)
    with mock_aws():
        cfn = boto3.client("cloudformation", region_name=REGION)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            cfn.create_stack(StackName="async-catalog-pg", TemplateBody=json.dumps(deployable),
                             Parameters=[{"ParameterKey": "NameSuffix", "ParameterValue": "-1-us-west-2"},
                                         {"ParameterKey": "AlarmEmail", "ParameterValue": ""}])
            [described] = cfn.describe_stacks(StackName="async-catalog-pg")["Stacks"]
            physical = {r["LogicalResourceId"]: r["PhysicalResourceId"]
                        for r in cfn.describe_stack_resources(StackName="async-catalog-pg")["StackResources"]
                        if "PhysicalResourceId" in r}  # moto gives none to some (rules, subnet groups)
        assert described["StackStatus"] == "CREATE_COMPLETE", described.get("StackStatusReason")
        skipped = {str(w.message).split("parse ", 1)[1].split(" ", 1)[0] for w in caught
                   if "not supported by moto's CloudFormation" in str(w.message)}
        assert skipped == SKIPPED_BY_MOTO
        yield deployable, physical


def test_the_vpc_has_two_private_subnets_in_two_zones_and_no_way_out(stack):
    _, physical = stack
    ec2 = boto3.client("ec2", region_name=REGION)
    [vpc] = ec2.describe_vpcs(VpcIds=[physical["ProductVpc"]])["Vpcs"]
    assert vpc["CidrBlock"] == "10.40.0.0/16"
    subnets = ec2.describe_subnets(SubnetIds=[physical["ProductVpcSubnetA"], physical["ProductVpcSubnetB"]])["Subnets"]
    assert {s["VpcId"] for s in subnets} == {vpc["VpcId"]}
    assert len({s["AvailabilityZone"] for s in subnets}) == 2
    [table] = ec2.describe_route_tables(RouteTableIds=[physical["ProductVpcRouteTable"]])["RouteTables"]
    assert table["VpcId"] == vpc["VpcId"]
    assert ec2.describe_internet_gateways()["InternetGateways"] == []
    assert ec2.describe_nat_gateways()["NatGateways"] == []
    # Only the gateway endpoints' prefix-list routes beside the VPC's own.
    assert all(r.get("GatewayId", "local") == "local" or r.get("DestinationPrefixListId") for r in table["Routes"])


def test_the_security_groups_admit_5432_only_along_the_chain(stack):
    _, physical = stack
    ec2 = boto3.client("ec2", region_name=REGION)
    client, proxy, db, endpoints = (physical[g] for g in (
        "ProductDbClientSecurityGroup", "ProductDbProxySecurityGroup", "ProductDbSecurityGroup",
        "ProductVpcEndpointSecurityGroup"))

    def ingress(group):
        [described] = ec2.describe_security_groups(GroupIds=[group])["SecurityGroups"]
        return {(p["IpProtocol"], p.get("FromPort"), p.get("ToPort"), pair["GroupId"])
                for p in described["IpPermissions"] for pair in p["UserIdGroupPairs"]} | \
               {(p["IpProtocol"], p.get("FromPort"), p.get("ToPort"), r["CidrIp"])
                for p in described["IpPermissions"] for r in p["IpRanges"]}
    assert ingress(client) == set()
    assert ingress(proxy) == {("tcp", 5432, 5432, client)}
    assert ingress(db) == {("tcp", 5432, 5432, proxy)}
    assert ingress(endpoints) == {("tcp", 443, 443, client), ("tcp", 443, 443, proxy)}


def test_the_endpoints_serve_the_private_subnets(stack):
    _, physical = stack
    ec2 = boto3.client("ec2", region_name=REGION)
    found = {e["ServiceName"].rsplit(".", 1)[1]: e for e in ec2.describe_vpc_endpoints()["VpcEndpoints"]}
    assert set(found) == {"s3", "dynamodb", "sqs", "sns", "secretsmanager"}
    subnets = {physical["ProductVpcSubnetA"], physical["ProductVpcSubnetB"]}
    for service, endpoint in found.items():
        assert endpoint["VpcId"] == physical["ProductVpc"]
        assert endpoint["ServiceName"] == f"com.amazonaws.{REGION}.{service}"
        if service in ("s3", "dynamodb"):
            assert endpoint["VpcEndpointType"] == "Gateway"
            assert endpoint["RouteTableIds"] == [physical["ProductVpcRouteTable"]]
        else:
            assert endpoint["VpcEndpointType"] == "Interface" and endpoint["PrivateDnsEnabled"] is True
            assert set(endpoint["SubnetIds"]) == subnets
            assert [g["GroupId"] for g in endpoint["Groups"]] == [physical["ProductVpcEndpointSecurityGroup"]]


def test_the_database_is_postgres_private_encrypted_in_both_subnets(stack):
    deployable, physical = stack
    rds = boto3.client("rds", region_name=REGION)
    [db] = rds.describe_db_instances(DBInstanceIdentifier=physical["ProductDb"])["DBInstances"]
    declared = deployable["Resources"]["ProductDb"]["Properties"]
    assert (db["Engine"], db["EngineVersion"], db["DBInstanceClass"]) == (
        "postgres", declared["EngineVersion"], declared["DBInstanceClass"])
    assert (db["DBName"], db["MasterUsername"], db["Endpoint"]["Port"]) == ("catalog", "catalog", 5432)
    assert db["StorageEncrypted"] is True and db["PubliclyAccessible"] is False
    assert db["AllocatedStorage"] == int(declared["AllocatedStorage"])
    assert db["BackupRetentionPeriod"] == declared["BackupRetentionPeriod"]
    group = db["DBSubnetGroup"]
    assert group["VpcId"] == physical["ProductVpc"]
    assert {s["SubnetIdentifier"] for s in group["Subnets"]} == {physical["ProductVpcSubnetA"],
                                                                   physical["ProductVpcSubnetB"]}


def test_a_postgres_stack_has_no_product_table(stack):
    deployable, _ = stack
    assert "ProductTable" not in deployable["Resources"]
    tables = boto3.client("dynamodb", region_name=REGION).list_tables()["TableNames"]
    assert "ProductTable" not in tables and "OrdersTable" in tables
