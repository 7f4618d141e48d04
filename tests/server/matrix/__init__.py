"""Calls through ``sipwire serve`` between real user agents, transport by transport.

The pieces ``tests/server/test_calls_matrix.py`` puts together: phones
(baresip, SIPp, and sipwire's own UA over WebSocket), Kamailio, a tshark
capture, the call flows with their far-end checks, and the matrix printed at
the end of the run.
"""
