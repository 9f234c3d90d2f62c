#!/usr/bin/python3
"""PyTorch side of tools/bench/dit.ts, and the parity fixtures of packages/diffusion's tests.

A plain PyTorch DiT / LightningDiT written from the reference definitions (facebookresearch/DiT
models.py, hustvl/LightningDiT models/lightningdit.py): the same module names, layouts and maths as
@ldmae/diffusion, so state dicts map one to one. Needs only torch (Debian's python3-torch runs it
under /usr/bin/python3; install libopenblas0-pthread too, or torch falls back to a slow BLAS).

  dit_torch.py bench '<config json>'   time training steps and Euler sampling, print JSON
  dit_torch.py count '<config json>'   print the parameter counts of a config as JSON
  dit_torch.py fixture OUT.safetensors '<config json>'   write weights, inputs and outputs of a
                                       seeded random model (for the parity test)

A config is the JSON of a DiT / LightningDiT config (`toJSON()` of the TypeScript classes); `bench`
adds {"batch", "steps", "sampleSteps", "sampleBatch", "cfgScale", "warmup", "iters", "device"} (device:
'cpu', the default, or 'cuda').
"""
import json
import math
import struct
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def sincos_2d(dim, gh, gw):
    """MAE / DiT fixed embedding: first half encodes the column, second half the row."""
    def one_d(d, pos):
        omega = torch.arange(d // 2, dtype=torch.float64) / (d / 2.0)
        omega = 1.0 / 10000 ** omega
        out = pos.reshape(-1, 1).double() * omega.reshape(1, -1)
        return torch.cat([torch.sin(out), torch.cos(out)], dim=1)
    rows = torch.arange(gh).repeat_interleave(gw)
    cols = torch.arange(gw).repeat(gh)
    return torch.cat([one_d(dim // 2, cols), one_d(dim // 2, rows)], dim=1).float()


class RMSNorm(nn.Module):
    def __init__(self, dim, eps=1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


class Rope(nn.Module):
    """EVA's VisionRotaryEmbeddingFast on a square grid: rows rotate the first half of each head."""
    def __init__(self, head_dim, grid):
        super().__init__()
        half = head_dim // 2
        freqs = 1.0 / (10000 ** (torch.arange(0, half, 2)[: half // 2].float() / half))
        pos = torch.arange(grid).float()
        f = torch.einsum('i,f->if', pos, freqs).repeat_interleave(2, dim=-1)  # [grid, half]
        rows = f[:, None, :].expand(grid, grid, half)
        cols = f[None, :, :].expand(grid, grid, half)
        table = torch.cat([rows, cols], dim=-1).reshape(grid * grid, head_dim)
        self.register_buffer('freqs_cos', table.cos())
        self.register_buffer('freqs_sin', table.sin())

    def forward(self, x):
        pairs = x.reshape(*x.shape[:-1], -1, 2)
        rot = torch.stack([-pairs[..., 1], pairs[..., 0]], dim=-1).reshape(x.shape)
        return x * self.freqs_cos + rot * self.freqs_sin


class Attention(nn.Module):
    def __init__(self, dim, heads, qk_norm, rms):
        super().__init__()
        self.heads = heads
        self.head_dim = dim // heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=True)
        norm = (lambda: RMSNorm(self.head_dim)) if rms else (lambda: nn.LayerNorm(self.head_dim))
        self.q_norm = norm() if qk_norm else nn.Identity()
        self.k_norm = norm() if qk_norm else nn.Identity()
        self.proj = nn.Linear(dim, dim)

    def forward(self, x, rope):
        b, n, c = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4).unbind(0)
        q, k = self.q_norm(q), self.k_norm(k)
        if rope is not None:
            q, k = rope(q), rope(k)
        attn = (q * self.head_dim ** -0.5) @ k.transpose(-2, -1)
        x = attn.softmax(dim=-1) @ v
        return self.proj(x.transpose(1, 2).reshape(b, n, c))


class Mlp(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x), approximate='tanh'))


class SwiGLU(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.w12 = nn.Linear(dim, 2 * hidden)
        self.w3 = nn.Linear(hidden, dim)

    def forward(self, x):
        a, b = self.w12(x).chunk(2, dim=-1)
        return self.w3(F.silu(a) * b)


def make_norm(dim, rms):
    return RMSNorm(dim) if rms else nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)


def modulate(x, shift, scale):
    y = x * (1 + scale.unsqueeze(1))
    return y if shift is None else y + shift.unsqueeze(1)


class Block(nn.Module):
    def __init__(self, dim, heads, cfg):
        super().__init__()
        self.wo_shift = cfg['woShift']
        self.norm1 = make_norm(dim, cfg['rmsNorm'])
        self.attn = Attention(dim, heads, cfg['qkNorm'], cfg['rmsNorm'])
        self.norm2 = make_norm(dim, cfg['rmsNorm'])
        hidden = int(dim * cfg['mlpRatio'])
        self.mlp = SwiGLU(dim, int(2 / 3 * hidden)) if cfg['swiglu'] else Mlp(dim, hidden)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(dim, (4 if self.wo_shift else 6) * dim))

    def forward(self, x, c, rope):
        m = self.adaLN_modulation(c)
        if self.wo_shift:
            scale_msa, gate_msa, scale_mlp, gate_mlp = m.chunk(4, dim=1)
            shift_msa = shift_mlp = None
        else:
            shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp = m.chunk(6, dim=1)
        x = x + gate_msa.unsqueeze(1) * self.attn(modulate(self.norm1(x), shift_msa, scale_msa), rope)
        return x + gate_mlp.unsqueeze(1) * self.mlp(modulate(self.norm2(x), shift_mlp, scale_mlp))


class FinalLayer(nn.Module):
    def __init__(self, dim, out, rms):
        super().__init__()
        self.norm_final = make_norm(dim, rms)
        self.linear = nn.Linear(dim, out)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(dim, 2 * dim))

    def forward(self, x, c):
        shift, scale = self.adaLN_modulation(c).chunk(2, dim=1)
        return self.linear(modulate(self.norm_final(x), shift, scale))


class PatchEmbed(nn.Module):
    def __init__(self, p, c, d):
        super().__init__()
        self.proj = nn.Conv2d(c, d, kernel_size=p, stride=p)

    def forward(self, x):
        return self.proj(x).flatten(2).transpose(1, 2)


class TimestepEmbedder(nn.Module):
    def __init__(self, d, freq=256):
        super().__init__()
        self.freq = freq
        self.mlp = nn.Sequential(nn.Linear(freq, d), nn.SiLU(), nn.Linear(d, d))

    def forward(self, t):
        half = self.freq // 2
        f = torch.exp(-math.log(10000) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
        a = t[:, None].float() * f[None]
        return self.mlp(torch.cat([torch.cos(a), torch.sin(a)], dim=-1))


class LabelEmbedder(nn.Module):
    def __init__(self, classes, d, dropout):
        super().__init__()
        self.embedding_table = nn.Embedding(classes + (1 if dropout > 0 else 0), d)

    def forward(self, y):
        return self.embedding_table(y)


def full_config(cfg):
    c = dict(cfg)
    light = c['type'] == 'lightningdit'
    for k in ('qkNorm', 'swiglu', 'rope', 'rmsNorm', 'woShift'):
        c[k] = bool(c.get(k, False)) if light else False
    return c


class DiffusionTransformer(nn.Module):
    """DiT (type 'dit') or LightningDiT (type 'lightningdit') from a TypeScript config."""
    def __init__(self, cfg):
        super().__init__()
        cfg = full_config(cfg)
        h, w = cfg['inputSize']
        p, c, d = cfg['patchSize'], cfg['inChannels'], cfg['hiddenSize']
        self.p, self.c = p, c
        self.out = 2 * c if cfg['learnSigma'] else c
        self.grid = (h // p, w // p)
        self.x_embedder = PatchEmbed(p, c, d)
        self.t_embedder = TimestepEmbedder(d)
        self.y_embedder = LabelEmbedder(cfg['numClasses'], d, cfg['classDropoutProb'])
        self.pos_embed = nn.Parameter(sincos_2d(d, *self.grid).unsqueeze(0), requires_grad=False)
        self.feat_rope = Rope(d // cfg['numHeads'], self.grid[0]) if cfg['rope'] else None
        self.blocks = nn.ModuleList([Block(d, cfg['numHeads'], cfg) for _ in range(cfg['depth'])])
        self.final_layer = FinalLayer(d, p * p * self.out, cfg['rmsNorm'])
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)
        wt = self.x_embedder.proj.weight.data
        nn.init.xavier_uniform_(wt.view(wt.shape[0], -1))
        nn.init.zeros_(self.x_embedder.proj.bias)
        nn.init.normal_(self.y_embedder.embedding_table.weight, std=0.02)
        nn.init.normal_(self.t_embedder.mlp[0].weight, std=0.02)
        nn.init.normal_(self.t_embedder.mlp[2].weight, std=0.02)
        for blk in list(self.blocks) + [self.final_layer]:
            nn.init.zeros_(blk.adaLN_modulation[-1].weight)
            nn.init.zeros_(blk.adaLN_modulation[-1].bias)
        nn.init.zeros_(self.final_layer.linear.weight)
        nn.init.zeros_(self.final_layer.linear.bias)

    def forward(self, x, t, y):
        """x NCHW -> all out channels, NCHW."""
        x = self.x_embedder(x) + self.pos_embed
        c = self.t_embedder(t) + self.y_embedder(y)
        for blk in self.blocks:
            x = blk(x, c, self.feat_rope)
        x = self.final_layer(x, c)
        gh, gw = self.grid
        x = x.reshape(x.shape[0], gh, gw, self.p, self.p, self.out)
        return torch.einsum('nhwpqc->nchpwq', x).reshape(x.shape[0], self.out, gh * self.p, gw * self.p)


def counts(cfg):
    m = DiffusionTransformer(cfg)
    trainable = sum(p.numel() for p in m.parameters() if p.requires_grad)
    return {
        'trainable': trainable,
        'torchParameters': sum(p.numel() for p in m.parameters()),
        'buffers': sum(b.numel() for b in m.buffers()),
    }


def write_safetensors(path, tensors):
    """The safetensors format by hand: 8-byte header length, JSON header, raw little-endian data."""
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        t = t.contiguous()
        dtype = {torch.float32: 'F32', torch.int32: 'I32'}[t.dtype]
        data = t.numpy().tobytes()
        header[name] = {'dtype': dtype, 'shape': list(t.shape), 'data_offsets': [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    h = json.dumps(header, separators=(',', ':')).encode()
    h += b' ' * ((8 - len(h) % 8) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def fixture(path, cfg):
    torch.manual_seed(0)
    m = DiffusionTransformer(cfg)
    with torch.no_grad():
        # Every trainable tensor random (pos_embed stays the fixed table), so every path is exercised.
        for name, p in m.named_parameters():
            if not p.requires_grad:
                continue
            if p.dim() > 1:
                p.copy_(torch.randn_like(p) * 0.3)
            elif name.endswith('weight'):  # norm scales
                p.copy_(1 + torch.randn_like(p) * 0.1)
            else:
                p.copy_(torch.randn_like(p) * 0.1)
    h, w = cfg['inputSize']
    b = 3
    x = torch.randn(b, cfg['inChannels'], h, w)
    t = torch.tensor([0.0, 0.37, 0.91])
    rows = cfg['numClasses'] + (1 if cfg['classDropoutProb'] > 0 else 0)
    y = torch.tensor([0, rows - 1, min(1, rows - 1)], dtype=torch.int64)
    with torch.no_grad():
        out = m(x, t, y)
    tensors = {k: v.float() for k, v in m.state_dict().items()}
    tensors['input.x'] = x.permute(0, 2, 3, 1)
    tensors['input.t'] = t
    tensors['input.y'] = y.int()
    tensors['output'] = out.permute(0, 2, 3, 1)
    write_safetensors(path, tensors)
    print(json.dumps({'written': path, 'tensors': len(tensors)}))


def bench(cfg):
    torch.manual_seed(0)
    torch.set_num_threads(cfg.get('threads', torch.get_num_threads()))
    dev = torch.device(cfg.get('device', 'cpu'))
    m = DiffusionTransformer(cfg).to(dev)
    h, w = cfg['inputSize']
    c, b = cfg['inChannels'], cfg['batch']
    classes = cfg['numClasses']
    opt = torch.optim.AdamW([p for p in m.parameters() if p.requires_grad], lr=2e-4, betas=(0.9, 0.95), weight_decay=0)
    x1 = torch.randn(b, c, h, w, device=dev)
    y = torch.randint(0, classes, (b,), device=dev)

    def train_step():
        t = torch.sigmoid(torch.randn(b, device=dev))
        x0 = torch.randn_like(x1)
        tt = t.view(-1, 1, 1, 1)
        xt = tt * x1 + (1 - tt) * x0
        out = m(xt, t, y)[:, :c]
        loss = ((out - (x1 - x0)) ** 2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss.item()

    def timed(fn, warmup, iters):
        for _ in range(warmup):
            fn()
        ts = []
        for _ in range(iters):
            t0 = time.perf_counter()
            fn()
            if dev.type == 'cuda':
                torch.cuda.synchronize()  # CUDA runs asynchronously: time the finished work
            ts.append(time.perf_counter() - t0)
        ts.sort()
        return ts[len(ts) // 2], ts[0]

    m.train()
    train_med, train_best = timed(train_step, cfg.get('warmup', 2), cfg.get('iters', 5))

    sb, n_steps, scale = cfg['sampleBatch'], cfg['sampleSteps'], cfg.get('cfgScale', 1.0)
    null = classes

    @torch.no_grad()
    def sample():
        x = torch.randn(sb, c, h, w, device=dev)
        ys = torch.randint(0, classes, (sb,), device=dev)
        grid = torch.linspace(0, 1, n_steps + 1)
        for i in range(n_steps):
            t = float(grid[i])
            if scale != 1.0:
                out = m(torch.cat([x, x]), torch.full((2 * sb,), t, device=dev), torch.cat([ys, torch.full((sb,), null, device=dev)]))[:, :c]
                cond, unc = out.chunk(2)
                v = unc + scale * (cond - unc)
            else:
                v = m(x, torch.full((sb,), t, device=dev), ys)[:, :c]
            x = x + (float(grid[i + 1]) - t) * v
        return x

    m.eval()
    sample_med, sample_best = timed(sample, 1, cfg.get('sampleIters', 2))
    print(json.dumps({
        'torch': torch.__version__,
        'device': torch.cuda.get_device_name(dev) if dev.type == 'cuda' else 'cpu',
        'threads': torch.get_num_threads(),
        'trainStepMs': train_med * 1000, 'trainStepBestMs': train_best * 1000,
        'sampleMsPerImage': sample_med * 1000 / sb, 'sampleBestMsPerImage': sample_best * 1000 / sb,
    }))


if __name__ == '__main__':
    cmd = sys.argv[1] if len(sys.argv) > 1 else ''
    if cmd == 'count':
        print(json.dumps(counts(json.loads(sys.argv[2]))))
    elif cmd == 'fixture':
        fixture(sys.argv[2], json.loads(sys.argv[3]))
    elif cmd == 'bench':
        bench(json.loads(sys.argv[2]))
    else:
        print(__doc__)
        sys.exit(2)
