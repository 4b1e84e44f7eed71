"""Run the deterministic simulation from the command line (soaks and reproductions).

    python -m tests.sim --seed 123 --replicas 3          # reproduce one run, print the failure
    python -m tests.sim --seeds 1000 --start 0 --replicas 5 --steps 300
    python -m tests.sim --soak --minutes 30              # random seeds until time runs out

Exit status 0 when every run passed, 1 when any failed (each failure prints its reproduce line).
"""

from __future__ import annotations

import argparse
import random
import sys
import time

from tests.sim.scenario import DEFAULT_STEPS, format_failure, run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.sim", description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, help="run this one seed and print the result")
    parser.add_argument("--seeds", type=int, default=100, help="how many consecutive seeds")
    parser.add_argument("--start", type=int, default=0, help="first seed")
    parser.add_argument("--replicas", type=int, default=3, choices=[3, 5])
    parser.add_argument("--steps", type=int, default=DEFAULT_STEPS,
                        help="active-phase steps per run")
    parser.add_argument("--soak", action="store_true", help="random seeds for --minutes")
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--stop-on-failure", action="store_true")
    parser.add_argument("-v", "--verbose", action="store_true", help="print every run's stats")
    args = parser.parse_args(argv)

    if args.seed is not None:
        result = run(args.seed, replicas=args.replicas, steps=args.steps)
        if result.ok:
            print(f"seed {args.seed} replicas {args.replicas}: ok {result.stats}")
            if args.verbose:
                print("\n".join(result.trace))
            return 0
        print(format_failure(result))
        return 1

    if args.soak:
        deadline = time.monotonic() + args.minutes * 60
        seeds = _random_seeds()
    else:
        deadline = float("inf")
        seeds = iter(range(args.start, args.start + args.seeds))
    failures = 0
    runs = 0
    started = time.monotonic()
    for seed in seeds:
        if time.monotonic() > deadline:
            break
        replicas = args.replicas if not args.soak else random.choice([3, 5])
        result = run(seed, replicas=replicas, steps=args.steps)
        runs += 1
        if args.verbose:
            print(f"seed {seed} replicas {replicas}: {'ok' if result.ok else 'FAIL'} "
                  f"{result.stats}", flush=True)
        if not result.ok:
            failures += 1
            print(f"FAIL {result.summary()}\n  reproduce: {result.reproduce}", flush=True)
            if args.stop_on_failure:
                print(format_failure(result))
                break
    elapsed = time.monotonic() - started
    print(f"{runs} runs, {failures} failed, {elapsed:.1f}s ({elapsed / max(runs, 1):.3f}s/run)")
    return 1 if failures else 0


def _random_seeds():
    rng = random.Random()
    while True:
        yield rng.randrange(1 << 31)


if __name__ == "__main__":
    sys.exit(main())
