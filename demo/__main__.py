"""Run the shop and its traffic by hand, against a bot already listening.

    python -m demo --endpoint http://127.0.0.1:8000 --rate 10 --fault payment-errors --fault-after 60

Prints the traffic counters every few seconds; Ctrl-C (or SIGTERM) stops everything.
"""

from __future__ import annotations

import argparse
import signal
import time
from typing import NoReturn

from demo.faults import CATALOGUE, clear, inject
from demo.shop import Shop
from demo.traffic import Traffic


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m demo", description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", required=True, help="the bot's OTLP/HTTP base URL")
    parser.add_argument("--rate", type=float, default=10.0, help="journeys per second")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--duration", type=float, default=0.0, help="seconds; 0 runs until stopped")
    parser.add_argument("--fault", choices=sorted(CATALOGUE))
    parser.add_argument("--fault-after", type=float, default=30.0, help="seconds before the fault")
    parser.add_argument("--every", type=float, default=5.0, help="seconds between progress lines")
    args = parser.parse_args(argv)

    def terminated(*_: object) -> NoReturn:
        raise SystemExit(143)

    signal.signal(signal.SIGTERM, terminated)
    started = time.monotonic()
    with Shop(args.endpoint) as shop:
        print(f"shop up in {time.monotonic() - started:.1f}s; frontend {shop.frontend_url}", flush=True)
        injected = False
        with Traffic(shop.frontend_url, rate=args.rate, seed=args.seed) as traffic:
            try:
                while not args.duration or time.monotonic() - started < args.duration:
                    time.sleep(args.every)
                    if args.fault and not injected and time.monotonic() - started >= args.fault_after:
                        truth = inject(args.fault, shop)
                        injected = True
                        print(f"injected {args.fault}: expect {truth}", flush=True)
                    print(traffic.summary(), flush=True)
            except KeyboardInterrupt:
                pass
            finally:
                if injected and args.fault:
                    clear(args.fault, shop)


if __name__ == "__main__":
    main()
