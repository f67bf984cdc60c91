import math

import pytest
import torch

from dstl_hpc.train.losses import combine_terms, dice_bce_loss, loss_terms


def _sig(x):
    return 1.0 / (1.0 + math.exp(-x))


def _bce(x, y):
    p = _sig(x)
    return -(y * math.log(p) + (1 - y) * math.log(1 - p))


def test_loss_against_a_hand_computation():
    # batch of 2, 2 classes, 1 x 2 pixels
    logits = torch.tensor(
        [[[[0.0, 2.0]], [[-1.0, 0.5]]], [[[1.0, -2.0]], [[3.0, -0.5]]]], dtype=torch.float32
    )
    target = torch.tensor([[[[1.0, 0.0]], [[0.0, 1.0]]], [[[1.0, 1.0]], [[0.5, 0.0]]]])
    log_w, dice_w = 1.0, 10.0
    total = 0.0
    for c in range(2):
        xs = [float(logits[n, c, 0, j]) for n in range(2) for j in range(2)]
        ys = [float(target[n, c, 0, j]) for n in range(2) for j in range(2)]
        bce = sum(_bce(x, y) for x, y in zip(xs, ys, strict=True)) / 4
        ps = [_sig(x) for x in xs]
        inter = sum(p * y for p, y in zip(ps, ys, strict=True))
        dice = 1 - inter / (sum(ps) + sum(ys))
        total += log_w * bce + dice_w * dice
    expected = total / (log_w + dice_w)
    got = dice_bce_loss(logits, target, log_w, dice_w)
    assert got.dtype == torch.float32
    assert float(got) == pytest.approx(expected, rel=1e-6)
    # BCE only / dice only
    assert float(dice_bce_loss(logits, target, 1.0, 0.0)) == pytest.approx(
        sum(
            sum(
                _bce(float(logits[n, c, 0, j]), float(target[n, c, 0, j]))
                for n in range(2)
                for j in range(2)
            )
            / 4
            for c in range(2)
        ),
        rel=1e-6,
    )


def test_dice_term_is_skipped_when_its_denominator_is_zero():
    # Class 0: empty target and p == 0 exactly (sigmoid(-1e4) underflows): only BCE (0).
    # Class 1: a normal class.
    logits = torch.tensor([[[[-1e4, -1e4]], [[0.0, 0.0]]]])
    target = torch.tensor([[[[0.0, 0.0]], [[1.0, 0.0]]]])
    got = dice_bce_loss(logits, target, 1.0, 10.0)
    assert torch.isfinite(got)
    bce1 = (_bce(0.0, 1.0) + _bce(0.0, 0.0)) / 2
    dice1 = 1 - 0.5 / (1.0 + 1.0)
    assert float(got) == pytest.approx((0.0 + bce1 + 10 * dice1) / 11, rel=1e-6)


def test_bce_is_stable_for_large_logits():
    logits = torch.tensor([[[[100.0, -100.0]]]])
    target = torch.tensor([[[[0.0, 1.0]]]])
    got = dice_bce_loss(logits, target, 1.0, 0.0)
    assert float(got) == pytest.approx(100.0, rel=1e-6)


def test_terms_accumulate_over_parts_like_one_batch():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(6, 3, 8, 8, generator=g)
    target = (torch.rand(6, 3, 8, 8, generator=g) > 0.7).float()
    whole = dice_bce_loss(logits, target)
    parts = loss_terms(logits[:2], target[:2]) + loss_terms(logits[2:], target[2:])
    assert float(combine_terms(parts)) == pytest.approx(float(whole), rel=1e-5)
    # (n_classes, H, W) input is one image
    assert loss_terms(logits[0], target[0]).shape == (3, 5)
    with pytest.raises(ValueError, match="differ"):
        loss_terms(logits, target[:, :2])


def test_loss_has_gradients():
    logits = torch.zeros(2, 1, 4, 4, requires_grad=True)
    dice_bce_loss(logits, torch.ones(2, 1, 4, 4)).backward()
    assert logits.grad is not None and (logits.grad < 0).all()
