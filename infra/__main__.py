"""Project tooling: `python -m infra <command> [--stage dev]`."""
import argparse
import json
import os
import sys
from pathlib import Path

from infra.stage import Stage


def load_app(stage: Stage):
    # The stage's product store, not one left in the shell by `make run PRODUCT_STORE=postgres`: app.py
    # defines the migration function only on a postgres stage, and the policies and template follow the app.
    os.environ["PRODUCT_STORE"] = stage.product_store
    return stage.load_app()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra")
    parser.add_argument("command", choices=["policies", "check-policies", "package", "provision", "deploy"])
    parser.add_argument("--stage", action="append", help="stage(s); default: every stage for policies, dev otherwise")
    parser.add_argument("--out", default="build/package", help="output folder for package")
    args = parser.parse_args(argv)

    if args.command in ("policies", "check-policies"):
        from infra import iam
        names = args.stage or list(Stage.load().config["stages"])
        failures = []
        for name in names:
            stage = Stage.load(name)
            app = load_app(stage)
            if args.command == "policies":
                for filename in iam.write(stage, app):
                    print(f"wrote .chalice/{filename}")
            else:
                failures += iam.problems(stage, app)
        for failure in failures:
            print(failure, file=sys.stderr)
        return 1 if failures else 0

    stage = Stage.load((args.stage or ["dev"])[0])
    app = load_app(stage)
    if args.command == "package":
        from infra.package import package
        print(f"wrote {package(stage, app, Path(args.out))}")
    elif args.command == "provision":
        from infra.provision import provision
        print(json.dumps(provision(stage, app), indent=2))
    elif args.command == "deploy":
        from infra.deploy import deploy
        deploy(stage, app)
    return 0


if __name__ == "__main__":
    sys.exit(main())
