"""The events a notify step may be sent on, and the links its email may carry (read by the
step's checks at load and by its reaction)."""

from __future__ import annotations

EVENTS = ("booked", "rescheduled", "cancelled", "waitlist_offer", "submitted", "checked_in",
          "reminder", "received", "in_progress", "returned", "completed", "rejected")
# Events about a booking: a notify step reacts only to those of its own booking step.
BOOKING_EVENTS = frozenset({"booked", "rescheduled", "cancelled", "waitlist_offer", "reminder"})
LINK_KINDS = ("case", "ticket", "qr", "cancel", "reschedule", "ics", "waitlist")
