"""HRS and PP-HRS reproduce the worked values of Devaguptapu et al. (seed 003) and AdvRush (Table A2)."""

import pytest

from robench.evaluate.metrics import hrs, pp_hrs, wilson_interval


@pytest.mark.parametrize(
    "clean, robust, expected",
    [
        (97.49, 54.51, 69.92),  # AdvRush Table A2, PDARTS standard-trained, FGSM
        (85.37, 51.32, 64.10),  # AdvRush Table A2, PDARTS adversarially trained, PGD-20
        (93.48, 24.27, 38.53),  # seed 003 Table 1, ResNet-18
        (97.03, 7.09, 13.21),  # seed 003 Table 1, DARTS
        (94.74, 26.21, 41.06),  # seed 003 Table 1, DenseNet-169
    ],
)
def test_hrs_matches_papers(clean, robust, expected):
    # the papers round from unrounded accuracies, so allow one unit in the last printed digit
    assert hrs(clean, robust) == pytest.approx(expected, abs=0.01)


def test_hrs_is_unit_agnostic_and_beta_weighs_robustness():
    assert hrs(0.9749, 0.5451) == pytest.approx(hrs(97.49, 54.51) / 100)
    assert hrs(90, 10, beta=1) == pytest.approx(18.0)
    # beta > 1 moves HRS_beta towards the adversarial accuracy
    assert hrs(90, 10, beta=3) < hrs(90, 10) and hrs(90, 10, beta=0.3) > hrs(90, 10)
    assert hrs(0, 0) == 0.0


@pytest.mark.parametrize(
    "params, clean, pgd, expected",
    [  # seed 003 Table 5 (ImageNet); baselines: EfficientNet-B0 5.29M, DenseNAS-A 4.77M
        ((5.29, 5.29), 91.36, 8.11, 14.90),
        ((5.29, 7.79), 88.89, 5.47, 7.00),
        ((5.29, 66.35), 91.57, 11.20, 1.59),
        ((4.77, 4.77), 90.94, 1.84, 3.61),
        ((4.77, 5.58), 91.89, 2.13, 3.56),
        ((11.09, 24.66), 93.81, 4.32, 3.71),  # DenseNAS-R3 against R1, the ResNet-space baseline
    ],
)
def test_pp_hrs_matches_table5(params, clean, pgd, expected):
    p_baseline, p_model = params
    assert pp_hrs(hrs(clean, pgd), p_baseline, p_model) == pytest.approx(expected, abs=0.01)


def test_wilson_interval_contains_estimate_and_narrows_with_n():
    lo, hi = wilson_interval(50, 100)
    assert lo < 0.5 < hi
    lo2, hi2 = wilson_interval(500, 1000)
    assert hi2 - lo2 < hi - lo
    assert wilson_interval(0, 10)[0] == 0.0 and wilson_interval(10, 10)[1] == pytest.approx(1.0)
