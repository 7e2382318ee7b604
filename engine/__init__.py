"""The domain of the reservation and QR-linked workflow engine.

Nothing in this package imports Flask: functions take a SQLAlchemy session, the actor and
``now`` as arguments, ``flush()`` their changes and leave the commit to the caller.
"""
