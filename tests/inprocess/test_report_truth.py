"""``fengqiao report --from --to --manifest``: the store's channels and online share are
checked against the simulation's ground truth (when each planted event is one case), and a
figure that differs is a mismatch."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from pathlib import Path

from consumers.figures.annual import AnnualReport, Figure
from fengqiao.cli.report_cmd import against_manifest, read_manifest

MANIFEST = Path(__file__).parents[1] / "data" / "manifest-lw22-s4-x002.json"
# The manifest's channels of the case-opening events, summed by hand over the three kinds.
CHANNELS = {"hotline": 42, "letter": 3, "miniapp": 17, "referral": 53, "visit": 19,
            "walkin": 89, "web": 2}  # fmt: skip
ONLINE = round(100 * (17 + 2) / 225, 2)  # 8.44


def store_as_truth() -> AnnualReport:
    values = {
        "disputes_mediated": 168,
        "disputes_settled": 168,
        "amount_yuan": Decimal("7840000"),
        "success_rate": 100.0,
        "disputes_received": 168,
        "petitions": 10,
        "wage_claims": 47,
        "group_wage_incidents": 14,
        "group_wage_people": 187,
        "by_kind": {"dispute": 168, "petition": 10, "wage_arrears": 47},
        "by_channel": CHANNELS,
        "online_share": ONLINE,
        "consultations": None,  # not counted: no --intake
    }
    rep = AnnualReport("2022-01-01", "2022-12-31", "sqlite")
    rep.figures = [Figure(k, k, k, v, "SELECT 1") for k, v in values.items()]
    return rep


def checks(rep: AnnualReport, manifest_path: Path = MANIFEST) -> dict[str, bool]:
    return {k: ok for k, _got, _want, ok in against_manifest(rep, read_manifest(manifest_path))}


def test_channels_and_online_share_agree_with_the_manifest() -> None:
    got = checks(store_as_truth())
    assert got["by_channel"] and got["online_share"], got
    assert all(got.values()), got
    assert "consultations" not in got  # not counted, so not compared


def test_a_wrong_channel_or_share_is_a_mismatch() -> None:
    rep = store_as_truth()
    wrong = dict(CHANNELS, miniapp=16, unknown=1)
    rep.figures = [replace(f, value=wrong) if f.key == "by_channel" else f for f in rep.figures]
    assert checks(rep)["by_channel"] is False
    rep = store_as_truth()
    rep.figures = [
        replace(f, value=ONLINE + 0.02) if f.key == "online_share" else f for f in rep.figures
    ]
    assert checks(rep)["online_share"] is False
    # A tie rounded the other way by the database's ROUND is no difference.
    rep.figures = [
        replace(f, value=ONLINE + 0.005) if f.key == "online_share" else f for f in rep.figures
    ]
    assert checks(rep)["online_share"] is True


def test_with_repeat_reports_the_channels_are_not_compared(tmp_path: Path) -> None:
    import json

    m = json.loads(MANIFEST.read_text(encoding="utf-8"))
    m["repeats"] = {"share": 0.1, "planted": []}
    path = tmp_path / "with-repeats.json"
    path.write_text(json.dumps(m), encoding="utf-8")
    got = checks(store_as_truth(), path)
    assert "by_channel" not in got and "online_share" not in got
