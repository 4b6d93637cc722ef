"""What both faces share to be seen from outside: one metric table (`chatrpc_…`), request ids,
log records with the request's fields, trace set-up and the server-timing format.

Neither the core nor the gateway is imported here (tests/test_layering.py): each face imports
this package, so one name means one thing in both processes.
"""
