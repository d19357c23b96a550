"""Flows: a contact does something, and the right sequence of messages follows.

``engine`` is the pure state machine (an enrollment and its flow's steps in, effects and
the next position out); the services that load, ask and carry out come with the models.
"""
