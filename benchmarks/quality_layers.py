"""Which stage of a backbone makes the best ``visual`` layer: every candidate stage of one
forward pass, average-pooled, on the quality benchmark's protocol.

    python -m benchmarks.quality_layers [--model efficientnet_lite0] [--originals N]
                                        [--sources N] [--quick]

The network is the product's (:func:`core.embed.models.build_network`, its weights), fed the
product's model inputs (:func:`core.decode.model_input`) in PyTorch on one thread; a forward
hook on each candidate stage takes its output, average-pooled and L2-normalised (what
``--layer visual`` stores for the chosen stage), plus the concatenation of the chosen stage
with the final features (two pooled stages, each normalised). Near-duplicates: mAP over all
edits, mild and strong; semantic: mAP@10 of same-group retrieval (see :mod:`benchmarks.quality`
for both protocols). The product's own rows (both layers, with the per-edit and per-group
tables) come from ``python -m benchmarks.quality --layers semantic,visual``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from benchmarks import quality as q
from benchmarks import quality_eval as qe
from benchmarks._common import machine_line, print_table
from benchmarks.edits import EDITS, MILD
from benchmarks.quality_data import Item, default_cache
from core import decode
from core.embed.models import DEFAULT_MODEL, get_spec

# candidate stages per model (the last is the semantic layer: the input of the pooling)
STAGES = {
    "efficientnet_lite0": ["blocks.3", "blocks.4", "blocks.5", "blocks.6", "bn2"],
    "efficientnet_lite1": ["blocks.4", "blocks.5", "blocks.6", "bn2"],
    "efficientnet_lite2": ["blocks.4", "blocks.5", "blocks.6", "bn2"],
    "resnet50": ["layer2", "layer3", "layer4"],
}
BATCH = 16


def _unit(x: NDArray[np.float32]) -> NDArray[np.float32]:
    return (x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)).astype(np.float32)


def describe_stages(model: str, weights: str, stages: Sequence[str], items: Sequence[Item]
                    ) -> dict[str, NDArray[np.float32]]:
    """Each stage's pooled output for every item, from one forward pass per batch."""
    import torch

    from core.embed.models import build_network

    spec = get_spec(model)
    net, _head = build_network(model, weights)
    torch.set_num_threads(1)
    outputs: dict[str, torch.Tensor] = {}
    for stage in stages:
        net.get_submodule(stage).register_forward_hook(
            lambda _m, _i, out, stage=stage: outputs.__setitem__(stage, out))
    mean = torch.tensor(spec.mean).view(1, 3, 1, 1) * 255
    std = torch.tensor(spec.std).view(1, 3, 1, 1) * 255
    pooled: dict[str, list[NDArray[np.float32]]] = {s: [] for s in stages}
    for start in range(0, len(items), BATCH):
        arrays = np.stack([decode.model_input(item.make(), spec.input_size)
                           for item in items[start:start + BATCH]])
        x = (torch.from_numpy(arrays).permute(0, 3, 1, 2).float() - mean) / std
        with torch.inference_mode():
            net(x)
        for stage in stages:
            pooled[stage].append(outputs[stage].float().mean((2, 3)).numpy())
    return {s: np.concatenate(v) for s, v in pooled.items()}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.quality_layers",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=DEFAULT_MODEL, choices=list(STAGES))
    parser.add_argument("--weights", default="default", help="default, or none (random)")
    parser.add_argument("--quick", action="store_true", help="the quick protocol (offline)")
    parser.add_argument("--originals", type=int, help="use only N originals (default: all)")
    parser.add_argument("--sources", type=int, help="use only N tile sources (default: all)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    kinds = list(q.QUICK_KINDS) if args.quick else list(EDITS)
    proto = q.build_protocol(default_cache(), quick=args.quick, kinds=kinds,
                             n_originals=args.originals, n_sources=args.sources)
    stages = STAGES[args.model]
    chosen = get_spec(args.model).visual
    db, queries, semantic = (describe_stages(args.model, args.weights, stages, items)
                             for items in (proto.database, proto.queries, proto.semantic))
    candidates = {s: (db[s], queries[s], semantic[s]) for s in stages}
    if chosen in stages:
        last = stages[-1]
        candidates[f"{chosen} + {last}"] = tuple(  # type: ignore[assignment]
            np.hstack([_unit(part[chosen]), _unit(part[last])])
            for part in (db, queries, semantic))
    kind_of = np.asarray(proto.kinds)
    mild = np.isin(kind_of, [k for k in kinds if EDITS[k].level == MILD])
    groups = [item.group for item in proto.semantic]
    rows = []
    for name, (d, qv, s) in candidates.items():
        ap, _r1 = qe.near_duplicate_ap(_unit(qv), _unit(d), proto.targets)
        sem = float(np.mean(list(qe.map_at_k(_unit(s), groups).values())))
        role = ("semantic layer" if name == stages[-1] else "visual layer" if name == chosen
                else "")
        rows.append([name, role, str(d.shape[1]), f"{ap.mean():.3f}", f"{ap[mild].mean():.3f}",
                     f"{ap[~mild].mean():.3f}", f"{sem:.3f}"])
    print(f"# quality_layers: {machine_line()}")
    print_table(["stage (pooled)", "in the product", "values", "all edits mAP", "mild mAP",
                 "strong mAP", "semantic mAP@10"], rows,
                title=f"{args.model}: {proto.n_originals} originals, "
                      f"{len(proto.database) - proto.n_originals} distractors, "
                      f"{len(proto.queries)} queries; {len(proto.semantic)} grouped photos")
    print(f"\n{time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
