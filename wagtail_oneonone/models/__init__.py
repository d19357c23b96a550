from .campaigns import Campaign, CampaignSend, CampaignStatus, EmailLayout, SendMode
from .contacts import ConsentChange, ConsentStatus, Contact, ErasureRecord, Suppression
from .events import Event
from .flows import (
    Enrollment,
    EnrollmentLog,
    EnrollmentStatus,
    Flow,
    FlowCursor,
    FlowMembership,
    FlowStatus,
    Reentry,
    TriggerType,
)
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
    "Enrollment",
    "EnrollmentLog",
    "EnrollmentStatus",
    "ErasureRecord",
    "Event",
    "Flow",
    "FlowCursor",
    "FlowMembership",
    "FlowStatus",
    "MessageKind",
    "OutboxMessage",
    "OutboxStatus",
    "Reentry",
    "Segment",
    "SegmentCount",
    "SendMode",
    "SentContent",
    "Suppression",
    "TriggerType",
]
