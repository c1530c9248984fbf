"""The one service layer under REST, RPC and the CLI.

Every operation a caller can ask for is decided here, once: is the request
well-formed (JSON Schema, ``schemas``), may this caller do it (oslo.policy),
what the caller may see of the answer (``views``); then the ConductorAPI
does the work. The REST API, the RPC manager and the embedded CLI are thin
adapters over :class:`move_orchestrator.service.operations.MoveService`.
"""
