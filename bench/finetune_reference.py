#!/usr/bin/env python3
"""PyTorch peer of bench/finetune-bench.ts: the same MobileNetV2 (torchvision, BatchNorm folded into the
convs as in the shared ONNX, real weights loaded from it), one AdamW training step per batch with
label-smoothed cross-entropy, full or last:2 (only features[17:] and the head train; the prefix runs
under no_grad, as its activations are not needed).

A line-oriented server so the benchmark can alternate rounds with ours in one run:
  stdin:  {"cmd": "setup", "weights": SAFETENSORS, "classes": C, "batch": N, "size": S, "threads": T}
          {"cmd": "run", "config": NAME, "mode": "full"|"last2", "steps": K}
  stdout: one JSON line per command ({"ok": true, ...} or {"error": ...}).
Configs: eager (NCHW), channels_last, jit (torch.jit.trace of the model, NCHW).
"""
import json
import resource
import struct
import sys
import time

import torch
import torch.nn as nn
import torchvision


def read_safetensors(path):
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        out[name] = torch.frombuffer(bytearray(data[start:end]), dtype=torch.float32).reshape(info["shape"])
    return out


def folded_mobilenet_v2(weights, classes):
    """torchvision MobileNetV2 with each Conv+BN replaced by one biased Conv, weights from the ONNX (graph order)."""
    model = torchvision.models.mobilenet_v2(weights=None)
    model.eval()
    convs = []

    def fold(module):
        for name, child in list(module.named_children()):
            if isinstance(child, nn.Sequential) or len(list(child.children())) > 0:
                fold(child)
            if isinstance(child, nn.BatchNorm2d):
                setattr(module, name, nn.Identity())

    def biased(module):
        for name, child in list(module.named_children()):
            if isinstance(child, nn.Conv2d):
                conv = nn.Conv2d(child.in_channels, child.out_channels, child.kernel_size, child.stride,
                                 child.padding, child.dilation, child.groups, bias=True)
                setattr(module, name, conv)
                convs.append(conv)
            else:
                biased(child)

    biased(model.features)
    fold(model.features)
    names = sorted({k.rsplit("_", 1)[0] for k in weights if k.startswith("conv_")}, key=lambda s: int(s.split("_")[1]))
    assert len(names) == len(convs), (len(names), len(convs))
    with torch.no_grad():
        for conv, name in zip(convs, names):
            conv.weight.copy_(weights[name + "_weight"])
            conv.bias.copy_(weights[name + "_bias"])
    model.classifier = nn.Linear(1280, classes)
    return model


class Peer:
    def setup(self, msg):
        torch.set_num_threads(msg["threads"])
        torch.manual_seed(0)
        self.weights = read_safetensors(msg["weights"])
        self.classes, self.batch, self.size = msg["classes"], msg["batch"], msg["size"]
        self.x = torch.randn(self.batch, 3, self.size, self.size)
        self.y = torch.arange(self.batch) % self.classes
        self.runners = {}
        return {"torch": torch.__version__, "torchvision": torchvision.__version__, "threads": torch.get_num_threads(),
                "mkldnn": torch.backends.mkldnn.is_available()}

    def runner(self, config, mode):
        key = (config, mode)
        if key in self.runners:
            return self.runners[key]
        model = folded_mobilenet_v2(self.weights, self.classes)
        x = self.x
        if config == "channels_last":
            model = model.to(memory_format=torch.channels_last)
            x = x.contiguous(memory_format=torch.channels_last)
        prefix = None
        if mode == "last2":
            prefix = model.features[:17]
            for p in prefix.parameters():
                p.requires_grad_(False)
            tail = nn.Sequential(model.features[17:], nn.AdaptiveAvgPool2d(1), nn.Flatten(), model.classifier)
        else:
            tail = nn.Sequential(model.features, nn.AdaptiveAvgPool2d(1), nn.Flatten(), model.classifier)
        if config == "jit":
            example = prefix(x) if prefix is not None else x
            tail = torch.jit.trace(tail, example)
        params = [p for p in model.parameters() if p.requires_grad]
        opt = torch.optim.AdamW(params, lr=1e-4, betas=(0.9, 0.99), eps=1e-5, weight_decay=0.01)
        loss_fn = nn.CrossEntropyLoss(label_smoothing=0.1)

        def step():
            if prefix is not None:
                with torch.no_grad():
                    inp = prefix(x)
            else:
                inp = x
            loss = loss_fn(tail(inp), self.y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            return loss.item()

        step()  # warm-up (and jit profiling)
        self.runners[key] = step
        return step

    def run(self, msg):
        step = self.runner(msg["config"], msg["mode"])
        times = []
        for _ in range(msg["steps"]):
            t0 = time.perf_counter()
            c0 = time.process_time()
            loss = step()
            times.append({"wall": time.perf_counter() - t0, "cpu": time.process_time() - c0})
        return {"times": times, "loss": loss, "maxRss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}


def main():
    peer = Peer()
    for line in sys.stdin:
        msg = json.loads(line)
        try:
            out = peer.setup(msg) if msg["cmd"] == "setup" else peer.run(msg)
            print(json.dumps({"ok": True, **out}), flush=True)
        except Exception as err:  # reported to the benchmark, which stops with it
            print(json.dumps({"error": f"{type(err).__name__}: {err}"}), flush=True)


if __name__ == "__main__":
    main()
