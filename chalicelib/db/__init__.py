"""PostgreSQL for the stages that keep products there (PRODUCT_STORE=postgres): connections and schema.

Nothing here is imported by a DynamoDB stage, so the driver costs those stages no cold start.
"""
