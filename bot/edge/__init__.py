"""The HTTP edge: what one slow, stalled or greedy client may hold of the server.

uvicorn gives the keep-alive timeout; what it lacks is added here (see
:mod:`bot.edge.connections` for why not its ``limit_concurrency``): header and body read
deadlines, a header size cap and a connection limit that makes room for new clients, in a
protocol subclass (:mod:`bot.edge.connections`); requests in progress per client, in an
ASGI middleware (:mod:`bot.edge.clients`). :mod:`bot.edge.serving` puts them together in
uvicorn's configuration.
"""
