"""The one SNS message a completed order sends to its subscribers.

The body is `{orderId, customerId, status, total, contact?}`: `contact` is
the order's `notify` e-mail or phone, when it gave one and it is still kept
(on the order until the write recording this notification removes it). It travels in the body because the topic's KMS encryption
(infra/hardening.py) covers the body only: SNS keeps message attributes in
clear. So the attributes carry nothing about the customer, only what routing
and deduplication need: `status`, `notificationId` and `correlation_id`. A
subscriber that routed by customer filters on the body (a filter policy with
FilterPolicyScope `MessageBody`). The contact goes in the message rather than
as a reference to look up because the subscriber (a mailer, an SMS sender)
would otherwise need credentials for the API and a call per notification, and
a reference outliving the contact's retention would name nothing.

Subscribers should deduplicate on `notificationId` (`<orderId>:COMPLETED`): delivery
is at least once. The worker records `notifiedAt` only after SNS accepted the
message, so a crash between the two (or two deliveries of one message racing
each other) can publish the same notification twice, with the same
notificationId; it can never publish none.

It also carries `correlation_id`: the id of the request that placed the order
(see chalicelib/correlation.py), to follow an order from its POST to here.
"""
import json
from functools import cached_property
from typing import Any

from chalicelib import aws, correlation
from chalicelib.money import money_text


def notification_id(order_id: str, status: str) -> str:
    return f"{order_id}:{status}"


def _text(value: str) -> dict[str, str]:
    return {"DataType": "String", "StringValue": value}


class OrderNotifier:
    def __init__(self, topic_name: str, topic_arn: str | None = None):
        self.topic_name = topic_name
        self.given_arn = topic_arn

    @cached_property
    def topic_arn(self) -> str:
        """The topic's ARN: given by the template on AWS, else built once per container from who and where we are.

        Given, because a postgres stage runs process_orders in a VPC with no
        route to STS (no endpoint for it: nothing else there calls it).

        GetCallerIdentity needs no IAM permission, unlike CreateTopic or
        ListTopics, so the function keeps only sns:Publish on its one topic.
        """
        if self.given_arn:
            return self.given_arn
        sns = aws.client("sns")
        identity = aws.client("sts").get_caller_identity()
        partition = identity["Arn"].split(":")[1]
        return f"arn:{partition}:sns:{sns.meta.region_name}:{identity['Account']}:{self.topic_name}"

    def completed(self, order: dict[str, Any]) -> str:
        """Publish the order's COMPLETED notification; SNS's MessageId."""
        status = order["status"]
        message = {"orderId": order["orderId"], "customerId": order["customerId"], "status": status,
                   "total": money_text(order["total"]) if order.get("total") is not None else None}
        if order.get("notify"):
            message["contact"] = order["notify"]  # in the encrypted body, never an attribute (see above)
        attributes = {"status": _text(status), "notificationId": _text(notification_id(order["orderId"], status))}
        carried = correlation.current() or order.get("correlationId")
        if carried:
            attributes.update(correlation.message_attributes(carried))
        response = aws.client("sns").publish(
            TopicArn=self.topic_arn, Message=json.dumps(message, separators=(",", ":")),
            MessageAttributes=attributes)
        return response["MessageId"]
