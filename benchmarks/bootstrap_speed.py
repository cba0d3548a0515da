"""Bootstrap speed: the vectorised cluster bootstrap of ``analytics.metrics`` against a
naive loop, on a held-out set of realistic size.

Both resample patients with replacement from the same random stream and compute the
evaluation's metrics (AUROC, average precision, Brier, ECE, recall and PPV at two alert
budgets). The loop is the textbook bootstrap: per resample, gather the drawn patients'
rows and call the point-metric functions (scikit-learn's) on them. It is timed on a few
resamples and scaled to the full count; the check column says the two agree on those
resamples, so the ratio compares like with like. Same process, same run:

    .venv/bin/python -m benchmarks.bootstrap_speed [--patients 10000] [--weeks 12] [--json]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

__all__ = ["main", "measure"]

BUDGETS = (0.1, 0.2)


def held_out(patients: int, weeks: int, seed: int = 0) -> dict[str, np.ndarray]:
    """A synthetic held-out set: weekly rows per patient (a few weeks missing), a
    patient-level risk, outcomes and a noisy probability."""
    rng = np.random.default_rng(seed)
    patient = np.repeat(np.arange(patients), weeks)
    week = np.tile(np.arange(weeks), patients)
    keep = rng.random(len(patient)) < 0.85
    patient, week = patient[keep], week[keep]
    risk = rng.beta(1.0, 6.0, patients)[patient]
    y = (rng.random(len(patient)) < risk).astype(np.float64)
    p = np.clip(risk + rng.normal(0.0, 0.08, len(patient)), 0.001, 0.999)
    return {"y": y, "p": p, "patient": patient, "week": week}


def _naive(data: dict, n_boot: int, seed: int) -> dict[str, np.ndarray]:
    from analytics.models.evaluation import all_metrics

    y, p, week = data["y"], data["p"], data["week"]
    unit = np.unique(data["patient"], return_inverse=True)[1]
    n_units = int(unit.max()) + 1
    rng = np.random.default_rng(seed)
    out: dict[str, list[float]] = {}
    for _ in range(n_boot):
        drawn = np.bincount(rng.integers(0, n_units, size=n_units), minlength=n_units)
        rows = np.repeat(np.arange(len(y)), drawn[unit])
        for name, value in all_metrics(y[rows], p[rows], p[rows], week[rows], BUDGETS).items():
            out.setdefault(name, []).append(value)
    return {name: np.asarray(values) for name, values in out.items()}


def _vectorised(data: dict, n_boot: int, seed: int) -> dict[str, np.ndarray]:
    from analytics.metrics import prepare, replicate

    unit = np.unique(data["patient"], return_inverse=True)[1]
    sample = prepare(data["y"], data["p"], unit=unit, date=data["week"])
    reps = replicate(
        sample,
        n_boot=n_boot,
        rng=np.random.default_rng(seed),
        average_precision=True,
        budgets=BUDGETS,
    )
    return reps.metrics


def measure(patients: int, weeks: int, resamples: int, naive_resamples: int) -> dict:
    data = held_out(patients, weeks)
    # CPU time as well as wall time: on a shared machine the wall clock also counts
    # other people's work, and not equally for a short and a long run.
    wall, cpu = time.perf_counter(), time.process_time()
    fast = _vectorised(data, resamples, seed=1)
    vectorised_s, vectorised_cpu = time.perf_counter() - wall, time.process_time() - cpu
    wall, cpu = time.perf_counter(), time.process_time()
    slow = _naive(data, naive_resamples, seed=1)
    scale = resamples / naive_resamples
    naive_s = (time.perf_counter() - wall) * scale
    naive_cpu = (time.process_time() - cpu) * scale
    difference = max(
        float(np.nanmax(np.abs(fast[name][:naive_resamples] - slow[name]))) for name in slow
    )
    return {
        "rows": len(data["y"]),
        "patients": patients,
        "resamples": resamples,
        "vectorised_s": round(vectorised_s, 2),
        "vectorised_cpu_s": round(vectorised_cpu, 2),
        "naive_s": round(naive_s, 2),
        "naive_cpu_s": round(naive_cpu, 2),
        "naive_measured_resamples": naive_resamples,
        "speedup_cpu": round(naive_cpu / vectorised_cpu, 1),
        "speedup_wall": round(naive_s / vectorised_s, 1),
        "max_difference": difference,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--weeks", type=int, default=12)
    parser.add_argument("--resamples", type=int, default=500, help="training's default")
    parser.add_argument("--naive-resamples", type=int, default=25)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    result = measure(args.patients, args.weeks, args.resamples, args.naive_resamples)
    if args.json:
        print(json.dumps(result))
        return 0
    print(
        f"{result['rows']:,} rows of {result['patients']:,} patients, "
        f"{result['resamples']} resamples\n"
        f"  vectorised cluster bootstrap: {result['vectorised_cpu_s']:.2f} s CPU, "
        f"{result['vectorised_s']:.2f} s wall\n"
        f"  naive loop:                   {result['naive_cpu_s']:.2f} s CPU, "
        f"{result['naive_s']:.2f} s wall "
        f"(scaled from {result['naive_measured_resamples']} resamples)\n"
        f"  speedup: {result['speedup_cpu']}x CPU, {result['speedup_wall']}x wall; the two "
        f"differ by at most {result['max_difference']:.1e} on the same resamples"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
