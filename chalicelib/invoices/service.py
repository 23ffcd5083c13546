"""The invoice flow's names as benchmarks/ and older callers import them: the services come from
chalicelib/bootstrap.py.

The ingester and the reader are their own modules; nothing here builds or
caches anything. Kept while benchmarks/ (another owner's) imports
`chalicelib.invoices.service`; new code imports the bootstrap and the job modules.
"""
from chalicelib.bootstrap import invoice_ingester, invoice_reader, invoice_upload_status  # noqa: F401
from chalicelib.bootstrap import reset_services as reset  # noqa: F401  (a flow's reset keeps the token verifier)
from chalicelib.invoices.ingester import (REPORT_PROBLEMS_SHOWN, STATUS_PROBLEMS_SHOWN,  # noqa: F401  (re-exported)
                                          WRITE_CHUNK_ROWS, InvoiceIngester, RowBatch, StagePolicy, report_key_for,
                                          upload_status, upload_summary)
from chalicelib.invoices.reader import InvoiceReader, ambiguity, parse_iso_date, present  # noqa: F401
