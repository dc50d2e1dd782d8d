// Element-wise kernels of saekit's fused SAE step, compiled to WebAssembly
// with SIMD (see tasks/build_wasm.ts). Each works in place on one block of
// rows that lives in the module's memory, between two BLAS products.
//
// Build: clang --target=wasm32 -O3 -msimd128 -fassociative-math -fno-signed-zeros -fno-trapping-math
// -nostdlib (no libc is used). Column sums are float: the caller adds each
// block's sums (a few hundred rows) into double accumulators.

#include <wasm_simd128.h>

#define EXPORT(name) __attribute__((export_name(#name)))

// xbar[r, i] = x[r, i] - bias[i]; colsum[i] += x[r, i]; colsq[i] += x[r, i]^2.
EXPORT(center_rows)
void center_rows(const float *restrict x, const float *restrict bias, float *restrict xbar, int rows, int cols,
                 float *restrict colsum, float *restrict colsq) {
  for (int r = 0; r < rows; r++) {
    const float *xr = x + (long)r * cols;
    float *out = xbar + (long)r * cols;
    for (int i = 0; i < cols; i++) {
      float v = xr[i];
      out[i] = v - bias[i];
      colsum[i] += v;
      colsq[i] += v * v;
    }
  }
}

// f[r, j] = max(p[r, j] + bias[j], 0) in place; l1[r] = sum_j f; l0[r] = count_j (f > 0); fired[j] += (f > 0).
EXPORT(relu_bias)
void relu_bias(float *restrict p, const float *restrict bias, int rows, int cols, float *restrict l1,
               float *restrict l0, int *restrict fired) {
  for (int r = 0; r < rows; r++) {
    float *pr = p + (long)r * cols;
    float abs = 0.0f;
    int count = 0;
    for (int j = 0; j < cols; j++) {
      float v = pr[j] + bias[j];
      int on = v > 0.0f;
      v = on ? v : 0.0f;
      pr[j] = v;
      abs += v;
      count += on;
      fired[j] += on;
    }
    l1[r] = abs;
    l0[r] = (float)count;
  }
}

// The k-th largest of v[0..n) (1 ≤ k ≤ n): a min-heap of the k largest values seen so far, in heap[0..k).
// Most values lose one comparison against the heap's minimum, so a row costs about n comparisons.
static float kth_largest(const float *v, int n, int k, float *heap) {
  for (int i = 0; i < k; i++) {
    int c = i;
    heap[c] = v[i];
    while (c > 0 && heap[(c - 1) / 2] > heap[c]) {
      float t = heap[c];
      heap[c] = heap[(c - 1) / 2];
      heap[(c - 1) / 2] = t;
      c = (c - 1) / 2;
    }
  }
  for (int i = k; i < n; i++) {
    if (!(v[i] > heap[0])) continue;
    heap[0] = v[i];
    int c = 0;
    for (;;) {
      int l = 2 * c + 1, r = l + 1, m = c;
      if (l < k && heap[l] < heap[m]) m = l;
      if (r < k && heap[r] < heap[m]) m = r;
      if (m == c) break;
      float t = heap[c];
      heap[c] = heap[m];
      heap[m] = t;
      c = m;
    }
  }
  return heap[0];
}

// TopK: f[r, j] = p[r, j] + bias[j] where that is positive and among the k largest of its row (ties at the
// k-th value all kept), else 0; l1, l0 and fired as relu_bias. scratch holds at least k floats.
EXPORT(topk_bias)
void topk_bias(float *restrict p, const float *restrict bias, int rows, int cols, int k, float *restrict l1,
               float *restrict l0, int *restrict fired, float *restrict scratch) {
  for (int r = 0; r < rows; r++) {
    float *pr = p + (long)r * cols;
    for (int j = 0; j < cols; j++) pr[j] += bias[j];
    float kth = kth_largest(pr, cols, k, scratch);
    float abs = 0.0f;
    int count = 0;
    for (int j = 0; j < cols; j++) {
      float v = pr[j];
      int on = (v > 0.0f) & (v >= kth);
      v = on ? v : 0.0f;
      pr[j] = v;
      abs += v;
      count += on;
      fired[j] += on;
    }
    l1[r] = abs;
    l0[r] = (float)count;
  }
}

// xhat += bias; e = xhat - x; dx = scale * e; l2[r] = mean_i e^2; colsum[i] += dx.
EXPORT(reconstruction_grad)
void reconstruction_grad(float *restrict xhat, const float *restrict x, const float *restrict bias, float *restrict dx,
                         int rows, int cols, float scale, float *restrict l2, float *restrict colsum) {
  for (int r = 0; r < rows; r++) {
    float *hr = xhat + (long)r * cols;
    const float *xr = x + (long)r * cols;
    float *dr = dx + (long)r * cols;
    float se = 0.0f;
    for (int i = 0; i < cols; i++) {
      float v = hr[i] + bias[i];
      hr[i] = v;
      float e = v - xr[i];
      se += e * e;
      float g = e * scale;
      dr[i] = g;
      colsum[i] += g;
    }
    l2[r] = se / (float)cols;
  }
}

// dpre = (dpre + add) * (f > 0) in place; colsum[j] += dpre.
EXPORT(relu_grad)
void relu_grad(float *restrict dpre, const float *restrict f, int rows, int cols, float add, float *restrict colsum) {
  for (int r = 0; r < rows; r++) {
    float *dr = dpre + (long)r * cols;
    const float *fr = f + (long)r * cols;
    for (int j = 0; j < cols; j++) {
      float d = dr[j] + add;
      float v = fr[j] > 0.0f ? d : 0.0f;
      dr[j] = v;
      colsum[j] += v;
    }
  }
}

// exp(x) to about 2e-7 relative, four lanes at a time: x = n·ln2 + r with
// |r| ≤ ln2/2, e^r by its Taylor polynomial of degree 6, 2^n by building the
// float's exponent bits. Inputs below -87 (including -inf) give about 1e-38.
static inline v128_t exp4(v128_t x) {
  x = wasm_f32x4_pmax(wasm_f32x4_pmin(x, wasm_f32x4_splat(88.0f)), wasm_f32x4_splat(-87.0f));
  v128_t n = wasm_f32x4_nearest(wasm_f32x4_mul(x, wasm_f32x4_splat(1.4426950408889634f)));
  v128_t r = wasm_f32x4_sub(wasm_f32x4_sub(x, wasm_f32x4_mul(n, wasm_f32x4_splat(0.693145751953125f))),
                            wasm_f32x4_mul(n, wasm_f32x4_splat(1.4286068203094172e-06f)));
  v128_t p = wasm_f32x4_splat(0.0013888889f);
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), wasm_f32x4_splat(0.008333334f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), wasm_f32x4_splat(0.041666668f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), wasm_f32x4_splat(0.16666667f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), wasm_f32x4_splat(0.5f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), wasm_f32x4_splat(1.0f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), wasm_f32x4_splat(1.0f));
  v128_t bits = wasm_i32x4_shl(wasm_i32x4_add(wasm_i32x4_trunc_sat_f32x4(n), wasm_i32x4_splat(127)), 23);
  return wasm_f32x4_mul(p, bits);
}

static inline float exp1(float x) {
  return wasm_f32x4_extract_lane(exp4(wasm_f32x4_splat(x)), 0);
}

// TopK, sparse decoder: xhat[r] = sum over the non-zero f[r, j] of f[r, j] * wdec[j] (no bias).
EXPORT(sparse_decode)
void sparse_decode(const float *restrict f, const float *restrict wdec, float *restrict xhat, int rows, int m,
                   int n) {
  for (int r = 0; r < rows; r++) {
    const float *fr = f + (long)r * m;
    float *out = xhat + (long)r * n;
    for (int i = 0; i < n; i++) out[i] = 0.0f;
    for (int j = 0; j < m; j++) {
      float v = fr[j];
      if (v == 0.0f) continue;
      const float *w = wdec + (long)j * n;
      for (int i = 0; i < n; i++) out[i] += v * w[i];
    }
  }
}

// TopK, sparse backward, at the non-zero f[r, j] only:
//   d = dx[r] · wdec[j] + add    (∂L/∂pre; zero elsewhere)
//   colsum[j] += d;  gwdec[j] += f[r, j] * dx[r];  gwenc_t[j] += d * xbar[r]
EXPORT(sparse_backward)
void sparse_backward(const float *restrict f, const float *restrict dx, const float *restrict xbar,
                     const float *restrict wdec, float *restrict gwdec, float *restrict gwenc_t, int rows, int m,
                     int n, float add, float *restrict colsum) {
  for (int r = 0; r < rows; r++) {
    const float *fr = f + (long)r * m;
    const float *dr = dx + (long)r * n;
    const float *xr = xbar + (long)r * n;
    for (int j = 0; j < m; j++) {
      float v = fr[j];
      if (v == 0.0f) continue;
      const float *w = wdec + (long)j * n;
      float dot = 0.0f;
      for (int i = 0; i < n; i++) dot += dr[i] * w[i];
      float d = dot + add;
      colsum[j] += d;
      float *gd = gwdec + (long)j * n;
      float *ge = gwenc_t + (long)j * n;
      for (int i = 0; i < n; i++) {
        gd[i] += v * dr[i];
        ge[i] += d * xr[i];
      }
    }
  }
}

// Softmax of each row of x [rows, cols] into out.
EXPORT(softmax_rows)
void softmax_rows(const float *restrict x, float *restrict out, int rows, int cols) {
  int vec = cols & ~3;
  for (int r = 0; r < rows; r++) {
    const float *xr = x + (long)r * cols;
    float *o = out + (long)r * cols;
    v128_t m4 = wasm_f32x4_splat(-__builtin_inff());
    for (int j = 0; j < vec; j += 4) m4 = wasm_f32x4_pmax(m4, wasm_v128_load(xr + j));
    float max = -__builtin_inff();
    for (int k = 0; k < 4; k++) {
      float v = k == 0   ? wasm_f32x4_extract_lane(m4, 0)
                : k == 1 ? wasm_f32x4_extract_lane(m4, 1)
                : k == 2 ? wasm_f32x4_extract_lane(m4, 2)
                         : wasm_f32x4_extract_lane(m4, 3);
      max = v > max ? v : max;
    }
    for (int j = vec; j < cols; j++) max = xr[j] > max ? xr[j] : max;
    v128_t mx = wasm_f32x4_splat(max), s4 = wasm_f32x4_splat(0.0f);
    for (int j = 0; j < vec; j += 4) {
      v128_t e = exp4(wasm_f32x4_sub(wasm_v128_load(xr + j), mx));
      wasm_v128_store(o + j, e);
      s4 = wasm_f32x4_add(s4, e);
    }
    float sum = wasm_f32x4_extract_lane(s4, 0) + wasm_f32x4_extract_lane(s4, 1) + wasm_f32x4_extract_lane(s4, 2) +
                wasm_f32x4_extract_lane(s4, 3);
    for (int j = vec; j < cols; j++) {
      float e = exp1(xr[j] - max);
      o[j] = e;
      sum += e;
    }
    float inv = 1.0f / sum;
    for (int j = 0; j < cols; j++) o[j] *= inv;
  }
}

// The compiler may call memset for zero-length loops; there is no libc.
void *memset(void *dest, int value, unsigned long count) {
  unsigned char *d = dest;
  while (count--) *d++ = (unsigned char)value;
  return dest;
}
