"""Drive lrgym's training core directly (no Gymnasium): a cosine schedule on the Tiny preset.

python examples/train_core.py [--epochs 4] [--lr 0.2] [--seed 0]
"""

from __future__ import annotations

import argparse
import math
import time

from lrgym.presets import TINY
from lrgym.training import Trainer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=float, default=4.0, help="training budget, epochs")
    parser.add_argument("--lr", type=float, default=0.2, help="peak learning rate")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    cfg = TINY.replace(epochs=args.epochs)
    trainer = Trainer(cfg, args.seed)
    start, done, epoch = time.perf_counter(), 0, 0
    print(f"{cfg.dataset}, WRN-{cfg.depth}-{cfg.width} on {trainer.device}, {cfg.total_batches} mini-batches")
    while done < cfg.total_batches:
        # One epoch at a time, the LR following a cosine over the whole budget per mini-batch.
        for _ in range(min(cfg.batches_per_epoch, cfg.total_batches - done)):
            trainer.set_lr(args.lr * 0.5 * (1 + math.cos(math.pi * done / cfg.total_batches)))
            stats = trainer.train(1)
            done += 1
            if stats.diverged:
                raise SystemExit(f"training diverged at mini-batch {done}")
        epoch += 1
        val = trainer.evaluate("val")
        print(
            f"epoch {epoch}: train loss {stats.loss_mean:.3f}  val loss {val.loss:.3f}  "
            f"val acc {val.accuracy:.3f}  lr {trainer.lr:.4f}  {time.perf_counter() - start:.1f}s"
        )
    print(f"test accuracy {trainer.evaluate('test').accuracy:.3f}")


if __name__ == "__main__":
    main()
