from .contacts import ConsentChange, ConsentStatus, Contact, ErasureRecord, Suppression
from .events import Event
from .imports import ContactImport
from .messages import EmailTemplate, MessageKind, OutboxMessage, OutboxStatus, SentContent
from .segments import Segment, SegmentCount

__all__ = [
    "ConsentChange",
    "ConsentStatus",
    "Contact",
    "ContactImport",
    "EmailTemplate",
    "ErasureRecord",
    "Event",
    "MessageKind",
    "OutboxMessage",
    "OutboxStatus",
    "Segment",
    "SegmentCount",
    "SentContent",
    "Suppression",
]
