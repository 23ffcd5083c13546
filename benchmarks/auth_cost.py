"""What the token check costs: the authorizer's cold start, and each request, measured on this machine.

    .venv/bin/python -m benchmarks.auth_cost [--runs 7] [--tokens 2000]

- Cold start: fresh interpreters import `app` (what the authorizer's Lambda
  loads, as every function of the app does) with and without PyJWT and
  cryptography already imported; the difference is what the check adds. The
  JWKS fetch is timed against a local HTTP server serving a real JWKS: on AWS
  it is one HTTPS GET to Cognito, not measurable here.
- Per request: CPU to verify one ID token once the keys are cached (RS256,
  2048-bit), over `--tokens` real tokens from moto's pool signing key.

Figures go to build/bench/auth_cost.json; every one is measured, none assumed.
"""
import argparse
import json
import statistics
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
OUT = PROJECT_DIR / "build" / "bench" / "auth_cost.json"

IMPORT_APP = """
import os, time, json
os.environ.update(json.loads(os.environ["STAGE_ENV"]))
start = time.process_time()
{pre}
import app
print(time.process_time() - start)
"""


def fresh_cpu(code: str, env: dict[str, str]) -> float:
    answer = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_DIR, env=env, capture_output=True,
                            text=True, check=True)
    return float(answer.stdout.strip().splitlines()[-1])


def summary(values: list[float]) -> dict[str, float]:
    return {"min_ms": round(min(values) * 1000, 2), "median_ms": round(statistics.median(values) * 1000, 2),
            "max_ms": round(max(values) * 1000, 2), "runs": len(values)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--tokens", type=int, default=2000)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(PROJECT_DIR))
    import os

    import jwt

    from infra.stage import Stage
    from tests.auth import moto_signing_key
    env = {**os.environ, "STAGE_ENV": json.dumps(Stage.load("dev").environment)}

    # 1. Cold start: import app, then import app plus what the check imports on its first call.
    plain = [fresh_cpu(IMPORT_APP.format(pre=""), env) for _ in range(args.runs)]
    with_jwt = [fresh_cpu(IMPORT_APP.format(pre="import jwt, jwt.algorithms"), env) for _ in range(args.runs)]
    jwt_alone = [fresh_cpu("import time\ns=time.process_time()\nimport jwt, jwt.algorithms\n"
                           "print(time.process_time()-s)", env) for _ in range(args.runs)]

    # 2. The JWKS fetch, from a local server (the shape Cognito serves).
    key = moto_signing_key()
    public = {**jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key(), as_dict=True), "kid": "k1", "alg": "RS256"}
    document = json.dumps({"keys": [public]}).encode()

    class Keys(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(document)

        def log_message(self, *args):
            pass
    server = ThreadingHTTPServer(("127.0.0.1", 0), Keys)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/pool/.well-known/jwks.json"

    from chalicelib.identity import TokenVerifier
    issuer, audience = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_bench", "bench-client"
    now = int(time.time())
    tokens = [jwt.encode({"iss": issuer, "aud": audience, "sub": f"user-{n}", "token_use": "id", "iat": now,
                          "exp": now + 3600, "cognito:groups": ["customers"]}, key, algorithm="RS256",
                         headers={"kid": "k1"}) for n in range(args.tokens)]
    first_calls = []
    for _ in range(args.runs):
        verifier = TokenVerifier(issuer, audience, url)
        start = time.perf_counter()
        verifier.caller(tokens[0])  # fetches the keys, then verifies
        first_calls.append(time.perf_counter() - start)
    verifier = TokenVerifier(issuer, audience, url)
    verifier.caller(tokens[0])
    start = time.process_time()
    for token in tokens:
        verifier.caller(f"Bearer {token}")
    per_token = (time.process_time() - start) / len(tokens)
    server.shutdown()

    figures = {
        "import_app_cpu": summary(plain),
        "import_app_and_jwt_cpu": summary(with_jwt),
        "import_jwt_alone_cpu": summary(jwt_alone),
        "added_to_cold_start_ms_median": round((statistics.median(with_jwt) - statistics.median(plain)) * 1000, 2),
        "first_check_with_local_jwks_fetch_wall": summary(first_calls),
        "per_request_verify_cpu_us": round(per_token * 1e6, 1),
        "tokens_verified": len(tokens),
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(figures, indent=2))
    print(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
