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

# (format parse_line gives, line) for the formats besides the spec's: lines as those systems write them (the
# AWS ones after the examples in AWS's documentation), for tests that need one of each.
FORMAT_SAMPLES = [
    ("syslog", "Nov 20 10:00:11 ip-172-31-5-10 systemd[1]: Started Session 42 of User ubuntu."),
    ("syslog", "Nov  2 06:25:01 web-1 CRON[24512]: (root) CMD (command -v debian-sa1 > /dev/null && debian-sa1 1 1)"),
    ("syslog", "<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8"),
    ("syslog", "2026-11-20T10:00:12.123456+00:00 ip-172-31-5-10 sshd[1021]: Accepted publickey for ubuntu from"
               " 203.0.113.7 port 52144 ssh2"),
    ("syslog5424", "<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut=\"3\""
                   " eventSource=\"Application\" eventID=\"1011\"] \ufeffAn application event log entry..."),
    ("syslog5424", "<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - 'su root' failed for lonvick"
                   " on /dev/pts/8"),
    ("log4j", "2026-11-20 10:00:13,482 INFO  [main] org.apache.catalina.startup.Catalina - Server startup in"
              " [1234] milliseconds"),
    ("log4j", "2026-11-20 10:00:14.120  INFO 28123 --- [           main] c.e.shop.ShopApplication                 :"
              " Started ShopApplication in 3.112 seconds (process running for 3.561)"),
    ("log4j", "2026-11-20 10:00:15.007 [http-nio-8080-exec-1] ERROR c.e.shop.OrderController - Order 991 failed:"
              " timeout"),
    ("log4j", "2026-11-20 10:00:16,301 - shop.payments - WARNING - Retrying capture, attempt 2"),
    ("hadoop", "081109 203615 148 INFO dfs.DataNode$PacketResponder: PacketResponder 1 for block"
               " blk_38865049064139660 terminating"),
    ("hadoop", "081109 213639 19 WARN dfs.PendingReplicationBlocks$PendingReplicationMonitor:"
               " PendingReplicationMonitor timed out block blk_-4733458318416512006"),
    ("alb", 'https 2018-07-02T22:23:00.186641Z app/my-loadbalancer/50dc6c495c0c9188 192.168.131.39:2817 10.0.0.1:80'
            ' 0.086 0.048 0.037 200 200 0 57 "GET https://www.example.com:443/ HTTP/1.1" "curl/7.46.0"'
            ' ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2'
            ' arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/my-targets/73e2d6bc24d8a067'
            ' "Root=1-58337281-1d84f3d73c47ec4e58577259" "www.example.com"'
            ' "arn:aws:acm:us-east-2:123456789012:certificate/12345678-1234-1234-1234-123456789012" 1'
            ' 2018-07-02T22:22:48.364000Z "authenticate,forward" "-" "-" "10.0.0.1:80" "200" "-" "-"'
            ' TID_1234abcd5678ef90'),
    ("cloudfront", "2019-12-04\t21:02:31\tLAX1\t392\t192.0.2.100\tGET\td111111abcdef8.cloudfront.net\t/index.html"
                   "\t200\t-\tMozilla/5.0%20(Windows%20NT%2010.0;%20Win64;%20x64)%20AppleWebKit/537.36%20(KHTML,"
                   "%20like%20Gecko)%20Chrome/78.0.3904.108%20Safari/537.36\t-\t-\tHit"
                   "\tSOU5SUH4CHEMUwBaYwUwdoQgcRBW0vJBJAu7eNj3obD-HFNtZRTCIg==\td111111abcdef8.cloudfront.net"
                   "\thttps\t23\t0.001\t-\tTLSv1.2\tECDHE-RSA-AES128-GCM-SHA256\tHit\tHTTP/2.0\t-\t-\t11040\t0.001"
                   "\tHit\ttext/html\t78\t-\t-"),
    ("s3_access", "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be DOC-EXAMPLE-BUCKET1"
                  " [06/Feb/2019:00:00:38 +0000] 192.0.2.3"
                  " 79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be 3E57427F3EXAMPLE"
                  ' REST.GET.VERSIONING - "GET /DOC-EXAMPLE-BUCKET1?versioning HTTP/1.1" 200 - 113 - 7 - "-"'
                  ' "S3Console/0.4" - s9lzHYrFp76ZVxRcpX9+5cjAnEH2ROuNkd2BHfIa6UkFVdtjf5mKR3/eTPFvsiP/XV/VLi31234='
                  " SigV4 ECDHE-RSA-AES128-GCM-SHA256 AuthHeader DOC-EXAMPLE-BUCKET1.s3.us-west-1.amazonaws.com"
                  " TLSV1.2 - -"),
    ("generic", "2026/11/20 10:00:17 [error] 1234#0: *5 open() \"/var/www/favicon.ico\" failed (2: No such file or"
                " directory), client: 192.0.2.4, server: _, request: \"GET /favicon.ico HTTP/1.1\""),
    ("generic", "WARNING:root:disk usage at 91%"),
]
