"""The ``aws`` transport: EMAIL through Amazon SES, SMS and PUSH through Amazon SNS, WEBHOOK and SLACK over HTTPS.

``NOTIFY_TRANSPORT=aws`` selects it. Its settings (``SES_FROM_ADDRESS``,
``SMS_TYPE``, ``WEBHOOK_ALLOWED_HOSTS`` and the others) are read when the
transport is built, at the first NOTIFICATION job of a cold start.

The boto3 clients are created on first use and kept for the life of the
process. Their region comes from ``AWS_REGION`` and their endpoint from
``AWS_ENDPOINT_URL`` when it is set (a local stand-in such as moto).
botocore's adaptive retry mode retries throttling a few times within one
call. An error that is left over reaches the job, which then retries with
its own backoff.

Provider errors are sorted into two kinds. ``TransientDeliveryError``
covers throttling, timeouts and 5xx, and the job retries.
``PermanentDeliveryError`` covers a rejected address or message, an
unverified identity and a missing permission, and the job fails with a
message that names the fix. Email addresses and phone
numbers are removed from provider messages before they reach an error.
"""

from __future__ import annotations

import re
import ssl
import threading
from typing import Any

import boto3
from botocore.client import BaseClient
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError

from jobqueue.config import Settings, get_settings
from jobqueue.logs import logger
from jobqueue.transports import content, webhook
from jobqueue.transports.base import (
    Delivery,
    DisabledDevice,
    NoDeliveryAddress,
    PermanentDeliveryError,
    SendResult,
    TransientDeliveryError,
)

# botocore's total attempts per call, the first one included.
AWS_MAX_ATTEMPTS = 3
AWS_CONNECT_TIMEOUT_SECONDS = 5
AWS_READ_TIMEOUT_SECONDS = 10

# Error codes that mean "try again later", from SES v2, SNS and the AWS query protocol.
TRANSIENT_ERROR_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "Throttled",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "LimitExceededException",
        "KMSThrottling",
        "InternalError",
        "InternalFailure",
        "ServiceUnavailable",
        "RequestTimeout",
        "RequestTimeoutException",
    }
)
# SNS codes for a push endpoint that will never accept a message again.
DEAD_ENDPOINT_CODES = frozenset({"EndpointDisabled", "NotFound", "NotFoundException"})

_EMAIL = re.compile(r"[^\s<>@]+@[^\s<>@]+")
_PHONE = re.compile(r"\+?\d[\d\s().-]{6,}\d")
_TAG_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")

_clients: dict[str, BaseClient] = {}
_clients_lock = threading.Lock()


def client(service: str) -> BaseClient:
    """Return the process's boto3 client for ``service``, creating it on first use."""
    with _clients_lock:
        existing = _clients.get(service)
        if existing is not None:
            return existing
        config = Config(
            retries={"mode": "adaptive", "max_attempts": AWS_MAX_ATTEMPTS},
            connect_timeout=AWS_CONNECT_TIMEOUT_SECONDS,
            read_timeout=AWS_READ_TIMEOUT_SECONDS,
        )
        try:
            # A session per client: boto3's default session is not thread-safe.
            created = boto3.session.Session().client(service, config=config)
        except NoRegionError:
            raise PermanentDeliveryError(
                f"no AWS region is configured for the {service} client; set AWS_REGION"
            ) from None
        _clients[service] = created
        return created


def reset_clients() -> None:
    """Forget the cached clients, so the next send creates new ones from the environment."""
    with _clients_lock:
        _clients.clear()


class AwsTransport:
    """Delivers on every channel with the provider each channel uses."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or get_settings()
        # Created once, because every new context loads the CA bundle again.
        self.ssl_context = ssl.create_default_context()

    def send(self, delivery: Delivery) -> SendResult:
        link = content.incident_link(self.settings.incident_url_base, delivery.incident)
        if delivery.channel == "EMAIL":
            result = self._send_email(delivery, link)
        elif delivery.channel == "SMS":
            result = self._send_sms(delivery, link)
        elif delivery.channel == "PUSH":
            result = self._send_push(delivery, link)
        elif delivery.channel in ("WEBHOOK", "SLACK"):
            result = self._send_webhook(delivery, link)
        else:
            raise PermanentDeliveryError(f"channel {delivery.channel!r} is not supported by the aws transport")
        logger.info(
            "notification sent",
            extra={
                "action": "notification_sent",
                "transport": "aws",
                "job_id": delivery.job_id,
                "channel": delivery.channel,
                "user_id": delivery.user.id,
                "incident_id": delivery.incident.id if delivery.incident else None,
                "provider_message_id": result.provider_message_id,
            },
        )
        return result

    # -- EMAIL ------------------------------------------------------------------

    def _send_email(self, delivery: Delivery, link: str | None) -> SendResult:
        sender = self.settings.ses_from_address
        if sender is None:
            raise PermanentDeliveryError(
                "SES_FROM_ADDRESS is not set, so EMAIL notifications cannot be sent; set the SesFromAddress "
                "parameter to an address of a verified SES identity"
            )
        if not delivery.user.email:
            raise NoDeliveryAddress("the user has no email address")

        rendered = content.email_content(delivery, link)
        request: dict[str, Any] = {
            "FromEmailAddress": sender,
            "Destination": {"ToAddresses": [delivery.user.email]},
            "Content": {
                "Simple": {
                    "Subject": {"Data": rendered.subject, "Charset": "UTF-8"},
                    "Body": {
                        "Text": {"Data": rendered.text, "Charset": "UTF-8"},
                        "Html": {"Data": rendered.html, "Charset": "UTF-8"},
                    },
                }
            },
            # Lets SES event destinations (bounces, complaints) be traced back to the job.
            "EmailTags": [{"Name": "jobId", "Value": _TAG_UNSAFE.sub("_", delivery.job_id)[:256]}],
        }
        if self.settings.ses_configuration_set:
            request["ConfigurationSetName"] = self.settings.ses_configuration_set
        try:
            response = client("sesv2").send_email(**request)
        except (ClientError, BotoCoreError) as exc:
            raise _classify(exc, "SES SendEmail", _ses_advice(exc, self.settings)) from None
        return SendResult(provider_message_id=response["MessageId"])

    # -- SMS --------------------------------------------------------------------

    def _send_sms(self, delivery: Delivery, link: str | None) -> SendResult:
        phone = content.normalize_e164(delivery.user.phone)
        if phone is None:
            if not delivery.user.phone:
                raise NoDeliveryAddress("the user has no phone number")
            raise PermanentDeliveryError(
                "the user's phone number is not in E.164 format (a + and the country code, up to 15 digits, "
                "such as +14155550100); fix the phone number"
            )
        attributes = {"AWS.SNS.SMS.SMSType": {"DataType": "String", "StringValue": self.settings.sms_type}}
        if self.settings.sms_sender_id:
            attributes["AWS.SNS.SMS.SenderID"] = {"DataType": "String", "StringValue": self.settings.sms_sender_id}
        try:
            response = client("sns").publish(
                PhoneNumber=phone, Message=content.sms_text(delivery, link), MessageAttributes=attributes
            )
        except (ClientError, BotoCoreError) as exc:
            raise _classify(
                exc, "SNS Publish (SMS)", "check the user's phone number and the account's SMS settings"
            ) from None
        return SendResult(provider_message_id=response["MessageId"])

    # -- PUSH -------------------------------------------------------------------

    def _send_push(self, delivery: Delivery, link: str | None) -> SendResult:
        if not delivery.devices:
            raise NoDeliveryAddress("the user has no enabled push device")
        message = content.push_message(delivery, link)
        sns = client("sns")
        message_ids: list[str] = []
        disabled: list[DisabledDevice] = []
        errors: list[TransientDeliveryError | PermanentDeliveryError] = []
        for device in delivery.devices:
            try:
                response = sns.publish(TargetArn=device.endpoint_arn, Message=message, MessageStructure="json")
            except ClientError as exc:
                code = _code(exc)
                if code in DEAD_ENDPOINT_CODES or (code == "InvalidParameter" and "TargetArn" in _message(exc)):
                    disabled.append(DisabledDevice(device.id, f"{code}: {_message(exc)}"[:500]))
                else:
                    errors.append(_classify(exc, "SNS Publish (push)", "check the platform application"))
                continue
            except BotoCoreError as exc:
                errors.append(_classify(exc, "SNS Publish (push)", ""))
                continue
            message_ids.append(response["MessageId"])

        if message_ids:
            if errors:
                # Some device got the message, and a retry would send it to that device again.
                logger.warning(
                    "push notification reached only some devices; the others are not retried",
                    extra={
                        "action": "push_partly_sent",
                        "job_id": delivery.job_id,
                        "sent": len(message_ids),
                        "failed": len(errors),
                        "error": str(errors[0]),
                    },
                )
            return SendResult(provider_message_id=",".join(message_ids), disabled_devices=tuple(disabled))
        permanent = [error for error in errors if isinstance(error, PermanentDeliveryError)]
        if permanent:
            raise PermanentDeliveryError(str(permanent[0]), disabled_devices=tuple(disabled))
        if errors:
            raise TransientDeliveryError(str(errors[0]), disabled_devices=tuple(disabled))
        raise NoDeliveryAddress(
            "every push device of the user is disabled or deleted at SNS; the user must register the app again",
            disabled_devices=tuple(disabled),
        )

    # -- WEBHOOK and SLACK ------------------------------------------------------

    def _send_webhook(self, delivery: Delivery, link: str | None) -> SendResult:
        target = delivery.webhook
        if target is None:
            raise NoDeliveryAddress(f"the user has no {delivery.channel} webhook")
        if delivery.channel == "WEBHOOK" and self.settings.webhook_secrets_arn is None:
            raise PermanentDeliveryError(
                "WEBHOOK_SECRETS_ARN is not set, so WEBHOOK deliveries cannot be signed; set the "
                "WebhookSecretsArn parameter to a secret that maps webhook ids to signing secrets"
            )
        secret = webhook.read_webhook_secret(self.settings.webhook_secrets_arn, target.id)
        url = target.url or secret.url
        if not url:
            raise PermanentDeliveryError(
                f"webhook {target.id!r} has no url, neither in its row nor in the webhook secret; set one of them"
            )
        # Generic webhooks must be verifiable; Slack checks the URL's token instead, so its signature is optional.
        if delivery.channel == "WEBHOOK" and secret.signing_secret is None:
            raise PermanentDeliveryError(
                f"the webhook secret has no signing secret for webhook {target.id!r}; add "
                f'"{target.id}": "<signing secret>" to the secret named by WEBHOOK_SECRETS_ARN'
            )

        address = webhook.check_url(url, self.settings.webhook_allowed_hosts)
        if delivery.channel == "SLACK":
            body = content.slack_body(delivery, link)
        else:
            body = content.webhook_body(delivery, link)
        status = webhook.post(
            address,
            webhook.encode_body(body),
            delivery_id=delivery.job_id,
            secret=secret.signing_secret,
            timeout_seconds=self.settings.webhook_timeout_seconds,
            ssl_context=self.ssl_context,
        )
        return SendResult(provider_message_id=f"{delivery.channel.lower()}-{status}-{delivery.job_id}")


# -- errors ----------------------------------------------------------------------


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _message(exc: ClientError) -> str:
    return _redact(str(exc.response.get("Error", {}).get("Message", "")))


def _redact(text: str) -> str:
    """Remove email addresses and phone numbers, which must not reach logs or the job's error."""
    return _PHONE.sub("<phone>", _EMAIL.sub("<email>", text))


def _classify(
    exc: BotoCoreError | ClientError, operation: str, advice: str
) -> TransientDeliveryError | PermanentDeliveryError:
    """Convert a botocore error into a transient or permanent delivery error whose message names the fix."""
    if isinstance(exc, NoCredentialsError):
        return PermanentDeliveryError(f"{operation} failed: no AWS credentials found; give the function a role")
    if isinstance(exc, BotoCoreError):
        # Connection failures and timeouts, after botocore's own retries.
        return TransientDeliveryError(f"{operation} failed: {type(exc).__name__}: {_redact(str(exc))}")

    code = _code(exc)
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
    detail = f"{operation} failed with {code or status}: {_message(exc)}"
    if code in TRANSIENT_ERROR_CODES or status >= 500 or status == 429:
        return TransientDeliveryError(detail)
    if code in ("AccessDenied", "AccessDeniedException", "AuthorizationError"):
        return PermanentDeliveryError(f"{detail}; the processor's role (ProcessorRole) lacks the permission")
    return PermanentDeliveryError(f"{detail}; {advice}" if advice else detail)


def _ses_advice(exc: BotoCoreError | ClientError, settings: Settings) -> str:
    code = _code(exc) if isinstance(exc, ClientError) else ""
    if code == "MessageRejected":
        return (
            "verify the identity of SES_FROM_ADDRESS in SES in this region; while the account is in the SES "
            "sandbox, the recipient must be verified too"
        )
    if code == "MailFromDomainNotVerifiedException":
        return "verify the custom MAIL FROM domain of the sender's identity in SES, or turn it off"
    if code == "NotFoundException":
        configuration_set = settings.ses_configuration_set
        if configuration_set:
            return f"check that the SES identity and the configuration set {configuration_set!r} exist in this region"
        return "check that the SES identity of SES_FROM_ADDRESS exists in this region"
    if code in ("AccountSuspendedException", "SendingPausedException"):
        return "SES sending is paused for the account or the configuration set; resume it in SES"
    return "check SES_FROM_ADDRESS and the recipient's email address"
