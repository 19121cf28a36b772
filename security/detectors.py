"""Detectors, each trained on training pairs only and applied to test images.

Every detector returns ``(scores, decisions)`` for the test images: a score (higher = more likely stego, used for
P_E and the ROC) and its own yes/no decision (used for the accuracy).

- :func:`fld_ensemble`: Kodovsky's ensemble of Fisher linear discriminants on random feature subspaces
  (``sealwatch``), score = the base learners' vote in [-1, 1];
- :func:`threshold_attack`: a one-number statistic (chi-square, WS) with its direction and threshold chosen on the
  training images;
- :func:`xunet`: the XuNet CNN (``sealwatch``'s architecture, trained from scratch here) on the BT.601 luminance.
"""
from __future__ import annotations


import numpy as np
import sealwatch as sw
import torch
import torch.nn.functional as F
from tqdm import tqdm

from security.metrics import best_threshold

FLD_SUBSPACE = 200
FLD_MAX_LEARNERS = 100
LUMA = (0.299, 0.587, 0.114)


def fld_ensemble(train_cover: np.ndarray, train_stego: np.ndarray, test: np.ndarray,
                 seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The FLD ensemble with subspace dimension min(200, D, training pairs) and the number of base learners chosen
    by its out-of-bag criterion (at most 100)."""
    d_sub = int(min(FLD_SUBSPACE, train_cover.shape[1], train_cover.shape[0]))
    trainer = sw.ensemble_classifier.FldEnsembleTrainer(
        np.ascontiguousarray(train_cover), np.ascontiguousarray(train_stego), seed=seed + 1, d_sub=d_sub,
        verbose=0, max_num_base_learners=FLD_MAX_LEARNERS)
    ensemble, _ = trainer.train()
    return ensemble.predict_confidence(test), ensemble.predict(test) > 0


def threshold_attack(train_cover: np.ndarray, train_stego: np.ndarray,
                     test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A scalar statistic (one column): direction and threshold with the least training P_E."""
    train = np.concatenate([train_cover[:, 0], train_stego[:, 0]])
    labels = np.concatenate([np.zeros(len(train_cover)), np.ones(len(train_stego))])
    sign, threshold = best_threshold(labels, train)
    scores = sign * test[:, 0]
    return scores, scores >= threshold


def luminance(pixels: np.ndarray) -> np.ndarray:
    """HWC uint8 RGB -> HW float32 luminance in [0, 1] (not rounded, so no channel's change is lost)."""
    return (pixels.astype(np.float32) @ np.array(LUMA, dtype=np.float32)) / 255.0


def _augment(batch: torch.Tensor, generator: torch.Generator, crop: int) -> torch.Tensor:
    """One random ``crop x crop`` window, rotation by k x 90 degrees and flip for the whole batch (covers and
    stegos alike)."""
    height, width = batch.shape[2:]
    if crop < min(height, width):
        top = int(torch.randint(height - crop + 1, (1,), generator=generator))
        left = int(torch.randint(width - crop + 1, (1,), generator=generator))
        batch = batch[:, :, top:top + crop, left:left + crop]
    k = int(torch.randint(4, (1,), generator=generator))
    batch = torch.rot90(batch, k, dims=(2, 3))
    return torch.flip(batch, dims=(3,)) if int(torch.randint(2, (1,), generator=generator)) else batch


def xunet(train_cover: np.ndarray, train_stego: np.ndarray, test: np.ndarray, seed: int, epochs: int,
          device: torch.device, crop: int = 128, batch_pairs: int = 16, lr: float = 1e-3,
          desc: str = 'xunet') -> tuple[np.ndarray, np.ndarray]:
    """Train XuNet from scratch on (n, H, W) luminance arrays of paired covers and stegos (each minibatch holds
    covers with their own stegos, cut to one random ``crop x crop`` window to save time), then score the whole
    test images with P(stego) (XuNet ends in global average pooling, so any size goes in)."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    net = sw.xunet.XuNet().to(device)
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    cover_t = torch.from_numpy(train_cover)[:, None]
    stego_t = torch.from_numpy(train_stego)[:, None]
    count = cover_t.shape[0]
    bar = tqdm(range(epochs), desc=desc, unit='epoch', leave=False)
    for _ in bar:
        net.train()
        order = torch.randperm(count, generator=generator)
        losses = []
        for start in range(0, count, batch_pairs):
            idx = order[start:start + batch_pairs]
            batch = _augment(torch.cat([cover_t[idx], stego_t[idx]]), generator, crop).to(device)
            labels = torch.cat([torch.zeros(len(idx)), torch.ones(len(idx))]).long().to(device)
            loss = F.cross_entropy(net(batch), labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        bar.set_postfix(loss=f'{np.mean(losses):.3f}')
    net.eval()
    scores = []
    with torch.no_grad():
        test_t = torch.from_numpy(test)[:, None]
        for start in range(0, test_t.shape[0], 2 * batch_pairs):
            logits = net(test_t[start:start + 2 * batch_pairs].to(device))
            scores.append(torch.softmax(logits, dim=1)[:, 1].double().cpu().numpy())
    scores_np = np.concatenate(scores)
    return scores_np, scores_np >= 0.5
