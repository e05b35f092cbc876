"""The demo shop for ``make demo``: real HTTP services in separate processes, real
OpenTelemetry SDKs, a traffic generator and faults with their ground truth.

::

    traffic ──► frontend ──► auth (Node) ────────────► sqlite:shop
                   │ ├─────► catalog-1 / catalog-2 ──► sqlite:shop
                   │ ├─────► payments ───────────────► payment-provider (stub, no telemetry)
                   │ └─────► orders ─────────────────► sqlite:shop

- :mod:`demo.shop` starts and stops the processes (:class:`demo.shop.Shop`);
- :mod:`demo.traffic` plays users through the login, search and checkout journeys;
- :mod:`demo.faults` injects and clears faults, each with the answer the bot should give.

Run by hand: ``python -m demo --endpoint http://127.0.0.1:8000`` (see ``demo/__main__.py``).
"""
