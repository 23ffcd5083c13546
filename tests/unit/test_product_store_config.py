"""Choosing the product store and reaching PostgreSQL: settings, credentials and which failures mean 'unavailable'."""
import json
import uuid
from decimal import Decimal

import pytest
from pg8000.exceptions import DatabaseError, InterfaceError

from chalicelib.catalog.stores import product_repository, product_store_name
from chalicelib.db.connection import config_from_environment, is_unavailable
from chalicelib.errors import Unavailable
from chalicelib.http import json_errors
from chalicelib.settings import MissingSetting

SECRET = {"username": "app", "password": "s3cret", "engine": "postgres", "host": "db.internal", "port": 5432,
          "dbname": "catalog", "dbInstanceIdentifier": "catalog-db"}


@pytest.fixture
def clean_env(monkeypatch):
    for name in ("PRODUCT_STORE", "PRODUCT_DB_HOST", "PRODUCT_DB_PORT", "PRODUCT_DB_NAME", "PRODUCT_DB_USER",
                 "PRODUCT_DB_PASSWORD", "PRODUCT_DB_SECRET_ARN", "PRODUCT_DB_SSL",
                 "PRODUCT_DB_STATEMENT_TIMEOUT_MS", "PRODUCT_DB_CONNECT_TIMEOUT_SECONDS"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.mark.parametrize("value, expected", [(None, "dynamodb"), ("", "dynamodb"), ("dynamodb", "dynamodb"),
                                             ("postgres", "postgres")])
def test_product_store_defaults_to_dynamodb(clean_env, value, expected):
    if value is not None:
        clean_env.setenv("PRODUCT_STORE", value)
    assert product_store_name() == expected


def test_an_unknown_store_is_refused_by_name(clean_env):
    clean_env.setenv("PRODUCT_STORE", "mysql")
    with pytest.raises(MissingSetting, match="PRODUCT_STORE"):
        product_repository()


def test_the_env_var_selects_the_repository_class_without_connecting(clean_env):
    from chalicelib.catalog.postgres import PostgresProductRepository
    from chalicelib.catalog.repository import ProductRepository
    from chalicelib.db import connection
    assert type(product_repository()) is ProductRepository
    clean_env.setenv("PRODUCT_STORE", "postgres")
    connection.reset()
    try:
        assert type(product_repository()) is PostgresProductRepository  # no host set: nothing connected yet
    finally:
        connection.reset()


def test_credentials_from_the_environment(clean_env):
    clean_env.setenv("PRODUCT_DB_HOST", "127.0.0.1")
    clean_env.setenv("PRODUCT_DB_USER", "catalog")
    clean_env.setenv("PRODUCT_DB_PASSWORD", "pw")
    config = config_from_environment(read_secret=lambda arn: pytest.fail("no secret is configured"))
    assert (config.host, config.port, config.database, config.user, config.password) == \
        ("127.0.0.1", 5432, "catalog", "catalog", "pw")
    assert (config.ssl, config.statement_timeout_ms, config.connect_timeout) == ("verify", 5000, 3.0)


def test_credentials_from_an_rds_secret_with_the_host_overridden_by_a_proxy(clean_env):
    arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:catalog-db-AbCdEf"
    clean_env.setenv("PRODUCT_DB_SECRET_ARN", arn)
    clean_env.setenv("PRODUCT_DB_HOST", "catalog-proxy.proxy-abc.us-east-1.rds.amazonaws.com")
    config = config_from_environment(read_secret=lambda given: SECRET if given == arn else pytest.fail(given))
    assert config.host == "catalog-proxy.proxy-abc.us-east-1.rds.amazonaws.com"
    assert (config.user, config.password, config.port, config.database) == ("app", "s3cret", 5432, "catalog")


def test_the_secret_is_read_from_secrets_manager():
    from moto import mock_aws

    from chalicelib import aws
    from chalicelib.db.connection import _secret
    with mock_aws():
        aws.reset()
        arn = aws.client("secretsmanager").create_secret(Name="catalog-db", SecretString=json.dumps(SECRET))["ARN"]
        assert _secret(arn) == SECRET
    aws.reset()


def test_a_missing_host_names_the_variable(clean_env):
    clean_env.setenv("PRODUCT_DB_USER", "catalog")
    with pytest.raises(MissingSetting, match="PRODUCT_DB_HOST"):
        config_from_environment()


@pytest.mark.parametrize("error, unavailable", [
    (InterfaceError("network error"), True),
    (ConnectionRefusedError(), True),
    (DatabaseError({"C": "57014", "M": "canceling statement due to statement timeout"}), True),
    (DatabaseError({"C": "57P01", "M": "terminating connection due to administrator command"}), True),
    (DatabaseError({"C": "53300", "M": "too many connections"}), True),
    (DatabaseError({"C": "28P01", "M": "password authentication failed"}), True),
    (DatabaseError({"C": "42P01", "M": "relation \"products\" does not exist"}), False),  # a bug, not an outage
    (DatabaseError({"C": "23514", "M": "check constraint"}), False),
    (ValueError("x"), False),
])
def test_which_failures_mean_the_database_is_unavailable(error, unavailable):
    assert is_unavailable(error) is unavailable


def test_a_price_with_more_than_two_places_is_refused_not_rounded():
    from chalicelib.catalog.postgres import PostgresProductRepository

    class NoDatabase:
        def run(self, *args, **kwargs):
            pytest.fail("nothing may reach the database")
    product = {"id": str(uuid.uuid4()), "name": "x", "price": Decimal("0.005"),
               "created_at": "2026-11-23T10:00:00.000Z", "stored_at": "2026-11-23T10:00:00.000Z"}
    with pytest.raises(ValueError, match="2 decimal places"):
        PostgresProductRepository(NoDatabase()).add_if_absent(product)


def test_unavailable_is_answered_as_503_json():
    @json_errors
    def view():
        raise Unavailable("The product database is unavailable; try again shortly.")
    response = view()
    assert response.status_code == 503
    assert json.loads(response.body) == {"Code": "ServiceUnavailable",
                                         "Message": "The product database is unavailable; try again shortly."}


def stage_with_store(store):
    import copy

    from infra.stage import Stage
    stage = Stage.load("dev")
    config = copy.deepcopy(stage.config)
    if store is not None:
        config["stages"]["dev"]["environment_variables"]["PRODUCT_STORE"] = store
    return Stage("dev", config)


@pytest.mark.parametrize("store, table, database", [(None, True, False), ("dynamodb", True, False),
                                                     ("postgres", False, True)])
def test_the_stage_setting_decides_which_store_the_aws_template_builds(store, table, database):
    stage = stage_with_store(store)
    assert stage.uses("ProductTable") is table and stage.has_product_database is database
    assert stage.uses("OrdersTable") and stage.uses("ProductQueue")  # everything else is every stage's


def test_a_stage_with_an_unknown_store_is_refused_when_packaged():
    with pytest.raises(SystemExit, match="PRODUCT_STORE must be one of dynamodb, postgres"):
        stage_with_store("mysql").product_store


def test_the_functions_in_the_database_vpc_are_those_granted_on_the_table_it_replaces():
    from infra.resources import GRANTS, PRODUCT_DATABASE, product_database_functions
    assert product_database_functions() == ("api_handler", "process_product_queue", "process_orders",
                                            "migrate_product_db")
    assert all(PRODUCT_DATABASE.replaces in GRANTS[f] for f in product_database_functions()[:-1])
