"""PostgreSQL for the stages that keep products there (PRODUCT_STORE=postgres): connections, schema, and the
migration a deploy runs (deploy_migration.py, the migrate_product_db Lambda).

Nothing here is imported by a DynamoDB stage, so the driver costs those stages no cold start.
"""
