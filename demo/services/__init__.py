"""The shop's Python services, one module each, run as ``python -m demo.services.NAME``.

frontend (the entry of every journey), catalog (search and prices, run as two
instances), payments (charges through the provider), orders (writes the order) and the
uninstrumented ``provider`` stub that plays an external payment provider. The Node
service, auth, lives in ``demo/node``.
"""
