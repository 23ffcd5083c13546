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


def main(argv: list[str]) -> int:
    from chalice import local
    local.ThreadedHTTPServer.request_queue_size = LISTEN_BACKLOG
    from local_runtime.gateway import emulate_gateway_responses
    emulate_gateway_responses()
    from chalice.cli import main as chalice_main
    sys.argv = ["chalice", *argv]
    return chalice_main()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
