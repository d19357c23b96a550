"""Campaigns: one send to an audience, every copy rendered for its reader (docs/campaigns.md).

``schedule`` says when each copy goes, ``content`` turns a revision into sendable content,
``services`` schedules, queues, cancels and finishes sends, ``preview`` renders as a
contact, ``report`` sums up what happened.
"""
