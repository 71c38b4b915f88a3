"""Amazon SES events delivered through SNS (see :mod:`.sns` for the envelope and signature).

The SNS ``Message`` holds the SES JSON in either form: event publishing (``eventType``: Send,
Reject, Bounce, Complaint, Delivery, DeliveryDelay, Open, Click, Rendering Failure,
Subscription) or the older notifications (``notificationType``: Bounce, Complaint, Delivery).
One SES event may name several recipients; each becomes an event. Files may hold SNS
envelopes or bare SES events (Firehose writes JSON lines of those); files are not verified.
"""

from __future__ import annotations

from typing import Any

from deliverwatch.events.classify import classify
from deliverwatch.events.mailbox import split_address
from deliverwatch.events.model import BounceClass, Event, EventType, stable_event_id
from deliverwatch.events.providers import sns
from deliverwatch.events.providers.base import (
    Parsed,
    PayloadError,
    SourceSettings,
    VerifyContext,
    WebhookRequest,
)
from deliverwatch.events.providers.batch import BatchProvider, build_event
from deliverwatch.events.providers.jsonfields import Fields, load_json

#: SES kind → (our type, the object holding its timestamp, the recipient list in it or None
#: for ``mail.destination``).
KINDS: dict[str, tuple[EventType, str, str | None]] = {
    "Send": (EventType.SENT, "mail", None),
    "Reject": (EventType.DROPPED, "mail", None),
    "Rendering Failure": (EventType.DROPPED, "mail", None),
    "Delivery": (EventType.DELIVERED, "delivery", "recipients"),
    "Bounce": (EventType.BOUNCED, "bounce", "bouncedRecipients"),
    "Complaint": (EventType.COMPLAINED, "complaint", "complainedRecipients"),
    "DeliveryDelay": (EventType.DEFERRED, "deliveryDelay", "delayedRecipients"),
    "Open": (EventType.OPENED, "open", None),
    "Click": (EventType.CLICKED, "click", None),
    "Subscription": (EventType.UNSUBSCRIBED, "subscription", None),
}
DETAIL = {"Reject": "reject", "Rendering Failure": "failure"}

#: Bounce (type, subType) pairs that decide the class without reading the reply.
BOUNCE_SUBTYPES: dict[str, BounceClass] = {
    "NoEmail": BounceClass.HARD,
    "MailboxFull": BounceClass.MAILBOX_FULL,
    "MessageTooLarge": BounceClass.SOFT,
    "ContentRejected": BounceClass.BLOCK,
    "AttachmentRejected": BounceClass.BLOCK,
}
#: SES gave up without trying: the address is on a suppression list.
SUPPRESSED = {"Suppressed", "OnAccountSuppressionList"}
DELAY_TYPES = {
    "MailboxFull": BounceClass.MAILBOX_FULL,
    "SpamDetected": BounceClass.BLOCK,
    "IPFailure": BounceClass.BLOCK,
}


def bounce_outcome(
    bounce_type: str | None, sub_type: str | None, status: str | None, diagnostic: str | None
) -> tuple[EventType, BounceClass | None]:
    """Type and class of an SES-style bounce (Resend reports the same fields)."""
    if sub_type in SUPPRESSED:
        return EventType.DROPPED, None
    if sub_type in BOUNCE_SUBTYPES:
        return EventType.BOUNCED, BOUNCE_SUBTYPES[sub_type]
    hint = {"Permanent": "hard", "Transient": "soft"}.get(bounce_type or "")
    return EventType.BOUNCED, classify(status, diagnostic, hint)


class SES(BatchProvider):
    name = "ses"

    async def verify(
        self, request: WebhookRequest, source: SourceSettings, ctx: VerifyContext
    ) -> None:
        await sns.verify_envelope(request, source, ctx)

    def parse(self, request: WebhookRequest, source: SourceSettings) -> Parsed:
        message = sns.envelope(request.body)
        if control := sns.control(message):
            return Parsed(events=[], control=control)
        return Parsed(self.item_events(message, source, "message", request))

    def item_events(
        self, item: Any, source: SourceSettings, where: str, request: WebhookRequest | None
    ) -> list[Event]:
        fields = Fields(item, where)
        kind = fields.opt_text("Type")
        if kind in sns.CONTROL:
            return []  # a saved subscription message in a file
        if kind is not None or request is not None:
            if kind != "Notification":
                raise PayloadError(f"{where}: Type is missing or not an SNS message type")
            fields = Fields(load_json(fields.text("Message"), f"{where}: Message"), where)
        return ses_events(fields, source, self.name)


def ses_events(fields: Fields, source: SourceSettings, provider: str) -> list[Event]:
    """The events of one SES event/notification object."""
    name = fields.opt_text("eventType") or fields.text("notificationType")
    if name not in KINDS:
        return []
    kind, holder_key, recipients_key = KINDS[name]
    mail = fields.obj("mail")
    holder = mail if holder_key == "mail" else fields.obj(holder_key)
    if name == "Subscription":
        preferences = holder.opt_obj("newTopicPreferences")
        if not (preferences and preferences.opt_bool("unsubscribeAll")):
            return []  # topic preference changes are not unsubscriptions from everything
    common = mail.opt_obj("commonHeaders")
    senders = common.strings("from") if common else ()
    detail = fields.opt_obj(DETAIL[name]) if name in DETAIL else None
    tags, ip = _tags(mail)
    targets: list[tuple[str, Fields | None]]
    if recipients_key is None:
        targets = [(address, None) for address in mail.strings("destination")]
    elif name == "Delivery":
        targets = [(address, None) for address in holder.strings(recipients_key)]
    else:
        targets = [(r.text("emailAddress"), r) for r in holder.objects(recipients_key)]
    events = []
    for address, recipient in targets:
        status = recipient.opt_text("status") if recipient else None
        diagnostic = recipient.opt_text("diagnosticCode") if recipient else None
        if name == "Delivery":
            diagnostic = holder.opt_text("smtpResponse")
        elif detail:
            diagnostic = detail.opt_text("reason") or detail.opt_text("errorMessage")
        event_kind, bounce_class = kind, None
        if name == "Bounce":
            event_kind, bounce_class = bounce_outcome(
                holder.opt_text("bounceType"), holder.opt_text("bounceSubType"), status, diagnostic
            )
        elif name == "DeliveryDelay":
            delay = holder.opt_text("delayType") or ""
            bounce_class = DELAY_TYPES.get(delay) or classify(status, diagnostic, "soft")
        split = split_address(address)
        events.append(
            build_event(
                provider,
                source,
                where=fields.where,
                raw=fields.data,
                type=event_kind,
                timestamp=holder.time("timestamp"),
                recipient=address,
                # One SES event names several recipients: the id covers the recipient too.
                event_id=stable_event_id(
                    provider, {"event": fields.data, "recipient": split[0] if split else ""}
                ),
                sender=senders[0] if senders else mail.opt_text("source"),
                message_id=mail.opt_text("messageId"),
                bounce_class=bounce_class,
                smtp_status=status,
                diagnostic=diagnostic,
                tags=tags,
                ip=ip,
            )
        )
    return events


def _tags(mail: Fields) -> tuple[list[str], str | None]:
    """User tags as ``name:value``, and the sending IP from the ``ses:outgoing-ip`` tag."""
    tags_obj = mail.opt_obj("tags")
    tags: list[str] = []
    ip = None
    for key in tags_obj.data if tags_obj else ():
        values = tags_obj.strings(key) if tags_obj else ()
        if key == "ses:outgoing-ip":
            ip = values[0] if values else None
        elif not key.startswith("ses:") and not key.startswith("aws:"):
            tags.extend(f"{key}:{value}" for value in values)
    return tags, ip


PROVIDER = SES()
