"""Worker for the two-process torch.distributed tests (imported by spawned children: no pytest)."""

from __future__ import annotations

import os

import torch
import torch.distributed as dist


def run(rank: int, world: int, out_dir: str, runs: int) -> None:
    """``runs`` complete runs, each in a fresh process group (spawning is the slow part of the test)."""
    torch.set_num_threads(1)
    for r in range(runs):
        one_run(
            rank, world, os.path.join(out_dir, f"init{r}"), os.path.join(out_dir, f"run{r}_rank{rank}.pt")
        )


def one_run(rank: int, world: int, init_file: str, out_file: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        from flatlora import FlatLora, FlatLoraConfig
        from tests.flatlora.conftest import ce_loss, make_data, make_lora_mlp

        result: dict[str, object] = {}
        for mode in ("independent", "shared"):
            model = make_lora_mlp()  # same init on every rank
            fl = FlatLora(model, FlatLoraConfig(sigma=0.1, seed=5, schedule="constant", rank_noise=mode))
            result[f"{mode}_eps"] = [fl.noise(st, 3, 10) for st in fl.layers]
            # two data-parallel steps: the same batch everywhere, gradients averaged across ranks
            opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
            batch = make_data(1)[0]
            for step in range(2):
                with fl.perturb(step + 1, 10):
                    ce_loss(model, batch).backward()
                for p in model.parameters():
                    if p.grad is not None:
                        dist.all_reduce(p.grad)
                        p.grad /= world
                opt.step()
                opt.zero_grad()
            result[f"{mode}_lora"] = {
                k: v.detach().clone() for k, v in model.named_parameters() if "lora_" in k
            }
        torch.save(result, out_file)
    finally:
        dist.destroy_process_group()
