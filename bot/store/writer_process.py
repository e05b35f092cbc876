"""The store writer's own process: ``python -m bot.store.writer_process FD``.

Started by :class:`bot.store.writer.BatchWriter` as a plain subprocess rather than through
multiprocessing: spawn would import the parent's ``__main__`` again (the whole CLI and
server) and start a resource-tracker process beside it, about 30 MB of memory that writing
rows never uses (bench/ingest.py, docs/benchmarks.md). Here only the store is imported.

The parent hands over one end of a socket pair as file descriptor ``FD``. The database
URL arrives as the first message on it, not on the command line, where ``ps`` would show
a PostgreSQL password. After that the loop of :mod:`bot.store.drain` serves the socket
until the stop mark or until the parent goes away (end of file).

SIGINT is ignored: Ctrl-C reaches the whole process group, and the writer must outlive
it long enough to write what the parent flushes on its way out.
"""

from __future__ import annotations

import logging
import signal
import sys
from multiprocessing.connection import Connection

from bot.store.dialect import WRITER_CACHE_MIB
from bot.store.drain import PipeChannel, serve
from bot.store.store import Store


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    connection = Connection(int(argv[0]))
    try:
        url = connection.recv_bytes().decode()
    except (EOFError, OSError):
        return 0
    store = Store(url, page_cache_mib=WRITER_CACHE_MIB)
    try:
        serve(store, PipeChannel(connection))
    except (EOFError, OSError):
        pass  # the parent went away: nothing left to serve
    finally:
        store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
