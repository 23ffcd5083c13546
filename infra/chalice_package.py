"""`chalice package` that accepts @app.on_s3_event (Chalice 1.34 raises NotImplementedError for it).

Chalice refuses because CloudFormation cannot change notifications of a bucket
it did not create. Ours are created by the same template (infra/resources.py),
so the notification can live on the bucket resource itself. This entry point
records each S3 subscription in the template's Metadata instead of raising;
infra/cloudformation.py then moves it onto the bucket with the Lambda
permission S3 needs. Run as `python -m infra.chalice_package <chalice package args>`.
"""
import sys

from chalice.package import SAMTemplateGenerator, to_cfn_resource_name

METADATA_KEY = "AsyncCatalogS3Notifications"


def _record_s3_notification(self, resource, template):
    template.setdefault("Metadata", {}).setdefault(METADATA_KEY, []).append({
        "Function": to_cfn_resource_name(resource.lambda_function.resource_name),
        "Bucket": resource.bucket,
        "Events": list(resource.events),
        "Prefix": resource.prefix,
        "Suffix": resource.suffix,
    })


def main(argv: list[str]) -> int:
    SAMTemplateGenerator._generate_s3bucketnotification = _record_s3_notification  # type: ignore[method-assign]  # the point
    from chalice.cli import main as chalice_main
    sys.argv = ["chalice", *argv]
    return chalice_main()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
