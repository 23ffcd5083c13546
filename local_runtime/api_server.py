"""`chalice local` with a listen backlog that survives a burst of new connections.

Chalice's dev server keeps socketserver's default backlog of 5: when a few
dozen clients connect at once (`make load` opens 32), the kernel's accept
queue overflows and some connections are reset before the app sees them.
This entry point raises the backlog, answers API Gateway's own refusals (a
missing or refused token) with the bodies the template gives them on AWS
(local_runtime/gateway.py), then runs Chalice's own CLI unchanged:
`python -m local_runtime.api_server local --host ... --port ...`.
"""
import sys

LISTEN_BACKLOG = 128


def _any_method(handler, name: str):
    """http.server looks a request's method up as `do_<METHOD>`: every one is Chalice's to answer."""
    if name.startswith("do_"):
        return handler._generic_handle
    raise AttributeError(name)


def main(argv: list[str]) -> int:
    from chalice import local
    local.ThreadedHTTPServer.request_queue_size = LISTEN_BACKLOG
    # A method Chalice's dev server has no handler for (TRACE, QUERY...) got http.server's HTML 501, without the
    # project's error shape or X-Correlation-Id; now the app answers it as any method its route lacks: a JSON
    # 405 (found by Schemathesis: tests/contract).
    local.ChaliceRequestHandler.__getattr__ = _any_method
    from local_runtime.gateway import emulate_gateway_responses
    emulate_gateway_responses()
    from chalice.cli import main as chalice_main
    sys.argv = ["chalice", *argv]
    return chalice_main()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
