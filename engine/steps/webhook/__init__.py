"""Webhook step: a signed HTTP POST to another system when an event of the case happens (a
form is submitted, a booking made, staff complete the case), delivered from an outbox.

The event's transaction queues one row with the body frozen (``outbox``); a Celery task
claims it and POSTs it with an HMAC signature (``deliver``), retrying a receiver that is down
or busy. The case never depends on the delivery: a failed one is shown to staff, never
rolled into the case."""
