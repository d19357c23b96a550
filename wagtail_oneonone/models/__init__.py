from .contacts import ConsentChange, ConsentStatus, Contact, ErasureRecord, Suppression
from .events import Event
from .imports import ContactImport

__all__ = [
    "ConsentChange",
    "ConsentStatus",
    "Contact",
    "ContactImport",
    "ErasureRecord",
    "Event",
    "Suppression",
]
