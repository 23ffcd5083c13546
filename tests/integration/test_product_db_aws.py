"""A postgres stage's package: its VPC, database, proxy, endpoints, grants and migration; DynamoDB stages untouched.

The stage packaged here is `pg` (tests/integration/test_packaging.py VARIANTS):
dev with PRODUCT_STORE=postgres, in a copy of the project, as a user's own
postgres stage would be. What moto's CloudFormation can deploy of it is in
test_product_db_aws_moto.py; the calls its functions make, against its
policies, in test_product_db_aws_iam.py.
"""
import copy
import json

import pytest

from chalicelib.db.migrate import MIGRATIONS
from infra import iam, product_db
from infra.cloudformation import functions
from infra.resources import PRODUCT_DATABASE
from infra.stage import Stage
from tests.integration.test_packaging import packaged, resolve_sub, stage_environment, variant

IN_VPC = {"APIHandler", "ProcessProductQueue", "ProcessOrders", "MigrateProductDb"}
SUBNETS = [{"Ref": "ProductVpcSubnetA"}, {"Ref": "ProductVpcSubnetB"}]
CLIENT_SG = {"Fn::GetAtt": ["ProductDbClientSecurityGroup", "GroupId"]}
SECRET = {"Fn::GetAtt": ["ProductDb", "MasterUserSecret.SecretArn"]}
AWS_TYPES = ("AWS::EC2::", "AWS::RDS::", "AWS::SecretsManager::", "Custom::")


@pytest.fixture(scope="module")
def template():
    return json.loads(packaged("pg").read_text())


def resources_of(template, prefix):
    return {lid: r for lid, r in template["Resources"].items() if r["Type"].startswith(prefix)}


def statements(template, logical_id):
    role = template["Resources"][logical_id]["Properties"]["Role"]["Fn::GetAtt"][0]
    return template["Resources"][role]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]


def test_exactly_the_functions_that_use_products_are_in_the_vpc(template):
    placed = {lid for lid, r in template["Resources"].items() if "VpcConfig" in r.get("Properties", {})}
    assert placed == IN_VPC
    # The rule behind the set: the functions granted on the table the database replaces, and the migration.
    by_name = {name: lid for lid, name in functions(template).items()}
    stage = variant("pg")
    with stage_environment(stage):
        assert {by_name[f] for f in product_db.in_vpc_functions(stage.load_app())} == IN_VPC
    for logical_id in IN_VPC:
        assert template["Resources"][logical_id]["Properties"]["VpcConfig"] == {
            "SecurityGroupIds": [CLIENT_SG], "SubnetIds": SUBNETS}


def test_the_in_vpc_functions_reach_the_database_through_the_proxy_with_the_rds_secret(template):
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        variables = resource["Properties"]["Environment"]["Variables"]
        assert variables["PRODUCT_STORE"] == "postgres"
        database = {k: v for k, v in variables.items() if k.startswith("PRODUCT_DB_")}
        if logical_id in IN_VPC:
            assert database == {"PRODUCT_DB_HOST": {"Fn::GetAtt": ["ProductDbProxy", "Endpoint"]},
                                "PRODUCT_DB_PORT": "5432", "PRODUCT_DB_NAME": "catalog",
                                "PRODUCT_DB_SECRET_ARN": SECRET, "PRODUCT_DB_SSL": "verify"}
        else:
            assert database == {}, logical_id


def test_the_database_is_private_encrypted_protected_and_kept_as_a_snapshot(template):
    resources = template["Resources"]
    db = resources["ProductDb"]
    assert (db["DeletionPolicy"], db["UpdateReplacePolicy"]) == ("Snapshot", "Snapshot")
    properties, settings = db["Properties"], variant("pg").settings
    assert properties["StorageEncrypted"] is True and properties["PubliclyAccessible"] is False
    assert properties["DeletionProtection"] is settings.product_db_deletion_protection is True
    assert properties["ManageMasterUserPassword"] is True and "MasterUserPassword" not in properties
    assert (properties["Engine"], properties["EngineVersion"], properties["DBInstanceClass"]) == (
        "postgres", settings.product_db_engine_version, settings.product_db_instance_class)
    assert properties["AllocatedStorage"] == str(settings.product_db_storage_gb)
    assert properties["BackupRetentionPeriod"] == settings.product_db_backup_retention_days > 0
    assert properties["DBName"] == PRODUCT_DATABASE.name
    assert properties["VPCSecurityGroups"] == [{"Fn::GetAtt": ["ProductDbSecurityGroup", "GroupId"]}]
    assert resources["ProductDbSubnetGroup"]["Properties"]["SubnetIds"] == SUBNETS
    # Two subnets in two different zones: RDS and RDS Proxy refuse fewer.
    zones = [resources[s["Ref"]]["Properties"]["AvailabilityZone"]["Fn::Select"][0] for s in SUBNETS]
    assert sorted(zones) == [0, 1]
    for subnet in SUBNETS:
        assert resources[subnet["Ref"]]["Properties"]["MapPublicIpOnLaunch"] is False
    associations = {(r["Properties"]["SubnetId"]["Ref"], r["Properties"]["RouteTableId"]["Ref"])
                     for r in resources.values() if r["Type"] == "AWS::EC2::SubnetRouteTableAssociation"}
    assert associations == {(s["Ref"], "ProductVpcRouteTable") for s in SUBNETS}
    # No route out: the route table has no routes of its own, and nothing makes an internet or NAT gateway.
    assert not [lid for lid, r in resources.items()
                if r["Type"] in ("AWS::EC2::Route", "AWS::EC2::InternetGateway", "AWS::EC2::NatGateway")]
    assert "ProductTable" not in resources  # the database replaces it


def test_the_proxy_logs_in_with_the_rds_managed_secret_and_requires_tls(template):
    resources = template["Resources"]
    proxy = resources["ProductDbProxy"]["Properties"]
    assert proxy["Auth"] == [{"AuthScheme": "SECRETS", "SecretArn": SECRET, "IAMAuth": "DISABLED",
                              "ClientPasswordAuthType": "POSTGRES_SCRAM_SHA_256"}]
    assert proxy["RequireTLS"] is True and proxy["EngineFamily"] == "POSTGRESQL"
    assert proxy["VpcSubnetIds"] == SUBNETS
    assert proxy["VpcSecurityGroupIds"] == [{"Fn::GetAtt": ["ProductDbProxySecurityGroup", "GroupId"]}]
    assert resources["ProductDbProxyTargetGroup"]["Properties"]["DBInstanceIdentifiers"] == [{"Ref": "ProductDb"}]
    role = resources[proxy["RoleArn"]["Fn::GetAtt"][0]]["Properties"]
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": "rds.amazonaws.com"}
    [policy] = role["Policies"]
    assert policy["PolicyDocument"]["Statement"] == [
        {"Effect": "Allow", "Action": ["secretsmanager:GetSecretValue"], "Resource": [SECRET]}]


def rules(template):
    """Every security group rule of the stack as (group, direction, protocol, port, peer), inline or not."""
    found = set()

    def add(group, direction, rule):
        peer = rule.get("SourceSecurityGroupId") or rule.get("DestinationSecurityGroupId") or rule.get("CidrIp")
        peer = peer["Fn::GetAtt"][0] if isinstance(peer, dict) else peer
        found.add((group, direction, rule["IpProtocol"], rule.get("FromPort"), rule.get("ToPort"), peer))
    for lid, resource in template["Resources"].items():
        properties = resource.get("Properties", {})
        if resource["Type"] == "AWS::EC2::SecurityGroup":
            for rule in properties.get("SecurityGroupIngress", []):
                add(lid, "in", rule)
            for rule in properties.get("SecurityGroupEgress", []):
                add(lid, "out", rule)
        elif resource["Type"] in ("AWS::EC2::SecurityGroupIngress", "AWS::EC2::SecurityGroupEgress"):
            add(properties["GroupId"]["Fn::GetAtt"][0], "in" if resource["Type"].endswith("Ingress") else "out",
                properties)
    return found


def test_security_groups_allow_functions_to_proxy_to_database_on_5432_and_nothing_else(template):
    client, proxy, db, endpoints = ("ProductDbClientSecurityGroup", "ProductDbProxySecurityGroup",
                                    "ProductDbSecurityGroup", "ProductVpcEndpointSecurityGroup")
    nothing = ("icmp", 252, 86, "255.255.255.255/32")  # a rule no packet matches: no egress at all
    assert rules(template) == {
        (client, "out", "tcp", 5432, 5432, proxy),
        (client, "out", "tcp", 443, 443, "0.0.0.0/0"),  # the endpoints; the subnets have no other route
        (proxy, "in", "tcp", 5432, 5432, client),
        (proxy, "out", "tcp", 5432, 5432, db),
        (db, "in", "tcp", 5432, 5432, proxy),
        (db, "out", *nothing),
        (endpoints, "in", "tcp", 443, 443, client),
        (proxy, "out", "tcp", 443, 443, endpoints),  # the proxy reads the login through Secrets Manager's
        (endpoints, "in", "tcp", 443, 443, proxy),
        (endpoints, "out", *nothing),
    }


def test_endpoints_serve_every_service_the_in_vpc_functions_call(template):
    endpoints = {r["Properties"]["ServiceName"]["Fn::Sub"].rsplit(".", 1)[1]: r["Properties"]
                 for r in resources_of(template, "AWS::EC2::VPCEndpoint").values()}
    # api_handler: SQS SendMessage, DynamoDB reads of logs, invoices, orders; the product worker: S3 reports;
    # process_orders: DynamoDB orders, SNS Publish; all: the secret. No STS: Lambda hands out credentials.
    assert set(endpoints) == {"s3", "dynamodb", "sqs", "sns", "secretsmanager"}
    for service, properties in endpoints.items():
        assert properties["VpcId"] == {"Ref": "ProductVpc"}
        if service in ("s3", "dynamodb"):
            assert properties["VpcEndpointType"] == "Gateway"
            assert properties["RouteTableIds"] == [{"Ref": "ProductVpcRouteTable"}]
        else:
            assert properties["VpcEndpointType"] == "Interface" and properties["PrivateDnsEnabled"] is True
            assert properties["SubnetIds"] == SUBNETS
            assert properties["SecurityGroupIds"] == [{"Fn::GetAtt": ["ProductVpcEndpointSecurityGroup", "GroupId"]}]
    vpc = template["Resources"]["ProductVpc"]["Properties"]
    assert vpc["EnableDnsSupport"] is vpc["EnableDnsHostnames"] is True  # private DNS needs both


def test_the_migration_runs_in_the_vpc_before_the_functions_that_need_the_schema(template):
    resources = template["Resources"]
    migration = resources["ProductDbMigration"]
    assert migration["Properties"]["ServiceToken"] == {"Fn::GetAtt": ["MigrateProductDb", "Arn"]}
    assert migration["Properties"]["SchemaVersion"] == str(MIGRATIONS[-1][0])
    endpoints = set(resources_of(template, "AWS::EC2::VPCEndpoint"))
    # the route table associations too: removed first on a delete, the answer could not leave the VPC
    associations = set(resources_of(template, "AWS::EC2::SubnetRouteTableAssociation"))
    assert associations and set(migration["DependsOn"]) == {"ProductDbProxyTargetGroup", *endpoints, *associations}
    assert migration["Properties"]["ServiceTimeout"] <= 900
    for logical_id in IN_VPC - {"MigrateProductDb"}:
        assert "ProductDbMigration" in resources[logical_id]["DependsOn"], logical_id
    # Only on its own log group (infra/hardening.py declares every function's), never on the migration it runs.
    assert set(resources["MigrateProductDb"].get("DependsOn", [])) <= {"MigrateProductDbLogGroup"}
    assert resources["MigrateProductDb"]["Properties"]["Handler"] == "app.migrate_product_db"
    assert resources["MigrateProductDb"]["Properties"]["Timeout"] == 300


def test_only_the_in_vpc_functions_may_read_the_secret_and_manage_network_interfaces(template):
    for logical_id, function in functions(template).items():
        granted = {a for s in statements(template, logical_id) for a in s["Action"]}
        vpc_grants = {a for a in granted if a.startswith(("ec2:", "secretsmanager:"))}
        if logical_id not in IN_VPC:
            assert vpc_grants == set(), function
            continue
        assert vpc_grants == {*iam.ENI_ACTIONS, *iam.ENI_DESCRIBE, "secretsmanager:GetSecretValue"}
        by_sid = {s["Sid"]: s for s in statements(template, logical_id)}
        assert by_sid["ProductDbSecret"]["Resource"] == [SECRET]  # that secret, no other
        ec2 = "arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:"
        assert by_sid["VpcNetworkInterfaces"]["Resource"] == [
            {"Fn::Sub": f"{ec2}network-interface/*"}, {"Fn::Sub": f"{ec2}subnet/${{ProductVpcSubnetA}}"},
            {"Fn::Sub": f"{ec2}subnet/${{ProductVpcSubnetB}}"},
            {"Fn::Sub": f"{ec2}security-group/${{ProductDbClientSecurityGroup.GroupId}}"}]
        assert by_sid["VpcDescribe"]["Resource"] == ["*"]  # EC2's Describe actions have no resource level
        assert set(by_sid["VpcDescribe"]["Action"]) <= iam.STAR_ONLY
        assert "ProductTable" not in json.dumps(statements(template, logical_id))


def test_the_template_policies_are_the_policy_files_once_filled_in(template):
    stage = variant("pg")
    names = {"AWS::Partition": "aws", "AWS::Region": "*", "AWS::AccountId": "*", "NameSuffix": "",
             "ProductVpcSubnetA": "*", "ProductVpcSubnetB": "*", "ProductDbClientSecurityGroup.GroupId": "*",
             "TopicsKey": "*"}
    for logical_id, function in functions(template).items():
        document = resolve_sub(statements(template, logical_id), names)
        for statement in document:
            resources = []
            for resource in statement["Resource"]:
                resource = product_db.SECRET_ARN_PATTERN if resource == SECRET else resource
                if resource not in resources:  # the template's two subnets are one pattern in the file
                    resources.append(resource)
            statement["Resource"] = resources
        on_disk = json.loads((stage.chalice_dir / iam.policy_filename(stage, function)).read_text())
        assert document == on_disk["Statement"], function


def test_dynamodb_stages_get_none_of_it():
    for name in ("dev", "prod"):
        stage = Stage.load(name)
        assert stage.product_store == "dynamodb"
        template = json.loads(packaged(name).read_text())
        assert not [lid for lid, r in template["Resources"].items() if r["Type"].startswith(AWS_TYPES)], name
        assert "ProductTable" in template["Resources"]
        assert set(template["Parameters"]) == {"NameSuffix", "AlarmEmail"}
        for logical_id, resource in template["Resources"].items():
            properties = resource.get("Properties", {})
            assert "VpcConfig" not in properties and "ProductDbMigration" not in resource.get("DependsOn", [])
            text = json.dumps(properties)
            assert "PRODUCT_DB_" not in text and "secretsmanager" not in text and '"ec2:' not in text, logical_id
        assert "MigrateProductDb" not in template["Resources"]
        assert not [o for o in template["Outputs"] if o.startswith(("ProductDb", "ProductVpc"))]
    # And the code that adds it does nothing to a DynamoDB stage's template.
    stage = Stage.load("dev")
    app = stage.load_app()
    before = json.loads(packaged("dev").read_text())
    after = copy.deepcopy(before)
    assert product_db.resources(stage, app) == ({}, {})
    assert product_db.place_functions(after, stage, app, functions(after)) == []
    assert after == before


def stage_with(settings: dict, name: str = "pg", **stage_keys) -> Stage:
    stage = variant(name)
    config = copy.deepcopy(stage.config)
    config["stages"][name] = {**config["stages"][name], **stage_keys,
                              "infra": {**config["stages"][name].get("infra", {}), **settings}}
    return Stage(name, config, stage.project_dir)


def test_an_existing_network_is_used_instead_of_a_created_one():
    stage = stage_with({"vpc_id": "vpc-0abc", "private_subnet_ids": ["subnet-1", "subnet-2"],
                        "private_route_table_ids": ["rtb-9"]})
    with stage_environment(stage):
        app = stage.load_app()
        found, outputs = product_db.resources(stage, app)
        document = iam.policy_document(stage, "process_orders", {}, cfn=True)
        on_disk = iam.policy_document(stage, "process_orders", {})
    assert not [lid for lid, r in found.items() if r["Type"] in
                ("AWS::EC2::VPC", "AWS::EC2::Subnet", "AWS::EC2::RouteTable")]
    for resource in found.values():
        if "VpcId" in resource["Properties"]:
            assert resource["Properties"]["VpcId"] == "vpc-0abc"
    assert found["ProductDbSubnetGroup"]["Properties"]["SubnetIds"] == ["subnet-1", "subnet-2"]
    assert found["ProductDbProxy"]["Properties"]["VpcSubnetIds"] == ["subnet-1", "subnet-2"]
    assert found["S3VpcEndpoint"]["Properties"]["RouteTableIds"] == ["rtb-9"]
    assert found["SqsVpcEndpoint"]["Properties"]["SubnetIds"] == ["subnet-1", "subnet-2"]
    assert outputs["ProductVpcId"] == {"Value": "vpc-0abc"}
    [create] = [s for s in document["Statement"] if s["Sid"] == "VpcNetworkInterfaces"]
    assert {"Fn::Sub": "arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:subnet/subnet-1"} \
        in create["Resource"]
    [create] = [s for s in on_disk["Statement"] if s["Sid"] == "VpcNetworkInterfaces"]
    assert "arn:aws:ec2:*:*:subnet/subnet-2" in create["Resource"]  # known ids are named in the file too
    # A VPC that already has its endpoints (or a NAT gateway): none are added.
    stage = stage_with({"vpc_id": "vpc-0abc", "private_subnet_ids": ["subnet-1", "subnet-2"],
                        "vpc_endpoints": False})
    with stage_environment(stage):
        found, _ = product_db.resources(stage, stage.load_app())
    assert not [r for r in found.values() if r["Type"] == "AWS::EC2::VPCEndpoint"]


@pytest.mark.parametrize("settings, stage_keys, message", [
    ({"vpc_id": "vpc-0abc"}, {}, "two or more"),
    ({"vpc_id": "vpc-0abc", "private_subnet_ids": ["subnet-1"]}, {}, "two or more"),
    ({"private_subnet_ids": ["subnet-1", "subnet-2"]}, {}, "infra.vpc_id"),
    ({"vpc_id": "vpc-0abc", "private_subnet_ids": ["subnet-1", "subnet-2"]}, {}, "private_route_table_ids"),
    ({}, {"subnet_ids": ["subnet-1"]}, "subnet_ids in the stage"),
    ({}, {"lambda_functions": {"api_handler": {"security_group_ids": ["sg-1"]}}}, "lambda_functions.api_handler"),
])
def test_a_network_setting_that_cannot_work_is_refused_by_name(settings, stage_keys, message):
    with pytest.raises(SystemExit, match=message):
        stage_with(settings, **stage_keys).settings


def test_the_database_size_and_safety_come_from_the_stage_settings():
    stage = stage_with({"product_db_instance_class": "db.m7g.large", "product_db_storage_gb": 50,
                        "product_db_multi_az": True, "product_db_deletion_protection": False,
                        "product_db_engine_version": "16.4"})
    with stage_environment(stage):
        found, _ = product_db.resources(stage, stage.load_app())
    properties = found["ProductDb"]["Properties"]
    assert (properties["DBInstanceClass"], properties["AllocatedStorage"], properties["MultiAZ"],
            properties["DeletionProtection"], properties["EngineVersion"]) == ("db.m7g.large", "50", True, False, "16.4")
    assert found["ProductDb"]["DeletionPolicy"] == "Snapshot"  # whatever the protection setting
    assert "Metadata" not in found["ProductDb"]  # a full version needs no lint exception


def test_the_stack_sets_the_connection_and_a_stage_cannot_set_it_too(template):
    stage = stage_with({})
    stage.config["stages"]["pg"]["environment_variables"]["PRODUCT_DB_HOST"] = "db.example.com"
    with stage_environment(stage), pytest.raises(SystemExit, match="PRODUCT_DB_HOST"):
        product_db.place_functions(copy.deepcopy(template), stage, stage.load_app(), functions(template))


def test_a_postgres_stage_without_the_migration_function_is_refused(template):
    stage = variant("pg")
    broken = copy.deepcopy(template)
    names = {lid: name for lid, name in functions(broken).items() if name != PRODUCT_DATABASE.migrate_function}
    with stage_environment(stage), pytest.raises(SystemExit, match="migrate_product_db"):
        product_db.place_functions(broken, stage, stage.load_app(), names)
