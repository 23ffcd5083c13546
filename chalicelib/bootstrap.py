"""Where the app's services are built: each from the stage's settings, with its clients and repositories.

The flows' modules build nothing themselves, so a test or a tool builds the
very same graph (and drops it with `reset()` when it changes the settings),
and no module has to import another flow to reach its service.
"""
from chalicelib import settings
from chalicelib.uploadfailures import UploadFailures


def upload_failures() -> UploadFailures:
    """The upload readers by the bucket whose uploads they read (built each time: the readers are cached)."""
    from chalicelib.invoices.service import invoice_ingester
    from chalicelib.logbatch.service import log_splitter
    return UploadFailures({settings.input_logs_bucket(): log_splitter(), settings.invoices_bucket(): invoice_ingester()})
