"""The reject policy's message: both shares with digits enough to tell them apart."""

import pytest

from tuskflow.etl.rejects import policy_breach


def test_rejects_within_the_policy_are_no_breach() -> None:
    assert policy_breach(1, 100, 0.01) is None
    assert policy_breach(0, 0, 0.0) is None


@pytest.mark.parametrize(
    ("rejected", "rows_in", "max_share", "shares"),
    [
        (34, 6_001_215, 0.0, "(0.00057%), more than the reject policy allows (0%)"),
        (34, 6_001_215, 0.000005, "(0.00057%), more than the reject policy allows (0.0005%)"),
        (101, 10_000, 0.01, "(1.01%), more than the reject policy allows (1%)"),
        (1, 3, 0.3333, "(33.333%), more than the reject policy allows (33.33%)"),
    ],
)
def test_a_breach_shows_both_shares_with_digits_enough_to_differ(
    rejected: int, rows_in: int, max_share: float, shares: str
) -> None:
    message = policy_breach(rejected, rows_in, max_share)

    assert message is not None
    assert message.startswith(f"{rejected:,} of {rows_in:,} rows rejected {shares}; ")
    assert message.endswith("fix the data or raise rejects.max_share")
