"""`make run`: the whole system on this machine, no AWS account, no Docker.

1. moto in server mode, the AWS emulator, on 127.0.0.1:$EMULATOR_PORT;
2. every queue (with DLQ), table, bucket and topic from infra/resources.py;
3. `chalice local` on 127.0.0.1:$API_PORT, its boto3 clients pointed at the emulator by AWS_ENDPOINT_URL;
4. the event runner, delivering SQS, S3 and SNS events to the app's handlers;
5. the local console on 127.0.0.1:$CONSOLE_PORT (local_runtime/console.py): queues, DLQs, deliveries, runs.
The terminal shows one line per delivery; the handlers' own logs go to build/local/handlers.log
(LOCAL_LOG_FORMAT=json) or are rendered on the terminal (LOCAL_LOG_FORMAT=text), see local_runtime/output.py.
Ctrl-C stops everything.
"""
import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path

import boto3

from infra.provision import provision, provision_user_pool
from local_runtime.identity import DEMO_PASSWORD, create_demo_users, token_command
from infra.resources import RESOURCES, USER_POOL, Topic
from infra.stage import PROJECT_DIR, Stage
from local_runtime import processes
from local_runtime import postgres as local_postgres  # PRODUCT_STORE=postgres (issue 12)
from local_runtime.console import start_console
from local_runtime.output import FORMATS, Terminal, route_handler_output
from local_runtime.runner import EventRunner

HOST = "127.0.0.1"
DEFAULT_CONSOLE_PORT = 8001
HANDLER_LOG = Path("build") / "local" / "handlers.log"
TERMINAL = Terminal(sys.stdout)  # kept before sys.stdout is handed to the handlers' output


def say(line: str) -> None:
    TERMINAL.say(line)


def banner(stage: Stage, api: str, emulator: str, console: str | None = None, log_format: str = "json",
           client_id: str = "<client id>") -> str:
    env = stage.environment
    auth = '-H "Authorization: Bearer $TOKEN"'  # the operator's ID token, from step 0
    example_bucket = env.get("INPUT_LOGS_BUCKET_NAME")
    handler_logs = (f"{HANDLER_LOG}   (LOCAL_LOG_FORMAT=text shows them here instead)" if log_format == "json"
                    else "below, as text   (LOCAL_LOG_FORMAT=json writes them to " f"{HANDLER_LOG})")
    lines = [
        "",
        "AsyncCatalog is running locally.",
        f"  REST API          {api}",
        *([f"  Console           {console}   (queues, DLQs, deliveries, log batches, orders; open it in a browser)",
           f"  API reference     {console}/api-reference   (the API's own {api}/openapi.json, rendered)"]
          if console else []),
        f"  AWS emulator      {emulator}   (moto; any region, any credentials)",
        f"  Handler logs      {handler_logs}",
        "",
        "In another shell (the AWS CLI is in .venv):",
        f"  source .venv/bin/activate; export AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local "
        f"AWS_DEFAULT_REGION=us-east-1",
        "",
        f"0) Log in (demo users: operator; customers ana and bruno; password {DEMO_PASSWORD}). Every route but",
        "   GET /products needs the user pool's ID token in Authorization:",
        f"  {token_command(emulator, client_id, 'operator')}",
        f"  {token_command(emulator, client_id, 'ana').replace('TOKEN=', 'ANA_TOKEN=', 1)}",
        "",
        "1) Create a product (operators only), then fetch it (public; the worker stores it within a second or so):",
        f"  curl -si -X POST {api}/products {auth} -H 'Content-Type: application/json' "
        "-d '{\"name\": \"Caneta azul\", \"price\": 19.90, \"stock\": 10}'",
        f"  curl -s {api}/products/<id from the answer>",
        "",
        "2) Read the product's report from S3:",
        f"  aws --endpoint-url {emulator} s3 cp s3://{env['REPORTS_BUCKET_NAME']}/<id>.txt -",
    ]
    if example_bucket:
        lines += [
            "",
            "3) Upload a log file, then read its progress, its errors and its report:",
            f"  aws --endpoint-url {emulator} s3 cp examples/app.log s3://{example_bucket}/demo/app.log",
            f"  curl -s '{api}/log-batches?key=demo/app.log' {auth}",
            f"  curl -s '{api}/log-batches/lines?key=demo/app.log&level=ERROR' {auth}",
            f"  aws --endpoint-url {emulator} s3 cp s3://{env['PROCESSED_DATA_BUCKET_NAME']}/"
            "demo/relatorio_app.log.json -",
        ]
    if env.get("INVOICES_BUCKET_NAME"):
        lines += [
            "",
            "4) Upload invoices (a Brazilian Excel CSV with two bad rows), then read the upload and the invoices:",
            f"  aws --endpoint-url {emulator} s3 cp examples/notas_fiscais.csv "
            f"s3://{env['INVOICES_BUCKET_NAME']}/demo/notas_fiscais.csv",
            f"  curl -s '{api}/invoice-uploads?key=demo/notas_fiscais.csv' {auth}",
            f"  curl -s '{api}/invoices?customer=Ana%20Costa&from=2025-10-01&to=2025-10-31' {auth}",
        ]
    if env.get("ORDERS_QUEUE_NAME"):
        lines += [
            "",
            "5) Ana places an order for herself (the worker prices items without unitPrice from the catalog),",
            "   then reads it; she sees only her own orders:",
            f"  curl -si -X POST {api}/orders -H \"Authorization: Bearer $ANA_TOKEN\" "
            "-H 'Content-Type: application/json' -d '{"
            "\"items\": [{\"productId\": \"<product id from 1)>\", \"quantity\": 2}, "
            "{\"productId\": \"caderno\", \"quantity\": 1, \"unitPrice\": \"12.50\"}]}'",
            f"  curl -s {api}/orders/<orderId from the answer> -H \"Authorization: Bearer $ANA_TOKEN\"",
            f"  curl -s {api}/orders -H \"Authorization: Bearer $ANA_TOKEN\"",
            f"  (the COMPLETED notification to {env['ORDER_NOTIFICATIONS_TOPIC_NAME']} is logged below as \"sns\")",
        ]
    if console:
        lines += [
            "",
            "6) Watch a message die and come back: in the console, poison process_product_queue messages matching",
            "   a product's name, POST that product, watch it reach product-queue-dlq, stop the poison, press redrive.",
            "   (Failed messages return after the queue's visibility timeout; LOCAL_RETRY_SECONDS=1 makes it seconds.)",
        ]
    lines += ["", "Every delivery is one line below, with its correlation id. Ctrl-C stops everything.", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local_runtime")
    parser.add_argument("--stage", default=os.environ.get("STAGE", "dev"))
    args = parser.parse_args(argv)
    emulator_port = int(os.environ.get("EMULATOR_PORT", "5005"))
    api_port = int(os.environ.get("API_PORT", "8000"))
    concurrency = int(os.environ.get("LOCAL_CONCURRENCY", "4"))
    schedule_seconds = float(os.environ.get("LOCAL_SCHEDULE_SECONDS", "0")) or None
    retry_seconds = int(os.environ["LOCAL_RETRY_SECONDS"]) if os.environ.get("LOCAL_RETRY_SECONDS") else None
    log_format = os.environ.get("LOCAL_LOG_FORMAT", "json").lower()
    if log_format not in FORMATS:
        print(f"LOCAL_LOG_FORMAT must be one of {', '.join(FORMATS)}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    # --- PRODUCT_STORE=postgres (issue 12): the local server's port is the one the app is pointed at ---
    product_store = os.environ.get("PRODUCT_STORE") or None  # given here, it wins over the stage's setting
    postgres_port = int(os.environ.get("PRODUCT_DB_PORT") or "5433")
    ports = [(postgres_port, "PRODUCT_DB_PORT")] if product_store == "postgres" else []
    # --- end PRODUCT_STORE=postgres ---
    # An explicit CONSOLE_PORT must be free, like the others; the default moves aside for a second `make run`
    # (or a benchmark's stack) so that dev tooling never stops the system from starting.
    console_port = int(os.environ.get("CONSOLE_PORT") or DEFAULT_CONSOLE_PORT)
    if "CONSOLE_PORT" in os.environ:
        ports.append((console_port, "CONSOLE_PORT"))
    elif processes.port_is_open(HOST, console_port):
        console_port = 0
    for port, what in ((emulator_port, "EMULATOR_PORT"), (api_port, "API_PORT"), *ports):
        if processes.port_is_open(HOST, port):
            print(f"port {port} is in use; set {what} to a free port", file=sys.stderr)
            return 2

    stage = Stage.load(args.stage)
    emulator = f"http://{HOST}:{emulator_port}"
    api = f"http://{HOST}:{api_port}"
    os.environ.update({
        "AWS_ENDPOINT_URL": emulator, "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1",
    })
    os.environ.pop("AWS_PROFILE", None)
    os.environ.pop("AWS_SESSION_TOKEN", None)
    log_dir = PROJECT_DIR / "build" / "local"
    log_dir.mkdir(parents=True, exist_ok=True)
    # Before the app is imported: its logger takes sys.stdout as its stream when it is created.
    handler_output = route_handler_output(log_format, PROJECT_DIR / HANDLER_LOG, TERMINAL)

    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())

    children = []
    runner = None
    console = None
    database = None  # PRODUCT_STORE=postgres (issue 12)
    try:
        say(f"starting the AWS emulator on {emulator} (log: build/local/emulator.log)")
        moto = processes.start([sys.executable, "-m", "local_runtime.emulator", "-H", HOST, "-p", str(emulator_port)],
                               dict(os.environ), log_path=str(log_dir / "emulator.log"))
        children.append(moto)
        processes.wait_for_port(HOST, emulator_port, moto)

        app = stage.load_app()
        session = boto3.session.Session()
        created = provision(stage, app, session)
        say(f"provisioned {len(created)} resources: " + ", ".join(stage.resource_name(i) for i in created))
        # The user pool, before the API process and the runner copy os.environ: the authorizer reads its ids.
        identity = provision_user_pool(stage, session)
        os.environ.update(identity)
        demo_users = create_demo_users(session.client("cognito-idp"), identity[USER_POOL.id_env])
        say(f"user pool {identity[USER_POOL.id_env]} with demo users: {', '.join(demo_users)}")

        # --- PRODUCT_STORE=postgres (issue 12): before the API process and the runner copy os.environ ---
        database = local_postgres.start_if_selected(log_dir, postgres_port, say, store=product_store)
        # --- end PRODUCT_STORE=postgres ---

        say(f"starting chalice local on {api} (log: build/local/api.log)")
        api_process = processes.start([sys.executable, "-m", "local_runtime.api_server", "local", "--host", HOST,
                                       "--port", str(api_port),
                                       "--stage", stage.name, "--no-autoreload"],
                                      dict(os.environ), cwd=str(PROJECT_DIR), log_path=str(log_dir / "api.log"))
        children.append(api_process)

        functions = [s.name for s in app.event_sources]
        runner = EventRunner(
            app, session, concurrency=concurrency, report=say, schedule_seconds=schedule_seconds,
            timeouts={f: stage.function_setting(f, "lambda_timeout", 60) for f in functions},
            memory={f: stage.function_setting(f, "lambda_memory_size", 128) for f in functions},
            failure_queue=os.environ.get("UPLOAD_FAILURES_QUEUE_NAME"), retry_seconds=retry_seconds,
        ).setup(topics=[created[i] for i, r in RESOURCES.items() if isinstance(r, Topic)]).start()
        say(f"event runner delivering to: {', '.join(functions) or 'nothing'} (concurrency {concurrency}"
            + (f", failed SQS messages retried after {retry_seconds} s)" if retry_seconds is not None else ")"))
        console = start_console(runner, session, stage.environment, HOST, console_port, api=api)
        say(f"console on {console.url}")

        processes.wait_for_port(HOST, api_port, api_process)
        TERMINAL.write_lines(banner(stage, api, emulator, console.url, log_format,
                                    client_id=identity[USER_POOL.client_env]))
        say("ready")
        while not stop.wait(0.5):
            for child in children:
                if child.poll() is not None:
                    say(f"{child.args[1] if len(child.args) > 1 else child.args[0]} exited "
                        f"({child.returncode}); stopping")
                    stop.set()
        return 0
    except RuntimeError as error:
        print(f"could not start: {error}", file=sys.stderr)
        return 1
    finally:
        say("stopping")
        if console:
            console.stop()
        if runner:
            runner.stop()
        if database:  # PRODUCT_STORE=postgres (issue 12): fast shutdown, which ends the API's open sessions
            database.stop()
        for child in reversed(children):
            processes.stop(child)
        sys.stdout = sys.__stdout__
        handler_output.close()
        say("stopped")


if __name__ == "__main__":
    sys.exit(main())
