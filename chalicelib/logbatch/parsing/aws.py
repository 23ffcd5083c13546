"""AWS access logs: Application Load Balancer, CloudFront standard logs and S3 server access logs."""
import re
from datetime import datetime
from urllib.parse import unquote

from chalicelib.logbatch.parsing.common import (ParsedLine, _clf_time, _details, _int, _size, _status, _status_level,
                                                _text, _utc)

ALB_TYPES = ("http ", "https ", "h2 ", "grpcs ", "ws ", "wss ")
ALB_LINE = re.compile(
    r"(?P<type>\S+) (?P<time>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?Z) (?P<elb>\S+) (?P<client>\S+)"
    r" (?P<target>\S+) (?P<request_time>\S+) (?P<target_time>\S+) (?P<response_time>\S+)"
    r" (?P<elb_status>\d{3}|-) (?P<target_status>\d{3}|-) (?P<received>\d+|-) (?P<sent>\d+|-)"
    r' "(?P<request>[^"]*)" "(?P<agent>(?:[^"\\]|\\.)*)" (?P<cipher>\S+) (?P<protocol>\S+) (?P<target_group>\S+)'
    r'(?: "(?P<trace>[^"]*)")?(?: "(?P<domain>[^"]*)")?(?: "(?P<cert>[^"]*)")?(?: (?P<rule>\S+))?'
    r'(?: (?P<created>\S+))?(?: "(?P<actions>[^"]*)")?(?: "(?P<redirect>[^"]*)")?(?: "(?P<error>[^"]*)")?')


def _alb_line(line: str, _received_at) -> ParsedLine | None:
    if not line.startswith(ALB_TYPES):
        return None
    match = ALB_LINE.match(line)
    if not match:
        return None
    moment = datetime.fromisoformat(match["time"][:-1][:26] + "+00:00")  # past microseconds: dropped
    status = _status(match["elb_status"])
    method, path = _request_target(match["request"])
    return ParsedLine(
        "alb", _utc(moment), _status_level(status), status, None, match["request"] or None, method, path,
        _size(match["sent"]), _address(match["client"]),
        details=_details(type=match["type"], elb=_text(match["elb"]), target=_text(match["target"]),
                         target_status=_status(match["target_status"]), received_bytes=_int(match["received"]),
                         request_processing_time=_text(match["request_time"]),
                         target_processing_time=_text(match["target_time"]),
                         response_processing_time=_text(match["response_time"]),
                         user_agent=_text(match["agent"]), ssl_cipher=_text(match["cipher"]),
                         ssl_protocol=_text(match["protocol"]), target_group=_text(match["target_group"]),
                         trace_id=_text(match["trace"]), domain=_text(match["domain"]),
                         actions=_text(match["actions"]), error_reason=_text(match["error"])))


def _request_target(request: str) -> tuple[str | None, str | None]:
    """(method, path) of `GET http://host:80/p?q HTTP/1.1`: the path without scheme and host, clipped."""
    parts = request.split(" ")
    if len(parts) < 2 or parts[0] == "-":
        return None, None
    target = parts[1]
    scheme = target.find("://")
    if scheme > 0:
        slash = target.find("/", scheme + 3)
        target = target[slash:] if slash > 0 else "/"
    return _text(parts[0]), _text(target)


def _address(client_port: str) -> str | None:
    """The address of `192.0.2.1:2817` (or of `2001:db8::1:2817`, as ALB writes IPv6)."""
    address, _, port = client_port.rpartition(":")
    return _text(address if address and port.isdigit() else client_port)


CLOUDFRONT_LINE = re.compile(r"\d{4}-\d\d-\d\d\t\d\d:\d\d:\d\d\t")


def _cloudfront_line(line: str, _received_at) -> ParsedLine | None:
    if not CLOUDFRONT_LINE.match(line):
        return None
    fields = line.split("\t", 24)
    if len(fields) < 13:
        return None
    (date, time, edge, sent, client, method, host, stem, status_text, referer, agent, query,
     _cookie) = fields[:13]
    rest = fields[13:] + [None] * 11
    if not (sent.isdigit() or sent == "-") or not method.isalpha() or not (status_text.isdigit() or status_text == "-"):
        return None
    moment = datetime.fromisoformat(f"{date}T{time}+00:00")
    status = _status(status_text)
    path = stem + (f"?{query}" if query and query != "-" else "")
    return ParsedLine(
        "cloudfront", _utc(moment), _status_level(status), status, None, f"{method} {path}", _text(method),
        _text(path), _size(sent) if sent.isascii() else None, _text(client),
        details=_details(edge_location=_text(edge), host=_text(host), referer=_text(referer),
                         user_agent=_text(unquote(agent, errors="replace")) if agent else None,
                         result_type=_text(rest[0]), request_id=_text(rest[1]), host_header=_text(rest[2]),
                         protocol=_text(rest[3]), received_bytes=_int(rest[4]), time_taken=_text(rest[5]),
                         ssl_protocol=_text(rest[7]), protocol_version=_text(rest[10])))


S3_ACCESS_LINE = re.compile(
    r"(?P<owner>\S+) (?P<bucket>\S+) \[(?P<time>\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4})\]"
    r" (?P<remote>\S+) (?P<requester>\S+) (?P<request_id>\S+) (?P<operation>\S+) (?P<key>\S+)"
    r' (?:"(?P<request>[^"]*)"|-) (?P<status>\d{3}|-) (?P<error>\S+) (?P<sent>\d+|-) (?P<size>\d+|-)'
    r' (?P<total>\d+|-) (?P<turnaround>\d+|-) (?:"(?P<referer>[^"]*)"|-) (?:"(?P<agent>(?:[^"\\]|\\.)*)"|-)'
    r"(?: (?P<version>\S+))?")


def _s3_access_line(line: str, _received_at) -> ParsedLine | None:
    match = S3_ACCESS_LINE.match(line)
    if not match:
        return None
    moment = _clf_time(match["time"])
    status = _status(match["status"])
    request = match["request"]
    method, path = _request_target(request) if request else (None, None)
    return ParsedLine(
        "s3_access", _utc(moment), _status_level(status), status, None, request or match["operation"], method, path,
        _size(match["sent"]), _text(match["remote"]),
        details=_details(bucket=_text(match["bucket"]), key=_text(match["key"]), operation=_text(match["operation"]),
                         request_id=_text(match["request_id"]), requester=_text(match["requester"]),
                         error_code=_text(match["error"]), object_size=_int(match["size"]),
                         total_time=_text(match["total"]), turn_around_time=_text(match["turnaround"]),
                         referer=_text(match["referer"]), user_agent=_text(match["agent"]),
                         version_id=_text(match["version"])))
