"""HPC cluster event logs: `LogId Node Component State Epoch Flag message`.

Cluster management systems export node events as one whitespace-separated
record a line, timed only by a Unix epoch. The epoch must be plausible
(2000 to 2099): a line whose fifth field is some other number is not this
format. These records have no level; node, component, state, log id and flag
go in `details`.
"""
import re

from chalicelib.logbatch.parsing.common import ParsedLine, _details, _int, _text, _utc
from chalicelib.logbatch.parsing.times import epoch_time

HPC_LINE = re.compile(r"(?P<id>\d{1,18}) (?P<node>\S+) (?P<component>\S+) (?P<state>\S+) (?P<epoch>\d{9,10})"
                      r" (?P<flag>\d{1,3})(?: (?P<message>.*))?", re.DOTALL)


def _hpc_line(line: str, _received_at) -> ParsedLine | None:
    match = HPC_LINE.match(line)
    if not match:
        return None
    moment = epoch_time(int(match["epoch"]))
    if moment is None:
        return None
    component = _text(match["component"])
    return ParsedLine("hpc", _utc(moment), None, None, component, match["message"] or None,
                      details=_details(log_id=_int(match["id"]), node=_text(match["node"]), component=component,
                                       state=_text(match["state"]), flag=_int(match["flag"])))
