"""A realistic synthetic clinic for Caseload Insight; see ``README.md`` in this folder."""

from .generator import (
    SAMPLE_DIR,
    SAMPLE_SPEC,
    ClinicSpec,
    Truth,
    generate,
    generate_with_truth,
    write_clinic,
    write_sample,
    write_truth,
)

__all__ = [
    "SAMPLE_DIR",
    "SAMPLE_SPEC",
    "ClinicSpec",
    "Truth",
    "generate",
    "generate_with_truth",
    "write_clinic",
    "write_sample",
    "write_truth",
]
