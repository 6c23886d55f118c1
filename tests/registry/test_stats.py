"""The statistics against hand computations (each written out beside its assertion)."""

from __future__ import annotations

import datetime as dt
import math

import pytest

from vertebro.core.catalogue import Procedure
from vertebro.core.levels import Level
from vertebro.core.registry import stats
from vertebro.core.registry.audit import METRIC_BY_ID, build_audit, episodes, proportion, quarter
from vertebro.core.registry.model import (
    AnalgesicUse,
    Approach,
    Complication,
    ComplicationKind,
    EventOutcome,
    FollowUp,
    FractureSite,
    ImageGuidance,
    LeakSite,
    Mobility,
    ProcedureRecord,
    Registry,
    Timepoint,
)

Z = 1.959963984540054  # the 0.975 quantile of the standard normal


def test_z_is_the_normal_quantile() -> None:
    assert abs(stats.Z95 - Z) < 1e-12


def test_wilson_8_of_10_by_hand() -> None:
    # p = 0.8, z² = 3.8414588, 1 + z²/n = 1.3841459
    # centre = (0.8 + 3.8414588/20) / 1.3841459 = 0.9920729 / 1.3841459 = 0.7167402
    # half   = z·sqrt(0.8·0.2/10 + 3.8414588/400) / 1.3841459
    #        = 1.959964·sqrt(0.016 + 0.0096036) / 1.3841459
    #        = 1.959964·0.1600114 / 1.3841459 = 0.3136166 / 1.3841459 = 0.2265777
    # interval = (0.4901625, 0.9433179)
    p = stats.wilson(8, 10)
    assert (p.events, p.n, p.rate) == (8, 10, 0.8)
    assert p.low == pytest.approx(0.4901625, abs=1e-6)
    assert p.high == pytest.approx(0.9433179, abs=1e-6)


def test_wilson_0_of_20_by_hand() -> None:
    # p = 0: centre = (3.8414588/40) / (1 + 3.8414588/20) = 0.0960365 / 1.1920729 = 0.0805626
    # half = z·sqrt(3.8414588/1600) / 1.1920729 = 1.959964·0.0489991 / 1.1920729 = 0.0805626
    # interval = (0, 0.1611252): the upper end is above 0 though no event was seen
    p = stats.wilson(0, 20)
    assert p.low == 0.0
    assert p.high == pytest.approx(0.1611252, abs=1e-6)


def test_wilson_large_n_by_hand() -> None:
    # 1,573 of 10,000: 1 + z²/n = 1.0003841; centre = (0.1573 + 0.0001921)/1.0003841 = 0.1574316
    # half = 1.959964·sqrt(0.1573·0.8427/10⁴ + 3.8414588/(4·10⁸))/1.0003841
    #      = 1.959964·sqrt(0.0000132556 + 0.0000000096)/1.0003841 = 0.0071357
    # interval = (0.1502959, 0.1645673), close to the normal 0.1573 ± 0.0071380
    p = stats.wilson(1573, 10_000)
    assert p.low == pytest.approx(0.1502959, abs=1e-6)
    assert p.high == pytest.approx(0.1645673, abs=1e-6)


def test_wilson_rejects_impossible_counts_and_handles_no_data() -> None:
    with pytest.raises(ValueError, match="cannot have 5 events in 3"):
        stats.wilson(5, 3)
    assert stats.wilson(0, 0) == stats.Proportion(0, 0, None, None, None)


@pytest.mark.parametrize(
    ("events", "n", "low", "high", "expected"),
    [
        (8, 10, 0.58, 0.97, stats.Position.WITHIN),  # (0.490, 0.943) overlaps 58-97%
        (1573, 10_000, 0.0, 0.27, stats.Position.WITHIN),  # up to 27%
        (400, 1000, 0.0, 0.27, stats.Position.ABOVE),  # (0.370, 0.431): all above 27%
        (450, 1000, 0.58, 0.97, stats.Position.BELOW),  # (0.419, 0.481): all below 58%
        (20, 10_000, 0.002, 0.002, stats.Position.WITHIN),  # contains 1 in 500
        (80, 10_000, 0.002, 0.002, stats.Position.ABOVE),  # (0.0064, 0.0100)
    ],
)
def test_position_is_judged_by_the_interval(
    events: int, n: int, low: float, high: float, expected: stats.Position
) -> None:
    assert stats.position(stats.wilson(events, n), low, high) is expected


def test_position_without_data_is_none() -> None:
    assert stats.position(stats.wilson(0, 0), 0.0, 0.27) is None


# Binomial(10, 0.2) by hand: P(R = r) = C(10, r) 0.2^r 0.8^(10-r)
#   r:      0          1          2          3          4          5          6
#   P:  0.1073742  0.2684355  0.3019899  0.2013266  0.0880804  0.0264241  0.0055050
#   cum:0.1073742  0.3758096  0.6777995  0.8791261  0.9672065  0.9936306  0.9991356
@pytest.mark.parametrize(
    ("q", "expected"),
    [
        # 0.975: r = 5 (cum 0.9936306 ≥ 0.975 > 0.9672065); α = (0.9936306 − 0.975)/0.0264241
        # = 0.7050620; limit = (5 − 0.7050620)/10 = 0.4294938
        (0.975, 0.4294938),
        # 0.999: r = 6; α = (0.9991356 − 0.999)/0.0055050 = 0.0246397; (6 − 0.0246397)/10
        (0.999, 0.5975360),
        # 0.5: r = 2 (cum 0.6777995); α = (0.6777995 − 0.5)/0.3019899 = 0.5887598;
        # (2 − 0.5887598)/10 = 0.1411240
        (0.5, 0.1411240),
        # 0.025: r = 0; α = (0.1073742 − 0.025)/0.1073742 = 0.7671694; (0 − 0.767)/10 < 0 → 0
        (0.025, 0.0),
    ],
)
def test_binomial_funnel_limit_by_hand(q: float, expected: float) -> None:
    assert stats.binomial_limit(10, 0.2, q) == pytest.approx(expected, abs=1e-6)


def test_funnel_limits_approach_the_normal_ones_for_large_n() -> None:
    # n = 2,000, θ = 0.15: normal 99.8% limit 0.15 + 3.090232·sqrt(0.15·0.85/2000) = 0.1746735
    limits = stats.funnel_limits(2000, 0.15)
    assert limits.high_998 == pytest.approx(0.1746735, abs=0.002)
    assert limits.low_998 < limits.low_95 < 0.15 < limits.high_95 < limits.high_998
    # 95%: 0.15 ± 1.959964·0.0079844 = (0.1343510, 0.1656490)
    assert limits.high_95 == pytest.approx(0.1656490, abs=0.001)
    assert limits.low_95 == pytest.approx(0.1343510, abs=0.001)


# Mid-p tails of Binomial(10, 0.2) (probabilities from the table above; P(7) = 0.0007864):
#   x = 5: P(R > 5) = 1 − 0.9936306 = 0.0063694; + ½·0.0264241 = 0.0195815 → below 0.025
#   x = 6: P(R > 6) = 1 − 0.9991356 = 0.0008644; + ½·0.0055050 = 0.0036169 → below 0.025
#   x = 7: P(R > 7) = 1 − 0.9999220 = 0.0000780; + ½·0.0007864 = 0.0004712 → below 0.001
#   x = 0: P(R < 0) = 0; + ½·0.1073742 = 0.0536871 → not below 0.025
@pytest.mark.parametrize(
    ("events", "upper", "flag"),
    [
        (2, None, stats.FunnelFlag.WITHIN),
        (5, 0.0195815, stats.FunnelFlag.HIGH_95),
        (6, 0.0036169, stats.FunnelFlag.HIGH_95),
        (7, 0.0004712, stats.FunnelFlag.HIGH_998),
        (0, None, stats.FunnelFlag.WITHIN),
    ],
)
def test_funnel_flags_by_the_mid_p_tail(
    events: int, upper: float | None, flag: stats.FunnelFlag
) -> None:
    if upper is not None:
        assert stats.binomial_mid_p(events, 10, 0.2)[0] == pytest.approx(upper, abs=1e-6)
    assert stats.funnel_flag(events, 10, 0.2) is flag


def test_low_funnel_flags() -> None:
    # 0 of 100 at θ = 0.1: ½·0.9^100 = ½·0.0000266 = 0.0000133 → below 0.001
    assert stats.binomial_mid_p(0, 100, 0.1)[1] == pytest.approx(0.5 * 0.9**100)
    assert stats.funnel_flag(0, 100, 0.1) is stats.FunnelFlag.LOW_998
    # 5 of 100: P(R < 5) + ½P(5) = 0.0237111 + ½·0.0338658 = 0.0406440 → within
    assert stats.funnel_flag(5, 100, 0.1) is stats.FunnelFlag.WITHIN
    # 4 of 100: P(0..3) = 0.0000266 + 0.0002951 + 0.0016232 + 0.0058916 = 0.0078365;
    # + ½P(4) = ½·0.0158746 → 0.0157738 → below 0.025
    assert stats.binomial_mid_p(4, 100, 0.1)[1] == pytest.approx(0.0157738, abs=1e-6)
    assert stats.funnel_flag(4, 100, 0.1) is stats.FunnelFlag.LOW_95


def test_funnel_limits_of_a_rate_of_zero_have_no_spread() -> None:
    assert stats.funnel_limits(50, 0.0) == stats.FunnelLimits(50, 0.0, 0.0, 0.0, 0.0)


def test_mean_and_interval_by_hand() -> None:
    # [2, 4, 4, 6]: mean 4; sd = sqrt((4 + 0 + 0 + 4)/3) = 1.6329932; se = 0.8164966;
    # half-width = 1.959964·0.8164966 = 1.6003041 → (2.3996959, 5.6003041)
    m = stats.mean_ci([2.0, 4.0, 4.0, 6.0])
    assert (m.n, m.mean) == (4, 4.0)
    assert m.low == pytest.approx(2.3996959, abs=1e-6)
    assert m.high == pytest.approx(5.6003041, abs=1e-6)
    assert stats.mean_ci([]) == stats.Mean(0, None, None, None)


def test_funnel_grid_runs_from_one_to_the_largest_volume() -> None:
    grid = stats.funnel_grid(2000)
    assert grid[0] == 1 and grid[-1] == 2000 and grid == sorted(set(grid))


# --- The audit on a registry small enough to count by hand ------------------------------------

D = dt.date(2025, 1, 10)


def _p(pid: str, operator: str, day: dt.date, pathway: str | None) -> ProcedureRecord:
    level = Level.parse("L1")
    return ProcedureRecord(
        id=pid, date=day, operator=operator, procedure=Procedure.VERTEBROPLASTY, levels=(level,),
        approach=Approach.BILATERAL, image_guidance=ImageGuidance.FLUOROSCOPY,
        cement_ml=((level, 4.0),), biopsy=False, policy="nice" if pathway else None,
        pathway=pathway,
    )


def _f(pid: str, tp: Timepoint, days: int, pain: int | None, drug: AnalgesicUse | None = None,
       walk: Mobility | None = None, rmdq: int | None = None, day: dt.date = D) -> FollowUp:
    return FollowUp(pid, tp, day + dt.timedelta(days=days), pain, drug, walk, rmdq)


B, W2, M3, M12 = Timepoint.BASELINE, Timepoint.WEEKS_2, Timepoint.MONTHS_3, Timepoint.MONTHS_12
S, WK, NO = AnalgesicUse.STRONG_OPIOID, AnalgesicUse.WEAK_OPIOID, AnalgesicUse.NONE
UN, AID, IND = Mobility.UNABLE, Mobility.WITH_AIDS, Mobility.INDEPENDENT

SMALL = Registry(
    procedures=(
        _p("P1", "OP-A", D, "nice-osteoporotic"),
        _p("P2", "OP-A", D, "nice-osteoporotic"),
        _p("P3", "OP-B", dt.date(2025, 5, 2), "nice-metastatic"),
        _p("P4", "OP-B", dt.date(2025, 5, 3), None),
    ),
    complications=(
        Complication("C1", "P1", ComplicationKind.CEMENT_LEAK, D, symptomatic=True,
                     leak_site=LeakSite.CANAL, further_intervention=True,
                     outcome=EventOutcome.RECOVERED),
        Complication("C2", "P2", ComplicationKind.CEMENT_LEAK, D, symptomatic=False,
                     leak_site=LeakSite.VEINS),
        Complication("C3", "P2", ComplicationKind.PULMONARY_CEMENT_EMBOLISM, D),
        Complication("C4", "P3", ComplicationKind.NEW_FRACTURE, dt.date(2025, 9, 1),
                     fracture_site=FractureSite.ADJACENT, level=Level.parse("L2")),
    ),
    follow_ups=(
        _f("P1", B, -3, 8, S, UN, 20), _f("P1", W2, 14, 5, S, AID, 15),
        _f("P1", M3, 90, 4, WK, AID, 12), _f("P1", M12, 365, 3, WK, IND, 10),
        _f("P2", B, -1, 6, NO, AID, 14), _f("P2", M3, 92, 6, NO, AID, 16),
        _f("P3", B, 0, 7, WK, UN, 18, day=dt.date(2025, 5, 2)),
        _f("P4", B, -2, 9, WK, IND, 22, day=dt.date(2025, 5, 3)),
        _f("P4", M3, 95, 2, WK, IND, 6, day=dt.date(2025, 5, 3)),
    ),
)


def _rate(metric: str) -> tuple[int, int]:
    value = proportion(episodes(SMALL), METRIC_BY_ID[metric])
    return value.events, value.n


@pytest.mark.parametrize(
    ("metric", "expected"),
    [
        # pain at 3 months below baseline: P1 8→4 yes, P2 6→6 no, P4 9→2 yes; P3 has no 3 months
        ("pain-relief", (2, 3)),
        # taking pain relief at baseline: P1 strong→weak yes, P4 weak→weak no (P2 took none)
        ("analgesic-reduction", (1, 2)),
        # not independent at baseline with 3 months: P1 unable→aids yes, P2 aids→aids no
        ("mobility-improved", (1, 2)),
        ("cement-leak", (2, 4)),  # P1 and P2, of all four
        ("symptomatic-leak", (1, 4)),  # P1
        ("leak-further-intervention", (1, 4)),  # P1
        ("cement-cord-nerve", (1, 4)),  # P1: symptomatic leak into the canal
        ("pulmonary-cement-embolism", (1, 4)),  # P2
        ("infection", (0, 4)),
        # followed a year: P1 (12-month visit) and P3 (a new fracture); P3's is adjacent
        ("new-fracture-adjacent", (1, 2)),
        ("major-complication", (2, 4)),  # P1 symptomatic leak, P2 cement in the lungs
        ("death-30-days", (0, 4)),
    ],
)
def test_each_rate_counts_what_its_definition_says(metric: str, expected: tuple[int, int]) -> None:
    assert _rate(metric) == expected


def test_the_small_audit_by_hand() -> None:
    report = build_audit(SMALL, generated_on=dt.date(2026, 6, 1))
    assert report.procedures == 4 and report.operators == 2
    rates = {r.metric: r for r in report.rates}
    pain = rates["pain-relief"]
    # 2 of 3: 1 + z²/3 = 2.2804863; centre (0.6666667 + 0.6402431)/2.2804863 = 0.5730838,
    # half 1.959964·sqrt(0.0740741 + 0.1067072)/2.2804863 = 1.959964·0.4251839/2.2804863
    # = 0.3654242 → (0.2076596, 0.9385081)
    assert pain.proportion.low == pytest.approx(0.2076596, abs=1e-6)
    assert pain.proportion.high == pytest.approx(0.9385081, abs=1e-6)
    assert [c.benchmark.id for c in pain.comparisons] == ["nice-pain-relief", "rbft-lower-pain"]
    assert [c.position for c in pain.comparisons] == [stats.Position.WITHIN] * 2

    # Mean pain at 3 months: (4 + 6 + 2)/3 = 4; at baseline (8 + 6 + 7 + 9)/4 = 7.5
    trajectory = {pt.timepoint: pt for pt in report.trajectories[0].points}
    assert trajectory[M3].pain.mean == 4.0 and trajectory[M3].pain.n == 3
    assert trajectory[B].pain.mean == 7.5 and trajectory[B].roland_morris.mean == 18.5

    # Funnel of cement leakage: unit 2/4 = 0.5; OP-A 2 of 2, OP-B 0 of 2
    leak = next(f for f in report.funnels if f.metric == "cement-leak")
    assert leak.unit.rate == 0.5
    assert [(o.operator, o.proportion.events, o.proportion.n) for o in leak.operators] == [
        ("OP-A", 2, 2), ("OP-B", 0, 2)]
    # With n = 2 and θ = 0.5 the drawn 95% limits: P(R=0) = 0.25 ≥ 0.025, so
    # low = (0 − (0.25 − 0.025)/0.25)/2 < 0 → 0; high: cum(1) = 0.75 < 0.975 ≤ cum(2) = 1,
    # α = (1 − 0.975)/0.25 = 0.1, high = (2 − 0.1)/2 = 0.95.
    limits = stats.funnel_limits(2, 0.5)
    assert limits.low_95 == 0.0
    assert limits.high_95 == pytest.approx(0.95)
    # But 2 of 2 is not flagged: its mid-p tail is P(R > 2) + ½P(R = 2) = 0 + ½·0.25 = 0.125
    assert leak.operators[0].flag is stats.FunnelFlag.WITHIN
    assert leak.operators[1].flag is stats.FunnelFlag.WITHIN

    # By pathway: osteoporotic P1 + P2: pain change (4 − 8, 6 − 6) → mean −2
    osteo = next(p for p in report.pathways if p.pathway == "nice-osteoporotic")
    assert osteo.procedures == 2 and osteo.pain_change.mean == -2.0
    assert osteo.roland_morris_change.mean == pytest.approx(((12 - 20) + (16 - 14)) / 2)
    assert {p.label for p in report.pathways} == {
        "nice: nice-osteoporotic", "nice: nice-metastatic", "not recorded"}

    # Trends: Q1 2025 (P1, P2) and Q2 2025 (P3, P4)
    assert [(t.period, t.procedures) for t in report.trends] == [("2025-Q1", 2), ("2025-Q2", 2)]
    assert report.trends[0].cement_leak.events == 2

    # Completeness on 2026-06-01: everyone is due at every timepoint (≥ 365 days since)
    done = {c.timepoint: (c.due, c.recorded) for c in report.completeness}
    assert done[B] == (4, 4) and done[M3] == (4, 3) and done[M12] == (4, 1)


def test_a_period_keeps_only_its_procedures() -> None:
    report = build_audit(SMALL, generated_on=dt.date(2026, 6, 1),
                         period_from=dt.date(2025, 5, 1), period_to=dt.date(2025, 5, 31))
    assert report.procedures == 2
    assert {r.metric: r.proportion.n for r in report.rates}["cement-leak"] == 2


def test_quarters() -> None:
    assert quarter(dt.date(2024, 11, 30)) == ("2024-Q4", dt.date(2024, 10, 1))
    assert quarter(dt.date(2024, 1, 1)) == ("2024-Q1", dt.date(2024, 1, 1))


def test_an_empty_registry_gives_an_empty_report() -> None:
    report = build_audit(Registry(), generated_on=dt.date(2026, 1, 1))
    assert report.procedures == 0
    assert all(r.proportion.rate is None for r in report.rates)
    assert all(f.limits == [] for f in report.funnels)
    assert not math.isnan(sum(c.due for c in report.completeness))
