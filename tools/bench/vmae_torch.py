#!/usr/bin/env python3
"""PyTorch side of tools/bench/vmae.ts, and the writer of @ldmae/vmae's reference test fixture.

The VMAE is written here from shared/spec/vmae.md (module names, layouts and the stage-1 objective of
the authors' reference), independently of the TypeScript port, so that the two can be compared.

  python3 tools/bench/vmae_torch.py bench --steps 20 --batch 32 --img 28 [--preset f4d4-tiny] [--threads N] [--device cuda]
      trains on random images for the given steps and prints one JSON line with the step times.
  python3 tools/bench/vmae_torch.py fixture --out packages/vmae/test/fixtures/reference-tiny.pth
      writes a tiny reference-layout checkpoint plus inputs and expected outputs.

Needs Debian's python3-torch (1.13) under the system python3, with libopenblas0-pthread.
"""
import argparse
import json
import math
import statistics
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

PRESETS = {
    # Mirrors packages/vmae/src/config.ts.
    "f8d16": dict(patch=8, dim=192, depth=12, heads=12, ddim=192, ddepth=12, dheads=12, latent=16),
    "f4d8-mini": dict(patch=4, dim=128, depth=4, heads=4, ddim=128, ddepth=4, dheads=4, latent=8),
    "f4d4-tiny": dict(patch=4, dim=64, depth=2, heads=2, ddim=64, ddepth=2, dheads=2, latent=4),
    # Only for the test fixture.
    "fixture": dict(patch=4, dim=32, depth=1, heads=2, ddim=32, ddepth=1, dheads=2, latent=4),
}


def sincos_2d(dim, gh, gw):
    """MAE's fixed embedding: first half of the channels encodes the column, second half the row."""
    def one_d(d, pos):
        omega = 1.0 / 10000 ** (np.arange(d // 2, dtype=np.float64) / (d / 2.0))
        out = np.outer(pos.reshape(-1), omega)
        return np.concatenate([np.sin(out), np.cos(out)], axis=1)

    rows, cols = np.meshgrid(np.arange(gh, dtype=np.float64), np.arange(gw, dtype=np.float64), indexing="ij")
    emb = np.concatenate([one_d(dim // 2, cols), one_d(dim // 2, rows)], axis=1)
    return torch.from_numpy(emb).float().unsqueeze(0)


class Attention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        b, n, c = x.shape
        h = self.heads
        q, k, v = self.qkv(x).reshape(b, n, 3, h, c // h).permute(2, 0, 3, 1, 4)
        a = (q @ k.transpose(-2, -1)) * (c // h) ** -0.5
        return self.proj((a.softmax(-1) @ v).transpose(1, 2).reshape(b, n, c))


class Mlp(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, 4 * dim)

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class PatchEmbed(nn.Module):
    def __init__(self, chans, dim, p):
        super().__init__()
        self.proj = nn.Conv2d(chans, dim, p, stride=p)


class DecoderPred(nn.Module):
    def __init__(self, dim, p, chans):
        super().__init__()
        self.linear_pred = nn.Linear(dim, p * p * chans)
        self.conv_smoother = nn.Conv2d(chans, chans, 3, 1, 1)


class VMAE(nn.Module):
    def __init__(self, img, patch, dim, depth, heads, ddim, ddepth, dheads, latent, chans=3):
        super().__init__()
        self.p, self.chans, self.latent = patch, chans, latent
        self.g = img // patch
        self.to_latent = nn.Linear(dim, 2 * latent)
        self.from_latent = nn.Linear(latent, dim)
        self.patch_embed = PatchEmbed(chans, dim, patch)
        self.pos_embed = nn.Parameter(sincos_2d(dim, self.g, self.g), requires_grad=False)
        self.blocks = nn.ModuleList([Block(dim, heads) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.decoder_embed = nn.Linear(dim, ddim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, ddim))
        self.decoder_pos_embed = nn.Parameter(sincos_2d(ddim, self.g, self.g), requires_grad=False)
        self.decoder_blocks = nn.ModuleList([Block(ddim, dheads) for _ in range(ddepth)])
        self.decoder_norm = nn.LayerNorm(ddim, eps=1e-6)
        self.decoder_pred = DecoderPred(ddim, patch, chans)
        w = self.patch_embed.proj.weight.data
        nn.init.xavier_uniform_(w.view([w.shape[0], -1]))
        nn.init.normal_(self.mask_token, std=0.02)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)

    def patchify(self, imgs):
        b, c, hh, ww = imgs.shape
        p = self.p
        x = imgs.reshape(b, c, hh // p, p, ww // p, p)
        return torch.einsum("nchpwq->nhwpqc", x).reshape(b, (hh // p) * (ww // p), p * p * c)

    def unpatchify(self, x):
        b, n, _ = x.shape
        g, p, c = int(round(math.sqrt(n))), self.p, self.chans
        x = torch.einsum("nhwpqc->nchpwq", x.reshape(b, g, g, p, p, c))
        return x.reshape(b, c, g * p, g * p)

    def encoder(self, imgs, noise=None, ratio=0.0):
        x = self.patch_embed.proj(imgs).flatten(2).transpose(1, 2) + self.pos_embed
        b, n, d = x.shape
        mask = torch.zeros(b, n, device=x.device)
        restore = None
        if noise is not None:
            keep = int(n * (1 - ratio))
            shuffle = torch.argsort(noise, dim=1)
            restore = torch.argsort(shuffle, dim=1)
            x = torch.gather(x, 1, shuffle[:, :keep, None].expand(-1, -1, d))
            mask = torch.ones(b, n, device=x.device)
            mask[:, :keep] = 0
            mask = torch.gather(mask, 1, restore)
        for blk in self.blocks:
            x = blk(x)
        return self.norm(x), mask, restore

    def decoder(self, z, restore=None):
        x = self.decoder_embed(self.from_latent(z))
        if restore is not None:
            b, k, d = x.shape
            tokens = self.mask_token.repeat(b, restore.shape[1] - k, 1)
            x = torch.gather(torch.cat([x, tokens], 1), 1, restore[:, :, None].expand(-1, -1, d))
        x = x + self.decoder_pos_embed
        for blk in self.decoder_blocks:
            x = blk(x)
        img = self.unpatchify(self.decoder_pred.linear_pred(self.decoder_norm(x)))
        return self.patchify(self.decoder_pred.conv_smoother(img))

    def moments(self, tokens):
        m = self.to_latent(tokens)
        mean, logvar = m.chunk(2, dim=-1)
        return mean, logvar.clamp(-30.0, 20.0)

    def forward(self, imgs, noise, ratio=0.25, v=0.75, kl_weight=1e-6, fixed_std=None, sample=True):
        """Stage-1 objective; returns (loss, pred patches, mask, L_R, L_M, KL)."""
        tokens, mask, restore = self.encoder(imgs, noise, ratio)
        mean, logvar = self.moments(tokens)
        var = logvar.exp()
        if fixed_std is None:
            kl = 0.5 * (var - 1.0 - logvar)
        else:
            s2 = fixed_std**2
            kl = 0.5 * (var / s2 - 1.0 - logvar + math.log(s2))
        kl = kl.sum() / mean.shape[0] / mean.shape[1]
        z = mean + (0.5 * logvar).exp() * torch.randn_like(mean) if sample else mean
        pred = self.decoder(z, restore)
        per_patch = ((pred - self.patchify(imgs)) ** 2).mean(-1)
        visible = (per_patch * (1 - mask)).sum() / (1 - mask).sum()
        masked = (per_patch * mask).sum() / mask.sum()
        loss = (1 - v) * masked + v * visible + kl_weight * kl
        return loss, pred, mask, visible, masked, kl


def make(preset, img):
    return VMAE(img=img, **PRESETS[preset])


def bench(args):
    torch.manual_seed(0)
    if args.threads:
        torch.set_num_threads(args.threads)
    dev = torch.device(args.device)
    model = make(args.preset, args.img).to(dev)
    decay = [p for n, p in model.named_parameters() if p.requires_grad and p.ndim >= 2 and n != "mask_token"]
    other = [p for n, p in model.named_parameters() if p.requires_grad and (p.ndim < 2 or n == "mask_token")]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": 0.05}, {"params": other, "weight_decay": 0.0}], lr=1e-4, betas=(0.9, 0.95)
    )
    g = model.g
    x = torch.rand(args.batch, 3, args.img, args.img, device=dev) * 2 - 1
    times, cpu = [], []
    for i in range(args.warmup + args.steps):
        t0 = time.perf_counter()
        c0 = time.process_time()
        noise = torch.rand(args.batch, g * g, device=dev)
        loss = model(x, noise, ratio=args.mask_ratio)[0]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if dev.type == "cuda":
            torch.cuda.synchronize()  # CUDA runs asynchronously: time the finished step
        dt = time.perf_counter() - t0
        if i >= args.warmup:
            times.append(dt)
            cpu.append(time.process_time() - c0)
    params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    print(
        json.dumps(
            {
                "framework": f"pytorch {torch.__version__}",
                "device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu",
                "threads": torch.get_num_threads(),
                "blas": "openblas" if "openblas" in torch.__config__.show().lower() else "unknown",
                "preset": args.preset,
                "img": args.img,
                "batch": args.batch,
                "steps": args.steps,
                "params": params,
                "median_s": statistics.median(times),
                "best_s": min(times),
                "median_cpu_s": statistics.median(cpu),
                "images_per_s": args.batch / statistics.median(times),
                "loss": float(loss),
            }
        )
    )


def fixture(args):
    """A tiny model in the reference's checkpoint layout, with inputs and outputs to reproduce."""
    torch.manual_seed(1234)
    img, b = 16, 2
    model = make("fixture", img).eval()
    with torch.no_grad():
        # Move the conv / LayerNorm parameters off their initial values so the test checks them too.
        for name, p in model.named_parameters():
            if "norm" in name or name.endswith("proj.bias") or "conv_smoother" in name:
                p.add_(0.05 * torch.randn_like(p))
        x = torch.rand(b, 3, img, img) * 2 - 1
        n = model.g * model.g
        noise = torch.rand(b, n)
        tokens, _, _ = model.encoder(x)
        mean, logvar = model.moments(tokens)
        g = model.g
        enc_mean = mean.transpose(1, 2).reshape(b, -1, g, g)  # NCHW, as the reference's encode()
        enc_logvar = logvar.transpose(1, 2).reshape(b, -1, g, g)
        dec = model.unpatchify(model.decoder(mean))  # decode(mean) -> NCHW image
        loss, pred, mask, visible, masked, kl = model(x, noise, sample=False)
        kl_fixed = model(x, noise, sample=False, fixed_std=1e-3)[5]
        vis_tokens, _, _ = model.encoder(x, noise, 0.25)
        vis_mean, vis_logvar = model.moments(vis_tokens)
    state = dict(model.state_dict())
    # The reference keeps its LPIPS network inside the model's state dict; the importer must skip it.
    state["perceptual_loss.lin0.model.1.weight"] = torch.ones(1, 8, 1, 1)
    expected = {
        "x": x,
        "noise": noise,
        "enc_mean": enc_mean,
        "enc_logvar": enc_logvar,
        "dec": dec,
        "masked_mean": vis_mean,
        "masked_logvar": vis_logvar,
        "pred": pred,
        "mask": mask,
        "loss": loss.reshape(1),
        "visible": visible.reshape(1),
        "masked": masked.reshape(1),
        "kl": kl.reshape(1),
        "kl_fixed": kl_fixed.reshape(1),
    }
    ns = argparse.Namespace(model="fixture", input_size=img, mask_ratio=0.25, kl_loss_weight=1e-6)
    torch.save({"model": state, "epoch": 0, "args": ns, "expected": expected}, args.out)
    print(f"wrote {args.out}: {sum(t.numel() for t in state.values())} numbers")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("bench")
    b.add_argument("--preset", default="f4d4-tiny", choices=sorted(k for k in PRESETS if k != "fixture"))
    b.add_argument("--img", type=int, default=28)
    b.add_argument("--batch", type=int, default=32)
    b.add_argument("--steps", type=int, default=20)
    b.add_argument("--warmup", type=int, default=3)
    b.add_argument("--mask-ratio", type=float, default=0.25)
    b.add_argument("--threads", type=int, default=0)
    b.add_argument("--device", default="cpu", help="torch device: cpu (default) or cuda")
    f = sub.add_parser("fixture")
    f.add_argument("--out", required=True)
    args = ap.parse_args()
    bench(args) if args.cmd == "bench" else fixture(args)


if __name__ == "__main__":
    sys.exit(main())
