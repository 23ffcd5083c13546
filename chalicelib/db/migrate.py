"""The product database's schema, as numbered steps applied once each: `python -m chalicelib.db.migrate`.

Run by `make run`, the tests and deployment — never inside a request, so no
invocation pays for DDL or races another over it. Each step runs in its own
transaction with its version recorded in `schema_migrations`; an advisory lock
lets two migrators (a deploy and a test run, say) start together safely.
Steps are only ever appended: a step that has shipped is never edited.
"""
import sys

from chalicelib.db.connection import Database, database

# An arbitrary constant: pg_advisory_lock's key for "migrating the product schema".
LOCK_KEY = 7_212_012

MIGRATIONS: list[tuple[int, str, str]] = [
    (1, "products", """
        CREATE TABLE products (
            id          uuid PRIMARY KEY,
            name        text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
            price       numeric(12, 2) NOT NULL CHECK (price >= 0),
            description text CHECK (char_length(description) <= 2000),
            sku         text CHECK (char_length(sku) BETWEEN 1 AND 64),
            category    text CHECK (char_length(category) BETWEEN 1 AND 100),
            stock       integer CHECK (stock >= 0),
            created_at  timestamptz NOT NULL,
            stored_at   timestamptz NOT NULL
        );
        -- GET /products pages by (created_at, id): this index answers each page without a sort or OFFSET.
        CREATE INDEX products_created_at_id ON products (created_at, id);
    """),
]


def migrate(db: Database) -> list[int]:
    """Apply the steps the database lacks; return their versions (empty when it was up to date)."""
    applied: list[int] = []
    with db.dedicated() as connection:
        # DDL may take longer than a request's statement timeout; the advisory lock may wait for another migrator.
        connection.run("SET statement_timeout = '10min'")
        connection.run("SELECT pg_advisory_lock(:key)", key=LOCK_KEY)  # released when the connection closes
        connection.run("CREATE TABLE IF NOT EXISTS schema_migrations ("
                       " version integer PRIMARY KEY, description text NOT NULL,"
                       " applied_at timestamptz NOT NULL DEFAULT now())")
        for version, description, sql in MIGRATIONS:
            connection.run("BEGIN")
            try:
                if not connection.run("SELECT 1 FROM schema_migrations WHERE version = :v", v=version):
                    for statement in _statements(sql):
                        connection.run(statement)
                    connection.run("INSERT INTO schema_migrations (version, description) VALUES (:v, :d)",
                                   v=version, d=description)
                    applied.append(version)
                connection.run("COMMIT")
            except BaseException:
                try:
                    connection.run("ROLLBACK")
                except Exception:  # the connection is gone; the server rolled back with it
                    pass
                raise
    return applied


def _statements(sql: str) -> list[str]:
    """A step's statements, one per call so an error names its statement. Steps put no ';' inside literals."""
    lines = [line for line in sql.splitlines() if not line.strip().startswith("--")]
    return [part.strip() for part in "\n".join(lines).split(";") if part.strip()]


def main() -> int:
    db = database()
    try:
        applied = migrate(db)
    except Exception as error:
        print(f"migration failed on {db.config.describe()}: {error}", file=sys.stderr)
        return 1
    finally:
        db.close()
    print(f"product database {db.config.describe()}: "
          + (f"applied {', '.join(map(str, applied))}" if applied else "up to date"))
    return 0


def handler(event=None, context=None) -> dict:
    """For a Lambda in the database's VPC (deployment invokes it once after `chalice deploy`)."""
    db = database()
    return {"applied": migrate(db), "latest": MIGRATIONS[-1][0]}


if __name__ == "__main__":
    sys.exit(main())
