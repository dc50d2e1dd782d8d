// Element-wise kernels of the transformer forward pass (lib/backends/blas_model_kernels.ts), compiled to
// WebAssembly with SIMD by tasks/build_wasm.ts into model_kernels_wasm.ts. Each works on rows that lie in
// the module's memory, between two BLAS products that read and write the same memory through FFI:
// normalisations, the activations after a product (GELU, SiLU, SwiGLU) and the causal softmax of
// attention scores. Four lanes at a time; the tails of rows whose width is not a multiple of 4 are done
// one value at a time with the same formulas.
//
// Build: clang --target=wasm32 -O3 -msimd128 -fno-trapping-math -nostdlib (no libc is used), linked with an
// imported (not shared) memory; __heap_base is exported so that the caller's buffers start after the
// module's stack and data.

#include <wasm_simd128.h>

#define EXPORT(name) __attribute__((export_name(#name)))

static inline v128_t splat(float v) { return wasm_f32x4_splat(v); }

static inline float lane_sum(v128_t v) {
  return wasm_f32x4_extract_lane(v, 0) + wasm_f32x4_extract_lane(v, 1) + wasm_f32x4_extract_lane(v, 2) +
         wasm_f32x4_extract_lane(v, 3);
}

static inline float lane_max(v128_t v) {
  float a = wasm_f32x4_extract_lane(v, 0), b = wasm_f32x4_extract_lane(v, 1);
  float c = wasm_f32x4_extract_lane(v, 2), d = wasm_f32x4_extract_lane(v, 3);
  a = a > b ? a : b;
  c = c > d ? c : d;
  return a > c ? a : c;
}

// e^x, four lanes: x = n·ln2 + r (|r| ≤ ln2/2, ln2 split in two parts so that n·ln2 is exact enough), e^r by
// Cephes' expf polynomial (about 1 ulp), 2^n from the float's exponent bits. x is clamped to
// [-87.3, 88], so e^-inf gives about 1e-38 rather than 0 and e^+inf about 1.7e38 rather than inf.
static inline v128_t exp4(v128_t x) {
  x = wasm_f32x4_pmin(wasm_f32x4_pmax(x, splat(-87.3f)), splat(88.0f));
  v128_t n = wasm_f32x4_nearest(wasm_f32x4_mul(x, splat(1.44269504088896341f)));
  v128_t r = wasm_f32x4_sub(x, wasm_f32x4_mul(n, splat(0.693359375f)));
  r = wasm_f32x4_add(r, wasm_f32x4_mul(n, splat(2.12194440e-4f)));
  v128_t p = splat(1.9875691500e-4f);
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), splat(1.3981999507e-3f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), splat(8.3334519073e-3f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), splat(4.1665795894e-2f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), splat(1.6666665459e-1f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), splat(5.0000001201e-1f));
  p = wasm_f32x4_add(wasm_f32x4_add(wasm_f32x4_mul(wasm_f32x4_mul(p, r), r), r), splat(1.0f));
  v128_t scale = wasm_i32x4_shl(wasm_i32x4_add(wasm_i32x4_trunc_sat_f32x4(n), wasm_i32x4_splat(127)), 23);
  return wasm_f32x4_mul(p, scale);
}

static inline float exp1(float x) { return wasm_f32x4_extract_lane(exp4(splat(x)), 0); }

// The activations, each f(x) for four lanes; kind 0 = none, 1 = exact GELU, 2 = tanh GELU, 3 = SiLU.
//
// tanh GELU: ½x(1 + tanh u) = x·σ(2u) = x / (1 + e^(−2u)), u = √(2/π)(x + 0.044715x³).
static inline v128_t gelu_tanh4(v128_t x) {
  v128_t x3 = wasm_f32x4_mul(wasm_f32x4_mul(x, x), x);
  v128_t u = wasm_f32x4_mul(splat(0.7978845608028654f), wasm_f32x4_add(x, wasm_f32x4_mul(splat(0.044715f), x3)));
  return wasm_f32x4_div(x, wasm_f32x4_add(splat(1.0f), exp4(wasm_f32x4_mul(splat(-2.0f), u))));
}

// Exact GELU: ½x(1 + erf(x/√2)). With z = |x|/√2 and c = erfc(z) by Numerical Recipes' erfcc (Chebyshev
// fit, fractional error below 1.2e-7 everywhere): 1 + erf(x/√2) = 2 − c for x ≥ 0 and c for x < 0, so the
// negative tail keeps its relative accuracy (no 1 − 1 cancellation).
static inline v128_t gelu_erf4(v128_t x) {
  v128_t z = wasm_f32x4_mul(wasm_f32x4_abs(x), splat(0.70710678118654752f));
  v128_t t = wasm_f32x4_div(splat(1.0f), wasm_f32x4_add(splat(1.0f), wasm_f32x4_mul(splat(0.5f), z)));
  v128_t p = splat(0.17087277f);
  p = wasm_f32x4_add(wasm_f32x4_mul(p, t), splat(-0.82215223f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, t), splat(1.48851587f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, t), splat(-1.13520398f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, t), splat(0.27886807f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, t), splat(-0.18628806f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, t), splat(0.09678418f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, t), splat(0.37409196f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, t), splat(1.00002368f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, t), splat(-1.26551223f));
  v128_t c = wasm_f32x4_mul(t, exp4(wasm_f32x4_sub(p, wasm_f32x4_mul(z, z))));
  v128_t negative = wasm_f32x4_lt(x, splat(0.0f));
  v128_t onePlusErf = wasm_v128_bitselect(c, wasm_f32x4_sub(splat(2.0f), c), negative);
  return wasm_f32x4_mul(wasm_f32x4_mul(splat(0.5f), x), onePlusErf);
}

// SiLU: x·σ(x) = x / (1 + e^(−x)).
static inline v128_t silu4(v128_t x) {
  return wasm_f32x4_div(x, wasm_f32x4_add(splat(1.0f), exp4(wasm_f32x4_neg(x))));
}

static inline v128_t activate4(v128_t x, int kind) {
  if (kind == 1) return gelu_erf4(x);
  if (kind == 2) return gelu_tanh4(x);
  if (kind == 3) return silu4(x);
  return x;
}

// x[r, j] ← act(x[r, j] + bias[j]) for rows of cols values, rows ld apart; bias may be 0 (none).
EXPORT(bias_activate)
void bias_activate(float *x, const float *bias, int rows, int cols, int ld, int kind) {
  int vec = cols & ~3;
  for (int r = 0; r < rows; r++) {
    float *xr = x + (long)r * ld;
    if (bias) {
      for (int j = 0; j < vec; j += 4) {
        v128_t v = wasm_f32x4_add(wasm_v128_load(xr + j), wasm_v128_load(bias + j));
        wasm_v128_store(xr + j, activate4(v, kind));
      }
      for (int j = vec; j < cols; j++) xr[j] = wasm_f32x4_extract_lane(activate4(splat(xr[j] + bias[j]), kind), 0);
    } else {
      for (int j = 0; j < vec; j += 4) wasm_v128_store(xr + j, activate4(wasm_v128_load(xr + j), kind));
      for (int j = vec; j < cols; j++) xr[j] = wasm_f32x4_extract_lane(activate4(splat(xr[j]), kind), 0);
    }
  }
}

// SwiGLU: gate[i] ← silu(gate[i]) · up[i] for n values.
EXPORT(silu_mul)
void silu_mul(float *gate, const float *up, int n) {
  int vec = n & ~3;
  for (int i = 0; i < vec; i += 4) {
    wasm_v128_store(gate + i, wasm_f32x4_mul(silu4(wasm_v128_load(gate + i)), wasm_v128_load(up + i)));
  }
  for (int i = vec; i < n; i++) gate[i] = wasm_f32x4_extract_lane(silu4(splat(gate[i])), 0) * up[i];
}

// LayerNorm of each row: out = (x − mean) / √(var + eps) · gain + bias, with the population variance
// computed from the centred values (two passes); bias may be 0 (none). With rms set, RMSNorm instead:
// out = x / √(mean(x²) + eps) · gain (no centring, no bias).
EXPORT(norm_rows)
void norm_rows(const float *x, const float *gain, const float *bias, float *out, int rows, int cols, float eps,
               int rms) {
  int vec = cols & ~3;
  for (int r = 0; r < rows; r++) {
    const float *xr = x + (long)r * cols;
    float *o = out + (long)r * cols;
    float mean = 0.0f;
    if (!rms) {
      v128_t s4 = splat(0.0f);
      for (int j = 0; j < vec; j += 4) s4 = wasm_f32x4_add(s4, wasm_v128_load(xr + j));
      float s = lane_sum(s4);
      for (int j = vec; j < cols; j++) s += xr[j];
      mean = s / (float)cols;
    }
    v128_t m4 = splat(mean), q4 = splat(0.0f);
    for (int j = 0; j < vec; j += 4) {
      v128_t d = wasm_f32x4_sub(wasm_v128_load(xr + j), m4);
      q4 = wasm_f32x4_add(q4, wasm_f32x4_mul(d, d));
    }
    float q = lane_sum(q4);
    for (int j = vec; j < cols; j++) q += (xr[j] - mean) * (xr[j] - mean);
    float inv = 1.0f / __builtin_sqrtf(q / (float)cols + eps);
    v128_t i4 = splat(inv);
    for (int j = 0; j < vec; j += 4) {
      v128_t v = wasm_f32x4_mul(wasm_f32x4_mul(wasm_f32x4_sub(wasm_v128_load(xr + j), m4), i4), wasm_v128_load(gain + j));
      if (bias) v = wasm_f32x4_add(v, wasm_v128_load(bias + j));
      wasm_v128_store(o + j, v);
    }
    for (int j = vec; j < cols; j++) o[j] = (xr[j] - mean) * inv * gain[j] + (bias ? bias[j] : 0.0f);
  }
}

// Causal softmax of attention scores, in place: row i (rows ld apart) sees its first first + i + 1 values
// (at most ld); those become softmax probabilities, the rest 0.
EXPORT(causal_softmax)
void causal_softmax(float *s, int rows, int ld, int first) {
  for (int i = 0; i < rows; i++) {
    float *row = s + (long)i * ld;
    int valid = first + i + 1;
    if (valid > ld) valid = ld;
    int vec = valid & ~3;
    v128_t m4 = splat(-__builtin_inff());
    for (int j = 0; j < vec; j += 4) m4 = wasm_f32x4_pmax(m4, wasm_v128_load(row + j));
    float max = lane_max(m4);
    for (int j = vec; j < valid; j++) max = row[j] > max ? row[j] : max;
    v128_t mx = splat(max), s4 = splat(0.0f);
    for (int j = 0; j < vec; j += 4) {
      v128_t e = exp4(wasm_f32x4_sub(wasm_v128_load(row + j), mx));
      wasm_v128_store(row + j, e);
      s4 = wasm_f32x4_add(s4, e);
    }
    float sum = lane_sum(s4);
    for (int j = vec; j < valid; j++) {
      row[j] = exp1(row[j] - max);
      sum += row[j];
    }
    v128_t inv = splat(1.0f / sum);
    for (int j = 0; j < vec; j += 4) wasm_v128_store(row + j, wasm_f32x4_mul(wasm_v128_load(row + j), inv));
    float invs = 1.0f / sum;
    for (int j = vec; j < valid; j++) row[j] *= invs;
    for (int j = valid; j < ld; j++) row[j] = 0.0f;
  }
}

// The compiler may call memset and memcpy for loops it recognises; there is no libc.
void *memset(void *dest, int value, unsigned long count) {
  unsigned char *d = dest;
  while (count--) *d++ = (unsigned char)value;
  return dest;
}

void *memcpy(void *restrict dest, const void *restrict src, unsigned long count) {
  unsigned char *d = dest;
  const unsigned char *s = src;
  while (count--) *d++ = *s++;
  return dest;
}
