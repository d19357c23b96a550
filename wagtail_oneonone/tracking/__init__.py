"""Signed links in email: unsubscribe (RFC 8058 one-click) and the preference centre."""
