"""The task API over HTTP: a WSGI application (routes + WebOb, as Nova
and Placement) over the service layer. See doc/source/api.rst."""
