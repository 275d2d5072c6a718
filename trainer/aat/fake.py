"""NNA-aware (fake-quantized) forward pieces with straight-through gradients.

Every quantity is carried twice: the exact integer the NNA computes (``int64``), and a
float tensor whose forward value is that integer times its scale and whose gradient is
the gradient of the float op it emulates (straight-through estimator, STE). Saturation
(clamps) passes no gradient outside the representable range. Ranges: weights use the
current per-channel max (as the exporter); the input feature range and the logit range
are *calibrated* once from data (a float warm start gives good ranges) and then frozen,
so that training and export agree bit for bit; hidden states use fixed formats and need
no range at all.
"""

from __future__ import annotations

import torch

from engine.nna.spec import NNASpec
from engine.quantize import weight_scale

from . import ops


def ste(real: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
    """Forward ``value``, backward the gradient of ``real``."""
    return real + (value.to(real.dtype) - real).detach()


class Emulator:
    """The spec's arithmetic in torch, for one device."""

    def __init__(self, spec: NNASpec, device=None) -> None:
        self.spec = spec
        self.lut = ops.LUT(spec, device)
        self.hid = 2.0 ** -spec.hidden_frac_bits
        self.gate = 2.0 ** -spec.gate_frac_bits
        self.cell = 2.0 ** -spec.cell_frac_bits
        self.q15 = 2.0**-15

    # --- weights / inputs ------------------------------------------------------------
    def weight(self, w: torch.Tensor):
        """-> (codes int64, scale float64 [N], float weight with STE)."""
        s = torch.from_numpy(weight_scale(w.detach().cpu().numpy(), self.spec)).to(w.device).double()
        codes = ops.saturate_symmetric(ops.round_half_away(w.detach().double() / s[:, None]), self.spec.weight_bits)
        return codes, s, ste(w, codes.double() * s[:, None])

    def input(self, x: torch.Tensor, scale: float):
        """Float activations -> (codes int64, float with STE, zero grad where saturated)."""
        bits = self.spec.act_bits
        codes = ops.saturate_symmetric(ops.round_half_away(x.detach().double() / scale), bits)
        qmax = self.spec.act_qmax
        inside = (x.detach().abs() <= qmax * scale).to(x.dtype)
        return codes, ste(x * inside, codes.double() * scale)

    def bias(self, b: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
        return ops.saturate(ops.round_half_away(b.detach().double() / scale), 32)

    # --- matmul + requantize --------------------------------------------------------------
    def linear(self, x_codes, x_hat, in_scale, w, b, out_scale, out_bits=16):
        """Quantized linear: (out codes int64, float out with STE). ``out_scale`` float or [N]."""
        codes, s, w_hat = self.weight(w)
        acc = matmul_exact(x_codes, codes, self.spec)
        if b is not None:
            acc = acc + self.bias(b, in_scale * s)
        acc = ops.saturate(acc, 32)
        real = torch.as_tensor(in_scale, dtype=torch.float64, device=s.device) * s / torch.as_tensor(out_scale, dtype=torch.float64, device=s.device)
        m, sh = ops.multipliers(real)
        y = ops.saturate(ops.requantize(acc, m, sh), out_bits)
        y_real = x_hat @ w_hat.t().to(x_hat.dtype)
        if b is not None:
            y_real = y_real + b
        lim = (1 << (out_bits - 1)) * torch.as_tensor(out_scale, dtype=y_real.dtype, device=y_real.device)
        y_real = y_real * (y_real.detach().abs() < lim).to(y_real.dtype)
        scale_t = torch.as_tensor(out_scale, dtype=torch.float64, device=y.device)
        return y, ste(y_real, y.double() * scale_t)

    # --- LSTM --------------------------------------------------------------------------------
    def lstm(self, x_codes, x_hat, in_scale, w_ih, w_hh, b, state=None):
        """Integer LSTM over time (batch first). Returns (h codes, h float, (h, c) codes+float)."""
        B, T, _ = x_codes.shape
        H = w_hh.shape[1]
        spec = self.spec
        gx_q, gx = self.linear(x_codes, x_hat, in_scale, w_ih, b, self.gate)
        wh_codes, wh_s, wh_hat = self.weight(w_hh)
        mh, shh = ops.multipliers(self.hid * wh_s / self.gate)
        dev = x_codes.device
        if state is None:
            h_q = torch.zeros(B, H, dtype=torch.int64, device=dev)
            c_q = torch.zeros(B, H, dtype=torch.int64, device=dev)
            h = torch.zeros(B, H, device=dev, dtype=x_hat.dtype)
            c = torch.zeros(B, H, device=dev, dtype=x_hat.dtype)
        else:
            (h_q, h), (c_q, c) = state
        lut = self.lut
        hs_q, hs = [], []
        glim = float(1 << spec.gate_int_bits)
        for t in range(T):
            acc = ops.saturate(matmul_exact(h_q, wh_codes, spec), 32)
            gh_q = ops.saturate(ops.requantize(acc, mh, shh), 16)
            q = ops.lstm_step(gx_q[:, t], gh_q, c_q, spec, lut)
            g_real = gx[:, t] + h @ wh_hat.t().to(h.dtype)
            g_real = g_real * (g_real.detach().abs() < glim).to(g_real.dtype)
            g = ste(g_real, q.gates.double() * self.gate)
            gi, gf, gg, go = g.split(H, dim=1)
            i = ste(torch.sigmoid(gi), q.i.double() * self.q15)
            f = ste(torch.sigmoid(gf), q.f.double() * self.q15)
            o = ste(torch.sigmoid(go), q.o.double() * self.q15)
            gt = ste(torch.tanh(gg), q.g.double() * self.q15)
            c_q, h_q = q.c, q.h
            c = ste(f * c + i * gt, c_q.double() * self.cell)
            h = ste(o * torch.tanh(c), h_q.double() * self.hid)
            hs_q.append(h_q)
            hs.append(h)
        return torch.stack(hs_q, 1), torch.stack(hs, 1), ((h_q, h), (c_q, c))

    def tanh(self, z_q, z):
        """Gate-format ``z`` (codes, float) -> LUT tanh -> Q0.(act-1): (codes, float with STE;
        no gradient where ``z`` saturated)."""
        spec = self.spec
        _, h_q = ops.joiner_activation(z_q, spec, self.lut)
        glim = float(1 << spec.gate_int_bits)
        z = z * (z.detach().abs() < glim).to(z.dtype)
        return h_q, ste(torch.tanh(z), h_q.double() * self.hid)

    def joiner_out(self, e_q, e, p_q, p, w, b, out_scale):
        """z = sat16(e + p) (gate format) -> LUT tanh -> Q0.(act-1) -> linear -> int16 logits."""
        hz_q, hz = self.tanh(ops.joiner_sum(e_q, p_q), e + p)
        return self.linear(hz_q, hz, self.hid, w, b, out_scale, out_bits=16)


def matmul_exact(x_codes: torch.Tensor, w_codes: torch.Tensor, spec: NNASpec) -> torch.Tensor:
    """Exact integer matmul ``x @ w.T`` (int64 result) via float32 (or float64) BLAS."""
    k = w_codes.shape[1]
    dt = torch.float32 if (k <= spec.exact_float32_max_k and spec.act_bits <= 8) else torch.float64
    y = torch.matmul(x_codes.to(dt), w_codes.t().to(dt))
    return y.round().long()


__all__ = ["Emulator", "matmul_exact", "ste"]
