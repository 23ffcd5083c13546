"""Log files in the formats users upload, written here (not copied from ../shared/samples)."""
import random

APP_LINES = [
    "2026-11-20 10:00:01 INFO [AuthService] Login ok for user_id: 991",
    "2026-11-20 10:00:02 DEBUG [Cache] Miss for key catalog:42",
    "2026-11-20 10:00:03 WARN [Payments] Retrying capture, attempt 2",
    "2026-11-20 10:00:04 ERROR [Mailer] SMTP connection refused",
    "2026-11-20 10:00:05 INFO [Api] Response sent: 200 OK (12ms)",
]
JSON_LINES = [
    '{"time": "2026-11-20T10:00:06Z", "level": "error", "status": 503, "msg": "upstream down"}',
    '{"time": "2026-11-20T10:00:07Z", "level": "info", "status": 201, "msg": "created"}',
]
ACCESS_LINES = [
    '192.0.2.1 - - [20/Nov/2026:10:00:08 +0000] "GET /products HTTP/1.1" 200 512 "-" "curl/8.0"',
    '192.0.2.2 - - [20/Nov/2026:10:00:09 +0000] "GET /missing HTTP/1.1" 404 12',
]
ERROR_LINES = ["[Fri Nov 20 10:00:10 2026] [error] [client 192.0.2.3] File does not exist: /var/www/x"]


def generated_lines(count: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    pool = APP_LINES + JSON_LINES + ACCESS_LINES + ERROR_LINES + ["free text that no parser knows"]
    return [rng.choice(pool) for _ in range(count)]
