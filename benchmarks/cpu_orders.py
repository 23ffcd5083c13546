"""The orders' part of `make bench-cpu` alone, in a minute instead of many (issue 22, item 4a).

    .venv/bin/python -m benchmarks.cpu_orders [--requests 300] [--meter-orders 100] [--repeats 3]
                                              [--out build/bench/cpu-orders.json]

What benchmarks/cpu.py does for orders, with its pieces (the stub, the app on
it, proxy events, the timed regions, the meter): products stored for the
catalog's prices, then `POST /orders` (a contact and two items, one priced by
the client, one from the catalog), `process_orders` on the messages the API
really sent, `GET /orders/{id}` and a customer's `GET /orders`; CPU per order
or request (median of `--repeats` runs of the whole part, each on new orders).
Then the meter on the same flow: write and read units per order by table and
index, and the read units of one customer listing of 10.

Checks that fail the run (exit 1, nothing written): every order notified
once, every route answered its status, no meter error. Not the capacity
model's input (that is build/bench/cpu.json, which needs every part).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import time
from pathlib import Path

from benchmarks.cpu import (OUT, PROJECT_DIR, Bench, Stub, api_event, call_routes, calls_per, machine, metered, per,
                            store_products,
                            per_unit, timed)


def order_body(i: int, product_ids: list[str]) -> dict:
    return {"customerId": f"customer-{i % 20:03d}", "notify": "ops@example.com",
            "items": [{"productId": product_ids[i % len(product_ids)], "quantity": 2},
                      {"productId": f"external-{i}", "quantity": 1, "unitPrice": "5.00"}]}


def one_run(bench: Bench, requests: int, product_ids: list[str]) -> dict:
    """CPU per request or order of the orders' routes and worker, over `requests` new orders."""
    figures = {}
    posted = call_routes(bench, [api_event("POST", "/orders", "/orders", body=order_body(i, product_ids))
                                 for i in range(requests + 1)], 202, "POST /orders")
    order_ids = [json.loads(r["body"])["orderId"] for r in posted.pop("result")]
    figures["POST /orders"] = posted
    events = bench.sqs_events("process_orders", bench.stub.pop(bench.name("OrdersQueue")))
    handler, context = bench.handler("process_orders"), bench.context("process_orders")
    handler(events[0], context)  # warm
    bench.stub.reset()
    run = timed(bench.stub, lambda: [handler(e, context) for e in events[1:]])
    n = sum(len(e["Records"]) for e in events[1:])
    published = sum(run["stats"]["sns_published"].values())
    bench.check(published == n, f"order worker: {published} notifications for {n} orders")
    figures["process_orders"] = {"unit": "order", "orders": n, "cpu_us_per_order": per_unit([run], n),
                                 "calls_per_order": calls_per(run["calls"], n, 1)}
    reads = max(20, requests // 3)
    for route, build in {
        "GET /orders/{order_id}": lambda i: api_event("GET", "/orders/{order_id}", f"/orders/{order_ids[i]}",
                                                     {"order_id": order_ids[i % len(order_ids)]}),
        "GET /orders": lambda i: api_event("GET", "/orders", "/orders",
                                           query={"customerId": f"customer-{i % 20:03d}", "limit": "10"}),
    }.items():
        figures[route] = call_routes(bench, [build(i % len(order_ids)) for i in range(reads + 1)], 200, route)
        figures[route].pop("result")
    return figures


def meter_orders(bench: Bench, orders: int, product_ids: list[str]) -> dict:
    """Write and read units per order by the meter, and the read units of a customer's listing of 10."""
    def order_flow():
        context = bench.context("api_handler")
        for i in range(orders):
            bench.app(api_event("POST", "/orders", "/orders", body=order_body(i, product_ids)), context)
        for event in bench.sqs_events("process_orders", bench.stub.pop(bench.name("OrdersQueue"))):
            bench.handler("process_orders")(event, bench.context("process_orders"))

    def listing():
        context = bench.context("api_handler")
        for i in range(20):
            bench.app(api_event("GET", "/orders", "/orders", query={"customerId": f"customer-{i:03d}", "limit": "10"}),
                      context)
    flow = {"unit": "order", "units": orders, **per(metered(bench, order_flow, keep_data=True), orders)}
    flow.pop("write_units_by_item_kind")  # one key per contact item: noise here
    pages = {"unit": "listing of 10", "units": 20, **per(metered(bench, listing, keep_data=True), 20)}
    for figures, name in ((flow, "orders"), (pages, "listing")):
        bench.check(not figures["meter_errors"], f"meter ({name}): {figures['meter_errors']}")
    return {"orders": flow, "orders/customer-listing": pages}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--meter-orders", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=OUT.with_name("cpu-orders.json"))
    args = parser.parse_args()
    stub = Stub()
    started = time.perf_counter()
    log = PROJECT_DIR / "build" / "bench" / "cpu-orders-handlers.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    try:
        with open(log, "w") as sink, contextlib.redirect_stdout(sink):  # the handlers' metric lines
            bench = Bench(stub)
            bench.settings()
            bench.sinks()
            product_ids = store_products(bench, 50)
            runs = [one_run(bench, args.requests, product_ids) for _ in range(args.repeats)]
            result = {"machine": machine(), "arguments": vars(args) | {"out": str(args.out)}, "cpu_us": {}}
            for name, key in (("POST /orders", "cpu_us_per_request"), ("process_orders", "cpu_us_per_order"),
                              ("GET /orders/{order_id}", "cpu_us_per_request"), ("GET /orders", "cpu_us_per_request")):
                each = [run[name][key]["median"] for run in runs]
                result["cpu_us"][name] = {"median": statistics.median(each), "runs": each}
            result["calls"] = {name: runs[0][name].get("calls_per_order", runs[0][name].get("calls_per_request"))
                               for name in runs[0]}
            if not bench.failures:
                result["request_mix"] = meter_orders(bench, args.meter_orders, product_ids)
            result["failures"] = bench.failures
    finally:
        stub.close()
    result["seconds"] = time.perf_counter() - started
    for name, figures in result["cpu_us"].items():
        print(f"  {name:<24} {figures['median']:9.1f} µs ({', '.join(f'{r:.0f}' for r in figures['runs'])})")
    for flow, mix in result.get("request_mix", {}).items():
        print(f"  meter {flow:<24} WRU {sum(mix['write_units'].values()):.3f} "
              f"({', '.join(f'{t} {u:.3f}' for t, u in mix['write_units'].items())}); "
              f"RRU {sum(mix['read_units'].values()):.3f} "
              f"({', '.join(f'{t} {u:.3f}' for t, u in mix['read_units'].items())}) per {mix['unit']}")
    print(f"({result['seconds']:.0f} s, load {result['machine']['load_average'][0]:.1f})")
    if result["failures"]:
        print("\nFAILED (nothing written):\n  " + "\n  ".join(result["failures"]), file=sys.stderr)
        return 1
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, sort_keys=True, default=str) + "\n")
    print(f"figures written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
