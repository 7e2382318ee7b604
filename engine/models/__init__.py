"""SQLAlchemy 2 typed models, one module per part of the domain."""

from .base import Base, UTCDateTime, utcnow
from .booking import Booking, Slot, WaitlistEntry
from .case import Case, CaseEvent, CaseNote, IdempotencyKey, WorkflowVersion
from .checkin import CheckIn, QueueTicket
from .outbox import Message
from .poster import Poster
from .staff import ApiToken, StaffUser
from .token import Token
from .webhook import WebhookDelivery

__all__ = [
    "ApiToken", "Base", "Booking", "Case", "CaseEvent", "CaseNote", "CheckIn", "IdempotencyKey",
    "Message", "Poster", "QueueTicket", "Slot", "StaffUser", "Token", "UTCDateTime",
    "WaitlistEntry", "WebhookDelivery", "WorkflowVersion", "utcnow",
]
