"""The log flow's names as benchmarks/ and older callers import them: the services come from chalicelib/bootstrap.py.

The flow's jobs live in their own modules (splitter, worker, completion,
queries); nothing here builds or caches anything. Kept while benchmarks/
(another owner's) imports `chalicelib.logbatch.service`; new code imports the
bootstrap and the job modules.
"""
from chalicelib.bootstrap import (log_batch_problem_lines, log_batch_status, log_formats,  # noqa: F401  (re-exported)
                                  log_splitter, log_worker)
from chalicelib.bootstrap import reset_services as reset  # noqa: F401  (a flow's reset keeps the token verifier)
from chalicelib.logbatch.completion import BatchCompletion, build_report, report_key_for  # noqa: F401
from chalicelib.logbatch.splitter import LogSplitter, accepted  # noqa: F401
from chalicelib.logbatch.worker import LogWorker, clip, line_record  # noqa: F401
