"""Public signals.

Hosts may *send* :data:`track_event` and :data:`identify_contact` instead of calling the
API (handy from code that must not import the app); the app *sends* the others.
"""

from django.dispatch import Signal

#: Send to record an event. kwargs: the keyword arguments of ``track()``:
#: ``event_type`` (required), ``email``, ``user``, ``contact``, ``request``, ``visitor_id``,
#: ``value``, ``currency``, ``properties``, ``occurred_at``, ``dedup_key``, ``fail_silently``.
#: A refused event raises ``EventValidationError`` in the sender unless ``fail_silently``.
track_event = Signal()

#: Send to create or update a contact. kwargs: the keyword arguments of ``identify()``,
#: ``email`` required, plus ``fail_silently`` (log and drop refused input).
identify_contact = Signal()

#: Sent after a contact's consent changed and the change committed. args: ``contact``,
#: ``change`` (a ``ConsentChange``).
consent_changed = Signal()

#: Sent after messages were queued in the outbox and committed (no args). The app's own
#: receiver wakes the dispatcher.
messages_queued = Signal()

#: Sent after a contact was erased. args: ``email_hash``, ``record`` (an ``ErasureRecord``).
contact_erased = Signal()

#: Sent after a campaign's send was scheduled or cancelled and the change committed.
#: kwargs: ``campaign_id``, ``status``. The app's own receiver starts a "now" send at once.
campaign_send_changed = Signal()
