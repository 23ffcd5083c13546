"""The AWS side of PRODUCT_STORE=postgres: network, database, proxy, migration, and the functions in the VPC.

Only a stage whose PRODUCT_STORE is postgres gets any of this (its ProductTable
goes: the database replaces it); a DynamoDB stage's template does not change.
What `make package` adds, and why it is built this way:

- Network. By default the template creates a VPC with two private subnets in
  two AZs (RDS and RDS Proxy require two) and no route to the internet: no NAT
  gateway, which would cost more than the endpoints and which nothing here
  needs. A stage can use an existing network instead, in its `infra` settings
  (`vpc_id`, `private_subnet_ids`, `private_route_table_ids`): ids known before
  deploying. Chalice's own `subnet_ids`/`security_group_ids` are refused
  (infra/stage.py): they take literal ids, and the security groups are the
  template's.
- Which functions. Only those that use the product store, and the migration:
  the functions granted on ProductTable in infra/resources.py (api_handler,
  process_product_queue, process_orders: the IAM replay tests keep that set
  exact) get `VpcConfig`, per function. A VPC gives the others nothing and
  would cost their cold starts an interface.
- Endpoints. A function in a VPC reaches no AWS API without them. The template
  adds one per service the in-VPC functions call, derived from their grants
  (infra/grants.py): gateway endpoints (free) for S3 and DynamoDB, interface
  endpoints for SQS, SNS and Secrets Manager. An SQS queue a function only consumes needs none
  (Lambda's event source mapping polls it), STS is never called (Lambda puts
  the role's credentials in the environment, and the template gives the
  order worker its topic's ARN), and X-Ray's active tracing is
  sent by Lambda, not from the VPC.
- Security groups. 5432 only, in a chain: functions -> proxy -> database; the
  database's group allows nothing out. Functions may also open 443: to the
  interface endpoints' group, and to S3 and DynamoDB through their gateway
  endpoints, whose prefix lists CloudFormation cannot look up, hence 443 to
  any address, which from subnets without an internet route reaches only the
  endpoints.
- Database. RDS PostgreSQL, storage encrypted, not public, automated backups,
  deletion protection, and `DeletionPolicy`/`UpdateReplacePolicy: Snapshot`:
  like the tables' Retain, deleting or replacing the stack never loses the
  data, and unlike Retain it does not leave an instance running and billed.
- Password. `ManageMasterUserPassword`: RDS creates the secret (username and
  password), rotates it every 7 days, and nobody handles it.
- RDS Proxy, with secret authentication rather than IAM: the functions read
  the login from PRODUCT_DB_SECRET_ARN, which chalicelib/db/connection.py
  already does (and it reads the secret again after a failed login, so a
  rotation costs one retried request), and verify the proxy's TLS certificate
  with the system trust store. IAM authentication would need a token minted
  for every connection and an rds-db:connect ARN built from the proxy's
  resource id, for nothing this app lacks; the price of secrets is the Secrets
  Manager endpoint. The proxy requires TLS and SCRAM-SHA-256 (pg8000 speaks it).
- Migration. A custom resource invokes `migrate_product_db`
  (chalicelib/db/deploy_migration.py, from inside the VPC) whenever the schema
  version changes, and the functions that use the database depend on it: new
  code never meets an old schema, and a failed migration fails the deploy,
  which rolls back.

In packaging (infra/package.py) this module is two pieces: `resources`, part
of the template built from infra/resources.py, and `place_functions`, the
network step, after the grants. The grants of a function in the VPC (its
network interfaces, the secret) name resources defined here, so infra/iam.py
imports this module; what the grants are comes from infra/grants.py, never
from the policies, so this module does not import infra/iam.py back.
"""
from typing import Any

from infra.grants import CONSUME, SERVICE, function_grants
from infra.resources import PRODUCT_DATABASE, RESOURCES, Queue, product_database_functions
from infra.stage import InfraSettings, Stage

VPC = "ProductVpc"
VPC_CIDR = "10.40.0.0/16"
SUBNETS = {"ProductVpcSubnetA": ("10.40.0.0/20", 0), "ProductVpcSubnetB": ("10.40.16.0/20", 1)}  # CIDR, AZ index
ROUTE_TABLE = "ProductVpcRouteTable"
CLIENT_SG = "ProductDbClientSecurityGroup"
PROXY_SG = "ProductDbProxySecurityGroup"
DB_SG = "ProductDbSecurityGroup"
ENDPOINT_SG = "ProductVpcEndpointSecurityGroup"
SECRETS_SERVICE = "secretsmanager"
SUBNET_GROUP = "ProductDbSubnetGroup"
DB = "ProductDb"
PROXY_ROLE = "ProductDbProxyRole"
PROXY = "ProductDbProxy"
PROXY_TARGETS = "ProductDbProxyTargetGroup"
MIGRATION = "ProductDbMigration"
HTTPS = 443
# The name RDS gives the secrets it manages, for the policy files, which cannot know the ARN.
SECRET_ARN_PATTERN = "arn:aws:secretsmanager:*:*:secret:rds!db-*"
GATEWAY_SERVICES = ("s3", "dynamodb")  # the rest need interface endpoints
# A security group with no egress rule of its own gets "all traffic out"; this one rule means none.
NO_EGRESS = [{"IpProtocol": "icmp", "FromPort": 252, "ToPort": 86, "CidrIp": "255.255.255.255/32",
              "Description": "no egress"}]


def endpoint_id(service: str) -> str:
    return f"{service.title().replace('manager', 'Manager')}VpcEndpoint"


def subnets(settings: InfraSettings) -> list:
    return list(settings.private_subnet_ids) or [{"Ref": subnet} for subnet in SUBNETS]


def sub_name(value) -> str:
    """A subnet (id or Ref) as it is written inside Fn::Sub."""
    return f"${{{value['Ref']}}}" if isinstance(value, dict) else value


def vpc(settings: InfraSettings):
    return settings.vpc_id or {"Ref": VPC}


def route_tables(settings: InfraSettings) -> list:
    return list(settings.private_route_table_ids) or [{"Ref": ROUTE_TABLE}]


def secret_arn() -> dict:
    return {"Fn::GetAtt": [DB, "MasterUserSecret.SecretArn"]}


def group_id(logical_id: str) -> dict:
    return {"Fn::GetAtt": [logical_id, "GroupId"]}


def in_vpc_functions(app) -> list[str]:
    """The functions of the app that use the product database (the migration only where app.py defines it)."""
    defined = {"api_handler", *(s.name for s in app.event_sources), *(f.name for f in app.pure_lambda_functions)}
    return [function for function in product_database_functions() if function in defined]


def endpoint_services(stage: Stage, app) -> list[str]:
    """The AWS services the in-VPC functions call (their grants say which), so the VPC needs an endpoint for each."""
    grants = function_grants(stage, app)
    services = {"secretsmanager", "s3"}  # the database's login; the migration's answer to CloudFormation (S3)
    for function in in_vpc_functions(app):
        for logical_id, actions in grants.get(function, {}).items():
            resource = RESOURCES[logical_id]
            if isinstance(resource, Queue) and actions <= set(CONSUME):
                continue  # polled by Lambda's event source mapping, outside the VPC
            services.add(SERVICE[type(resource)])
    return sorted(services)


def connection_environment() -> dict[str, Any]:
    """What chalicelib/db/connection.py reads, from the stack's resources: the proxy and the secret."""
    return {
        "PRODUCT_DB_HOST": {"Fn::GetAtt": [PROXY, "Endpoint"]},
        "PRODUCT_DB_PORT": str(PRODUCT_DATABASE.port),
        "PRODUCT_DB_NAME": PRODUCT_DATABASE.name,
        "PRODUCT_DB_SECRET_ARN": secret_arn(),  # username and password; the host is the proxy's
        "PRODUCT_DB_SSL": "verify",  # RDS Proxy's certificate is in the system trust store
    }


def resources(stage: Stage, app) -> tuple[dict, dict]:
    """Resources and outputs of the product database and its network; none for a DynamoDB stage."""
    if not stage.has_product_database:
        return {}, {}
    settings = stage.settings
    prefix = f"{stage.app_name}-{stage.name}"
    port = PRODUCT_DATABASE.port
    found: dict[str, dict] = {}
    if not settings.vpc_id:
        found[VPC] = {"Type": "AWS::EC2::VPC", "Properties": {
            "CidrBlock": VPC_CIDR, "EnableDnsSupport": True, "EnableDnsHostnames": True,  # private DNS endpoints
            "Tags": [{"Key": "Name", "Value": f"{prefix}-products"}]}}
        found[ROUTE_TABLE] = {"Type": "AWS::EC2::RouteTable", "Properties": {"VpcId": {"Ref": VPC}}}
        for subnet, (cidr, az) in SUBNETS.items():
            found[subnet] = {"Type": "AWS::EC2::Subnet", "Properties": {
                "VpcId": {"Ref": VPC}, "CidrBlock": cidr, "MapPublicIpOnLaunch": False,
                "AvailabilityZone": {"Fn::Select": [az, {"Fn::GetAZs": ""}]},
                "Tags": [{"Key": "Name", "Value": f"{prefix}-products-private-{'ab'[az]}"}]}}
            found[f"{subnet}RouteTable"] = {"Type": "AWS::EC2::SubnetRouteTableAssociation", "Properties": {
                "SubnetId": {"Ref": subnet}, "RouteTableId": {"Ref": ROUTE_TABLE}}}

    def group(logical_id: str, description: str, ingress: list, egress: list) -> None:
        properties = {"GroupDescription": description, "VpcId": vpc(settings), "SecurityGroupEgress": egress}
        if ingress:
            properties["SecurityGroupIngress"] = ingress
        found[logical_id] = {"Type": "AWS::EC2::SecurityGroup", "Properties": properties}

    group(CLIENT_SG, "Functions that use the product database", [],
          [{"IpProtocol": "tcp", "FromPort": HTTPS, "ToPort": HTTPS, "CidrIp": "0.0.0.0/0",
            "Description": "AWS APIs through the VPC endpoints (no internet route)"}])
    group(PROXY_SG, "RDS Proxy of the product database",
          [{"IpProtocol": "tcp", "FromPort": port, "ToPort": port, "SourceSecurityGroupId": group_id(CLIENT_SG),
            "Description": "the functions"}],
          [{"IpProtocol": "tcp", "FromPort": port, "ToPort": port, "DestinationSecurityGroupId": group_id(DB_SG),
            "Description": "the database"}])
    group(DB_SG, "The product database: the proxy only", [], NO_EGRESS)
    # Separate rules where groups name each other both ways (inline, the groups would depend on each other).
    found["ProductDbClientToProxy"] = {"Type": "AWS::EC2::SecurityGroupEgress", "Properties": {
        "GroupId": group_id(CLIENT_SG), "IpProtocol": "tcp", "FromPort": port, "ToPort": port,
        "DestinationSecurityGroupId": group_id(PROXY_SG), "Description": "the proxy"}}
    found["ProductDbFromProxy"] = {"Type": "AWS::EC2::SecurityGroupIngress", "Properties": {
        "GroupId": group_id(DB_SG), "IpProtocol": "tcp", "FromPort": port, "ToPort": port,
        "SourceSecurityGroupId": group_id(PROXY_SG), "Description": "the proxy"}}

    if settings.vpc_endpoints:
        services = endpoint_services(stage, app)
        if any(s not in GATEWAY_SERVICES for s in services):
            group(ENDPOINT_SG, "Interface endpoints of the product database VPC",
                  [{"IpProtocol": "tcp", "FromPort": HTTPS, "ToPort": HTTPS, "SourceSecurityGroupId":
                    group_id(CLIENT_SG), "Description": "the functions"}], NO_EGRESS)
        for service in services:
            properties = {"VpcId": vpc(settings), "ServiceName": {"Fn::Sub": f"com.amazonaws.${{AWS::Region}}.{service}"}}
            if service in GATEWAY_SERVICES:
                properties.update(VpcEndpointType="Gateway", RouteTableIds=route_tables(settings))
            else:
                properties.update(VpcEndpointType="Interface", PrivateDnsEnabled=True, SubnetIds=subnets(settings),
                                  SecurityGroupIds=[group_id(ENDPOINT_SG)])
            found[endpoint_id(service)] = {"Type": "AWS::EC2::VPCEndpoint", "Properties": properties}
        if SECRETS_SERVICE in services:
            # The proxy reads the database's login from Secrets Manager; from subnets without an internet
            # route that can only be through the endpoint (two rules: inline, the groups would name each other).
            found["ProductDbProxyToEndpoints"] = {"Type": "AWS::EC2::SecurityGroupEgress", "Properties": {
                "GroupId": group_id(PROXY_SG), "IpProtocol": "tcp", "FromPort": HTTPS, "ToPort": HTTPS,
                "DestinationSecurityGroupId": group_id(ENDPOINT_SG), "Description": "Secrets Manager's endpoint"}}
            found["ProductVpcEndpointsFromProxy"] = {"Type": "AWS::EC2::SecurityGroupIngress", "Properties": {
                "GroupId": group_id(ENDPOINT_SG), "IpProtocol": "tcp", "FromPort": HTTPS, "ToPort": HTTPS,
                "SourceSecurityGroupId": group_id(PROXY_SG), "Description": "the proxy"}}

    found[SUBNET_GROUP] = {"Type": "AWS::RDS::DBSubnetGroup", "Properties": {
        "DBSubnetGroupDescription": f"{prefix} product database", "SubnetIds": subnets(settings)}}
    snapshot = {"DeletionPolicy": "Snapshot", "UpdateReplacePolicy": "Snapshot"}
    found[DB] = {"Type": "AWS::RDS::DBInstance", **snapshot, "Properties": {
        "Engine": "postgres", "EngineVersion": settings.product_db_engine_version,
        "DBInstanceClass": settings.product_db_instance_class,
        "AllocatedStorage": str(settings.product_db_storage_gb),
        "MaxAllocatedStorage": settings.product_db_max_storage_gb, "StorageType": "gp3",
        "StorageEncrypted": True, "PubliclyAccessible": False, "MultiAZ": settings.product_db_multi_az,
        "DBName": PRODUCT_DATABASE.name, "Port": str(port),
        "MasterUsername": PRODUCT_DATABASE.master_username, "ManageMasterUserPassword": True,
        "DBSubnetGroupName": {"Ref": SUBNET_GROUP}, "VPCSecurityGroups": [group_id(DB_SG)],
        "BackupRetentionPeriod": settings.product_db_backup_retention_days,
        "DeletionProtection": settings.product_db_deletion_protection,
        "CopyTagsToSnapshot": True, "AutoMinorVersionUpgrade": True,
    }}
    if "." not in settings.product_db_engine_version:
        # A major version alone makes RDS pick that major's current default minor, and never goes stale as a
        # pinned minor does; cfn-lint 1.58 lists bare majors as deprecated (see its issue 3849 on E3691).
        found[DB]["Metadata"] = {"cfn-lint": {"config": {"ignore_checks": ["W3691"]}}}
    found[PROXY_ROLE] = {"Type": "AWS::IAM::Role", "Properties": {
        "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Service": "rds.amazonaws.com"}, "Action": "sts:AssumeRole"}]},
        # The secret is encrypted with Secrets Manager's AWS managed key, whose key policy lets the
        # account's principals decrypt through Secrets Manager: no kms grant needed.
        "Policies": [{"PolicyName": "ReadProductDbSecret", "PolicyDocument": {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": ["secretsmanager:GetSecretValue"], "Resource": [secret_arn()]}]}}],
    }}
    found[PROXY] = {"Type": "AWS::RDS::DBProxy", "Properties": {
        "DBProxyName": f"{prefix}-products", "EngineFamily": "POSTGRESQL", "RoleArn": {"Fn::GetAtt": [PROXY_ROLE, "Arn"]},
        "Auth": [{"AuthScheme": "SECRETS", "SecretArn": secret_arn(), "IAMAuth": "DISABLED",
                  "ClientPasswordAuthType": "POSTGRES_SCRAM_SHA_256"}],
        "RequireTLS": True, "IdleClientTimeout": 1800,
        "VpcSubnetIds": subnets(settings), "VpcSecurityGroupIds": [group_id(PROXY_SG)],
    }}
    found[PROXY_TARGETS] = {"Type": "AWS::RDS::DBProxyTargetGroup", "Properties": {
        "DBProxyName": {"Ref": PROXY}, "TargetGroupName": "default", "DBInstanceIdentifiers": [{"Ref": DB}],
        # Room for a person with psql beside the proxy's pool.
        "ConnectionPoolConfigurationInfo": {"MaxConnectionsPercent": 90},
    }}
    outputs = {
        "ProductDbProxyEndpoint": {"Value": {"Fn::GetAtt": [PROXY, "Endpoint"]}},
        "ProductDbSecretArn": {"Value": secret_arn(),
                               "Description": "aws secretsmanager get-secret-value --secret-id <this>"},
        "ProductDbInstance": {"Value": {"Ref": DB}},
        "ProductVpcId": {"Value": vpc(settings)},
    }
    return found, outputs


def place_functions(template: dict, stage: Stage, app, functions: dict[str, str]) -> list[str]:
    """Put the functions that use the database in its VPC, with its environment, after its migration.

    `functions` maps the template's logical ids to Chalice's function names. Returns the logical ids
    placed; a DynamoDB stage's template is left as it is."""
    if not stage.has_product_database:
        return []
    from chalicelib.db.migrate import MIGRATIONS
    settings = stage.settings
    by_name = {name: logical_id for logical_id, name in functions.items()}
    if PRODUCT_DATABASE.migrate_function not in by_name:
        raise SystemExit(f"stage {stage.name} keeps products in PostgreSQL, but app.py defines no "
                         f"{PRODUCT_DATABASE.migrate_function} to migrate its schema on deploy")
    configured = sorted(set(connection_environment()) & set(stage.environment))
    if configured:
        raise SystemExit(f"stage {stage.name}: {', '.join(configured)} come from the stack (the proxy and the "
                         "secret) on a postgres stage: remove them from .chalice/config.json")
    declared = template["Resources"]
    migration = by_name[PRODUCT_DATABASE.migrate_function]
    declared[MIGRATION] = {
        "Type": "Custom::ProductDbMigration",
        # Its answer travels through the S3 endpoint, its login through Secrets Manager's, to the proxy's target.
        # And the subnets' route table (the gateway endpoints' routes): deleted before the migration's own
        # Delete, its answer could not leave the VPC and the stack would wait out the service timeout.
        "DependsOn": [PROXY_TARGETS, *sorted(lid for lid, r in declared.items()
                                             if r["Type"] in ("AWS::EC2::VPCEndpoint",
                                                              "AWS::EC2::SubnetRouteTableAssociation"))],
        "Properties": {
            "ServiceToken": {"Fn::GetAtt": [migration, "Arn"]},
            # An answer that never comes fails the deploy in 10 minutes rather than CloudFormation's hour.
            "ServiceTimeout": 600,
            # A new step changes this, and only then does CloudFormation invoke the migration again.
            "SchemaVersion": str(MIGRATIONS[-1][0]),
        },
    }
    placed = []
    for function in in_vpc_functions(app):
        logical_id = by_name[function]
        properties = declared[logical_id]["Properties"]
        properties["VpcConfig"] = {"SecurityGroupIds": [group_id(CLIENT_SG)], "SubnetIds": subnets(settings)}
        properties.setdefault("Environment", {}).setdefault("Variables", {}).update(connection_environment())
        if logical_id != migration:  # the new schema first, then the code that needs it
            depends = declared[logical_id].get("DependsOn", [])
            declared[logical_id]["DependsOn"] = [*([depends] if isinstance(depends, str) else depends), MIGRATION]
        placed.append(logical_id)
    return placed

