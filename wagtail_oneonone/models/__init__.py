from .campaigns import Campaign, CampaignSend, CampaignStatus, EmailLayout, SendMode
from .contacts import ConsentChange, ConsentStatus, Contact, ErasureRecord, Suppression
from .events import Event
from .imports import ContactImport
from .messages import EmailTemplate, MessageKind, OutboxMessage, OutboxStatus, SentContent
from .segments import Segment, SegmentCount

__all__ = [
    "Campaign",
    "CampaignSend",
    "CampaignStatus",
    "ConsentChange",
    "ConsentStatus",
    "Contact",
    "ContactImport",
    "EmailLayout",
    "EmailTemplate",
    "ErasureRecord",
    "Event",
    "MessageKind",
    "OutboxMessage",
    "OutboxStatus",
    "Segment",
    "SegmentCount",
    "SendMode",
    "SentContent",
    "Suppression",
]
