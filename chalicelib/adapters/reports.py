"""An S3 bucket used as a store of generated reports.

A report carries the correlation id of the work that wrote it as its
`correlation-id` user metadata, so an object found in the bucket leads back
to the request or upload it came from.
"""
from chalicelib import aws, correlation


class ReportStore:
    def __init__(self, bucket: str):
        self.bucket = bucket

    def put_text(self, key: str, text: str, content_type: str = "text/plain; charset=utf-8") -> None:
        bound = correlation.current()
        aws.client("s3").put_object(
            Bucket=self.bucket, Key=key, Body=text.encode("utf-8"), ContentType=content_type,
            **({"Metadata": correlation.s3_metadata(bound)} if bound else {}),
        )

    def get_text(self, key: str) -> str | None:
        s3 = aws.client("s3")
        try:
            response = s3.get_object(Bucket=self.bucket, Key=key)
        except s3.exceptions.NoSuchKey:
            return None
        return response["Body"].read().decode("utf-8")
