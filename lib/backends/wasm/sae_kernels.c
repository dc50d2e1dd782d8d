// Kernels of saekit's fused SAE step, compiled to WebAssembly with SIMD (see
// tasks/build_wasm.ts). The element-wise ones work in place on one block of
// rows that lives in the module's memory, between two BLAS products; the TopK
// ones (also BatchTopK's and Matryoshka's, with their batch-wide selection and
// nested prefixes, and AuxK's) do everything after the encoder product on lists
// of active features.
//
// Build: clang --target=wasm32 -O3 -msimd128 -matomics -mbulk-memory -fassociative-math -fno-signed-zeros
// -fno-trapping-math -nostdlib (no libc is used), linked with a shared imported memory so that a worker
// thread can run kernels on the same buffers. Column sums are float: the caller adds each block's sums
// (a few hundred rows) into double accumulators.

#include <wasm_simd128.h>

#define EXPORT(name) __attribute__((export_name(#name)))

// xbar[r, i] = x[r, i] - bias[i] (rows of xbar ld apart); colsum[i] += x[r, i]; colsq[i] += x[r, i]^2.
static void center_rows_ld(const float *restrict x, const float *restrict bias, float *restrict xbar, int rows,
                           int cols, int ld, float *restrict colsum, float *restrict colsq) {
  for (int r = 0; r < rows; r++) {
    const float *xr = x + (long)r * cols;
    float *out = xbar + (long)r * ld;
    for (int i = 0; i < cols; i++) {
      float v = xr[i];
      out[i] = v - bias[i];
      colsum[i] += v;
      colsq[i] += v * v;
    }
  }
}

// xbar[r, i] = x[r, i] - bias[i]; colsum[i] += x[r, i]; colsq[i] += x[r, i]^2.
EXPORT(center_rows)
void center_rows(const float *restrict x, const float *restrict bias, float *restrict xbar, int rows, int cols,
                 float *restrict colsum, float *restrict colsq) {
  center_rows_ld(x, bias, xbar, rows, cols, cols, colsum, colsq);
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

// ---- TopK: the step at the active features only ----------------------------------------------------------
//
// A row's active features are kept as a list of entries (feature index, f value, ∂L/∂pre); row r's entries
// are [rs[r], re[r]) of the entry arrays. Only the encoder product is dense. The rows of each block are
// split between two lanes, each with its own share of the entry arrays and its own scratch, so that two
// threads can run them at once on this module's shared memory; the weight gradients are split by feature.
// (None of these functions may use the shadow stack, which the threads would share: no local arrays.)

// A lane's buffers and sizes; sae_wasm.ts writes the same fields in this order (LANE_FIELDS).
typedef struct {
  int m, n, k, batch;
  const float *bias;  // bEnc [m]
  const float *bdec;  // [n]
  const float *wdec;  // [m, n]
  int *rs, *re;       // [batch]
  int *idx;           // the entry arrays, shared by the lanes
  float *val, *dval;
  int cursor, end;    // this lane's next free entry and the end of its share
  int *fired;         // [m], this lane's count
  float *colsum;      // [n], this lane's column sums of dx
  int *cand_idx;      // [m] scratch
  float *cand_val;    // [m] scratch
  float *heap;        // [m] scratch
  float *dx;          // ∂L/∂x̂ of every row [batch, n] (row stride ld)
  float *xbar;        // x − bDec of every row [batch, n] (row stride ld)
  int *start;         // [m + 1] scratch of the feature sort
  int *crow;          // the entries sorted by feature: row offset, f value, ∂L/∂pre (as long as all entries)
  float *cval, *cd;
  float *gwdec;       // [m, n]
  float *gwenc;       // [n, m]
  float *gbenc;       // [m]
  const float *x;     // the component's inputs [batch, n]
  double *sumx, *sqx; // [n], this lane's column sums of x and of x²
  float *tsum, *tsq;  // [n] scratch
  int ld;             // the row stride of dx and xbar, n plus a little: the weight gradients read short pieces of
                      // many rows, which with a stride of a power of two would crowd into a few cache sets
  // Nested dictionaries (Matryoshka; one prefix, [m] with weight 1, for TopK and BatchTopK):
  int nseg;           // T, the number of prefixes
  const int *ends;    // [T] their ends, increasing, the last m
  const float *wts;   // [T] the weights of their reconstruction losses
  float *xs;          // [T, n] scratch: one row's partial reconstructions
  int dxstride;       // floats between the ∂L/∂x̂_t arrays of successive prefixes in dx (batch · ld)
  // BatchTopK's selection over the whole batch:
  int *hist;          // [32768] this lane's counts of positive values by their top 16 bits (sign, exponent, 7 bits)
  int *hist2;         // [65536] this lane's counts by the low 16 bits, within one top bin
  int lbin;           // this lane's lower bound of the threshold's top bin: bins below it are not counted
  int cntge;          // this lane's count of values in bins ≥ lbin
  int target;         // k · batch, the number of values kept (ties at the threshold aside)
  float theta;        // the threshold: the positive values ≥ theta are kept
  float vmin;         // the smallest value this lane kept (+inf when none)
  // JumpReLU's selection by a threshold per feature, and its straight-through band:
  const float *thr;   // [m] θ
  float eps;          // the bandwidth ε of the rectangle kernel [|u| < ½], u = (v − θ)/ε
  float *bcnt;        // [m] this lane's count of the values in the band
  float *bsum;        // [m] this lane's sum of ∂L/∂f over them
  int *bidx;          // [m] scratch: one row's features in the band that are not active
  const float *fadd;  // [m] or null: added to ∂L/∂pre at each entry of feature j (April ReLU: sλ‖wDec_j‖)
  const float *wl1;   // [m] or null: the penalty per row is Σ f_j · wl1[j] (April ReLU: ‖wDec_j‖), else the count
  // Gated SAEs' magnitude path (bcnt and bsum hold this lane's Σ ∂L/∂πmag and Σ ∂L/∂πmag · z · exp(rMag)):
  const float *mscale; // [m] exp(rMag)
  const float *mbias;  // [m] bMag
  float *gsum;         // [m] this lane's Σ ∂L/∂πgate
} lane_t;

// xbar = x − bdec for `rows` rows from row0, adding the column sums of x and x² to the lane's (in float over
// 256 rows at a time, then in double).
EXPORT(topk_center)
void topk_center(lane_t *restrict L, int row0, int rows) {
  const int n = L->n;
  for (int r = 0; r < rows; r += 256) {
    int count = rows - r < 256 ? rows - r : 256;
    for (int i = 0; i < n; i++) L->tsum[i] = L->tsq[i] = 0.0f;
    long row = row0 + r;
    center_rows_ld(L->x + row * n, L->bdec, L->xbar + row * L->ld, count, n, L->ld, L->tsum, L->tsq);
    for (int i = 0; i < n; i++) {
      L->sumx[i] += L->tsum[i];
      L->sqx[i] += L->tsq[i];
    }
  }
}

static inline float hmax4(v128_t v) {
  float a = wasm_f32x4_extract_lane(v, 0), b = wasm_f32x4_extract_lane(v, 1);
  float c = wasm_f32x4_extract_lane(v, 2), d = wasm_f32x4_extract_lane(v, 3);
  a = a > b ? a : b;
  c = c > d ? c : d;
  return a > c ? a : c;
}

static inline float hsum4(v128_t v) {
  return (wasm_f32x4_extract_lane(v, 0) + wasm_f32x4_extract_lane(v, 1)) +
         (wasm_f32x4_extract_lane(v, 2) + wasm_f32x4_extract_lane(v, 3));
}

// The positive values v = p + bias of a row that are ≥ t, in feature order, into cand_idx/cand_val; their count.
static int collect(const float *restrict p, const float *restrict bias, int cols, float t, int *restrict cand_idx,
                   float *restrict cand_val) {
  int vec = cols & ~3, count = 0;
  v128_t t4 = wasm_f32x4_splat(t), zero = wasm_f32x4_splat(0.0f);
  for (int j = 0; j < vec; j += 4) {
    v128_t v = wasm_f32x4_add(wasm_v128_load(p + j), wasm_v128_load(bias + j));
    v128_t on = wasm_v128_and(wasm_f32x4_ge(v, t4), wasm_f32x4_gt(v, zero));
    if (!wasm_v128_any_true(on)) continue;
    unsigned bits = wasm_i32x4_bitmask(on);
    while (bits) {
      int b = __builtin_ctz(bits);
      cand_idx[count] = j + b;
      cand_val[count] = p[j + b] + bias[j + b];
      count++;
      bits &= bits - 1;
    }
  }
  for (int j = vec; j < cols; j++) {
    float v = p[j] + bias[j];
    if (v >= t && v > 0.0f) {
      cand_idx[count] = j;
      cand_val[count] = v;
      count++;
    }
  }
  return count;
}

// A lower bound of the k-th largest of v = p + bias: split the row into k groups; every group holds a value
// equal to its maximum, so at least k values are ≥ the smallest group maximum. -inf when the row has fewer
// than 4k values.
static float kth_lower_bound(const float *restrict p, const float *restrict bias, int cols, int k) {
  int vec = cols & ~3, nvec = cols >> 2;
  if (nvec < k) return -__builtin_inff();
  float tmin = __builtin_inff();
  int j = 0;
  for (int g = 0; g < k; g++) {
    int end = (int)(((long long)(g + 1) * nvec) / k) * 4;
    v128_t mx = wasm_f32x4_splat(-__builtin_inff());
    for (; j < end; j += 4) mx = wasm_f32x4_pmax(mx, wasm_f32x4_add(wasm_v128_load(p + j), wasm_v128_load(bias + j)));
    float gm = hmax4(mx);
    if (g == k - 1) {
      for (int i = vec; i < cols; i++) {
        float v = p[i] + bias[i];
        gm = v > gm ? v : gm;
      }
    }
    tmin = gm < tmin ? gm : tmin;
  }
  return tmin;
}

// One row's entries, [e0, e1) in feature order: the partial reconstructions of every prefix (the last one
// into hr, the others into the lane's xs), the residuals and their suffix sums, the losses, and ∂L/∂pre at
// each entry. With prefixes t = 0…T−1 (ends[t], weights wts[t]) and c = scale:
//   x̂_t = Σ_{e: idx[e] < ends[t]} val[e] · wdec[idx[e]] + bdec   (x̂_{T−1} into hr)
//   R_t = wts[t] · c · (x̂_t − x);  Q_t = Σ_{u ≥ t} R_u  into dq + t · dxstride;  colsum += Q_0
//   l2 = mean (x̂_{T−1} − x)²;  rec = Σ_t wts[t] · mean (x̂_t − x)²   (rec may be null)
//   dval[e] = Q_{t(e)} · wdec[idx[e]] + add, with t(e) the first prefix that contains idx[e]
// With one prefix of weight 1 this is TopK's arithmetic exactly: x̂ = Σ + bdec, dx = scale · (x̂ − x).
static void decode_row(lane_t *restrict L, int e0, int e1, const float *restrict xr, float *restrict hr,
                       float *restrict dq, float *restrict l2, float *restrict rec, float scale, float add) {
  const int n = L->n, T = L->nseg;
  const int *restrict idx = L->idx;
  const float *restrict val = L->val;
  const float *restrict wdec = L->wdec;
  const float *restrict bdec = L->bdec;
  const int *restrict ends = L->ends;
  float *restrict xs = L->xs;
  int c = 0;
  if (T == 1) {
    // One prefix: every entry in one pass (the loops TopK has always run, so its sums keep their order).
    for (; c + 32 <= n; c += 32) {
      v128_t a0 = wasm_f32x4_splat(0.0f), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
      for (int e = e0; e < e1; e++) {
        const float *w = wdec + (long)idx[e] * n + c;
        v128_t s = wasm_f32x4_splat(val[e]);
        a0 = wasm_f32x4_add(a0, wasm_f32x4_mul(s, wasm_v128_load(w)));
        a1 = wasm_f32x4_add(a1, wasm_f32x4_mul(s, wasm_v128_load(w + 4)));
        a2 = wasm_f32x4_add(a2, wasm_f32x4_mul(s, wasm_v128_load(w + 8)));
        a3 = wasm_f32x4_add(a3, wasm_f32x4_mul(s, wasm_v128_load(w + 12)));
        a4 = wasm_f32x4_add(a4, wasm_f32x4_mul(s, wasm_v128_load(w + 16)));
        a5 = wasm_f32x4_add(a5, wasm_f32x4_mul(s, wasm_v128_load(w + 20)));
        a6 = wasm_f32x4_add(a6, wasm_f32x4_mul(s, wasm_v128_load(w + 24)));
        a7 = wasm_f32x4_add(a7, wasm_f32x4_mul(s, wasm_v128_load(w + 28)));
      }
      wasm_v128_store(hr + c, a0);
      wasm_v128_store(hr + c + 4, a1);
      wasm_v128_store(hr + c + 8, a2);
      wasm_v128_store(hr + c + 12, a3);
      wasm_v128_store(hr + c + 16, a4);
      wasm_v128_store(hr + c + 20, a5);
      wasm_v128_store(hr + c + 24, a6);
      wasm_v128_store(hr + c + 28, a7);
    }
    for (; c + 4 <= n; c += 4) {
      v128_t a = wasm_f32x4_splat(0.0f);
      for (int e = e0; e < e1; e++) {
        a = wasm_f32x4_add(a, wasm_f32x4_mul(wasm_f32x4_splat(val[e]), wasm_v128_load(wdec + (long)idx[e] * n + c)));
      }
      wasm_v128_store(hr + c, a);
    }
    for (; c < n; c++) {
      float a = 0.0f;
      for (int e = e0; e < e1; e++) a += val[e] * wdec[(long)idx[e] * n + c];
      hr[c] = a;
    }
  }
  for (; c + 32 <= n; c += 32) {
    v128_t a0 = wasm_f32x4_splat(0.0f), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
    int e = e0;
    for (int t = 0; t < T; t++) {
      int end = ends[t];
      for (; e < e1 && idx[e] < end; e++) {
        const float *w = wdec + (long)idx[e] * n + c;
        v128_t s = wasm_f32x4_splat(val[e]);
        a0 = wasm_f32x4_add(a0, wasm_f32x4_mul(s, wasm_v128_load(w)));
        a1 = wasm_f32x4_add(a1, wasm_f32x4_mul(s, wasm_v128_load(w + 4)));
        a2 = wasm_f32x4_add(a2, wasm_f32x4_mul(s, wasm_v128_load(w + 8)));
        a3 = wasm_f32x4_add(a3, wasm_f32x4_mul(s, wasm_v128_load(w + 12)));
        a4 = wasm_f32x4_add(a4, wasm_f32x4_mul(s, wasm_v128_load(w + 16)));
        a5 = wasm_f32x4_add(a5, wasm_f32x4_mul(s, wasm_v128_load(w + 20)));
        a6 = wasm_f32x4_add(a6, wasm_f32x4_mul(s, wasm_v128_load(w + 24)));
        a7 = wasm_f32x4_add(a7, wasm_f32x4_mul(s, wasm_v128_load(w + 28)));
      }
      float *o = (t == T - 1 ? hr : xs + (long)t * n) + c;
      wasm_v128_store(o, a0);
      wasm_v128_store(o + 4, a1);
      wasm_v128_store(o + 8, a2);
      wasm_v128_store(o + 12, a3);
      wasm_v128_store(o + 16, a4);
      wasm_v128_store(o + 20, a5);
      wasm_v128_store(o + 24, a6);
      wasm_v128_store(o + 28, a7);
    }
  }
  for (; c + 4 <= n; c += 4) {
    v128_t a = wasm_f32x4_splat(0.0f);
    int e = e0;
    for (int t = 0; t < T; t++) {
      for (; e < e1 && idx[e] < ends[t]; e++) {
        a = wasm_f32x4_add(a, wasm_f32x4_mul(wasm_f32x4_splat(val[e]), wasm_v128_load(wdec + (long)idx[e] * n + c)));
      }
      wasm_v128_store((t == T - 1 ? hr : xs + (long)t * n) + c, a);
    }
  }
  for (; c < n; c++) {
    float a = 0.0f;
    int e = e0;
    for (int t = 0; t < T; t++) {
      for (; e < e1 && idx[e] < ends[t]; e++) a += val[e] * wdec[(long)idx[e] * n + c];
      (t == T - 1 ? hr : xs + (long)t * n)[c] = a;
    }
  }
  // From the last prefix down: Q_t = R_t + Q_{t+1}.
  float recsum = 0.0f;
  for (int t = T - 1; t >= 0; t--) {
    float *src = t == T - 1 ? hr : xs + (long)t * n;
    float *q = dq + (long)t * L->dxstride;
    const float *qn = q + L->dxstride;
    float st = L->wts[t] * scale;
    float se = 0.0f;
    if (t == T - 1) {
      for (int i = 0; i < n; i++) {
        float v = src[i] + bdec[i];
        src[i] = v;
        float d = v - xr[i];
        se += d * d;
        q[i] = d * st;
      }
      *l2 = se / (float)n;
    } else {
      for (int i = 0; i < n; i++) {
        float d = (src[i] + bdec[i]) - xr[i];
        se += d * d;
        q[i] = d * st + qn[i];
      }
    }
    recsum += L->wts[t] * (se / (float)n);
  }
  if (rec) *rec = recsum;
  float *restrict colsum = L->colsum;
  for (int i = 0; i < n; i++) colsum[i] += dq[i];
  int vec = n & ~15;
  float *restrict dval = L->dval;
  int t = 0;
  const float *dr = dq;
  for (int e = e0; e < e1; e++) {
    while (idx[e] >= ends[t]) {
      t++;
      dr = dq + (long)t * L->dxstride;
    }
    const float *w = wdec + (long)idx[e] * n;
    v128_t s0 = wasm_f32x4_splat(0.0f), s1 = s0, s2 = s0, s3 = s0;
    for (int i = 0; i < vec; i += 16) {
      s0 = wasm_f32x4_add(s0, wasm_f32x4_mul(wasm_v128_load(dr + i), wasm_v128_load(w + i)));
      s1 = wasm_f32x4_add(s1, wasm_f32x4_mul(wasm_v128_load(dr + i + 4), wasm_v128_load(w + i + 4)));
      s2 = wasm_f32x4_add(s2, wasm_f32x4_mul(wasm_v128_load(dr + i + 8), wasm_v128_load(w + i + 8)));
      s3 = wasm_f32x4_add(s3, wasm_f32x4_mul(wasm_v128_load(dr + i + 12), wasm_v128_load(w + i + 12)));
    }
    float dot = hsum4(wasm_f32x4_add(wasm_f32x4_add(s0, s1), wasm_f32x4_add(s2, s3)));
    for (int i = vec; i < n; i++) dot += dr[i] * w[i];
    dval[e] = dot + add;
  }
}

// TopK selection with the encoder bias, then the decoder and the backward pass up to ∂L/∂pre, for `rows`
// rows of pre-activations p [rows, m] (global rows row0…; x, xhat, l1, l0, l2 point at the first of them).
//
// Selection: for each row, the entries of the positive v = p + bias that are among the row's k largest (ties
// at the k-th value all kept), in feature order, go to the lane's share of the entry arrays; l1 = sum of the
// kept values, l0 = their count, fired[j] += 1 for each. Stops before a row whose entries might not fit in
// the lane's share. One pass collects the candidates: the positive values ≥ a guess g of the row's k-th
// largest, namely the 2k-th largest of an earlier row. When there are at least k of them, the k-th largest
// is ≥ g and a k-element min-heap finds it among the candidates; when g ≤ 0, the candidates are all the
// positive values, and with fewer than k of them all are kept. Otherwise a pass finds a lower bound of the
// k-th largest (kth_lower_bound) and the candidates are collected again with it. The guess is renewed after
// such a fallback, and when it lets through more than 4k candidates.
//
// Then, for each selected row, decode_row (its decoder rows are read twice, the second time from cache):
//   xhat = Σ_e val[e] · wdec[idx[e]] + bdec;  e = xhat − x;  dx = scale · e;  l2 = mean e²;  colsum += dx;
//   dval[e] = dx · wdec[idx[e]] + add   (∂L/∂pre at the entry)
// Returns the number of rows done.
EXPORT(topk_rows)
int topk_rows(lane_t *restrict L, const float *restrict p, const float *restrict x, float *restrict xhat,
              float *restrict l1, float *restrict l0, float *restrict l2, int row0, int rows, float scale, float add) {
  const int m = L->m, k = L->k;
  const float *restrict bias = L->bias;
  int *restrict cand_idx = L->cand_idx;
  float *restrict cand_val = L->cand_val;
  int *restrict idx = L->idx;
  float *restrict val = L->val;
  float guess = -__builtin_inff();
  int k2 = 2 * k < m ? 2 * k : m;
  int done = 0;
  for (; done < rows; done++) {
    const float *pr = p + (long)done * m;
    int count = collect(pr, bias, m, guess, cand_idx, cand_val);
    int renew = count > 4 * k;
    if (count < k && guess > 0.0f) {
      count = collect(pr, bias, m, kth_lower_bound(pr, bias, m, k), cand_idx, cand_val);
      renew = 1;
    }
    int e = L->cursor;
    if (e + count > L->end) break;
    if (renew) guess = count >= k2 ? kth_largest(cand_val, count, k2, L->heap) : -__builtin_inff();
    // Fewer than k positive candidates: the k-th largest is ≤ 0 and every positive value is kept.
    float kth = count > k ? kth_largest(cand_val, count, k, L->heap) : 0.0f;
    float abs = 0.0f;
    int kept = 0;
    for (int c = 0; c < count; c++) {
      float v = cand_val[c];
      if (!(v >= kth)) continue;
      int j = cand_idx[c];
      idx[e + kept] = j;
      val[e + kept] = v;
      abs += v;
      L->fired[j] += 1;
      kept++;
    }
    L->rs[row0 + done] = e;
    L->re[row0 + done] = e + kept;
    L->cursor = e + kept;
    l1[done] = abs;
    l0[done] = (float)kept;
  }
  for (int r = 0; r < done; r++) {
    decode_row(L, L->rs[row0 + r], L->re[row0 + r], x + (long)r * L->n, xhat + (long)r * L->n,
               L->dx + (long)(row0 + r) * L->ld, l2 + r, 0, scale, add);
  }
  return done;
}

// ---- BatchTopK: one threshold for the whole batch ------------------------------------------------------
//
// The k · batch largest positive values v = p + bias of the batch are kept (all of those equal to the
// smallest kept one too). The threshold is found without sorting: a histogram of the positive values by the
// top 16 bits of their float encoding (which orders positive floats as integers) gives the bin of the
// (k · batch)-th largest; a second pass counts the values of that bin by their low 16 bits, which gives the
// value itself. The first pass keeps a running lower bound: once a lane has counted k · batch values in
// the bins ≥ lbin + 1, every value below bin lbin + 1 is smaller than the threshold (a subset's
// (k · batch)-th largest is at most the whole batch's), so the lane raises lbin and no longer counts
// them; every value in the bins ≥ the final lbin was counted, so the two lanes' histograms summed are exact
// from max(lbin) up, which holds the threshold.

static inline unsigned float_bits(float v) {
  union {
    float f;
    unsigned u;
  } c;
  c.f = v;
  return c.u;
}

// The first pass over `rows` rows of p [rows, m]: counts, by their top 16 bits, the positive values v = p +
// bias in bins ≥ lbin, raising lbin after each row.
EXPORT(batchtopk_hist)
void batchtopk_hist(lane_t *restrict L, const float *restrict p, int rows) {
  const int m = L->m, vec = m & ~3;
  const float *restrict bias = L->bias;
  int *restrict hist = L->hist;
  int lbin = L->lbin, cnt = L->cntge;
  const int target = L->target;
  v128_t zero = wasm_f32x4_splat(0.0f);
  for (int r = 0; r < rows; r++) {
    const float *pr = p + (long)r * m;
    v128_t lo = wasm_i32x4_splat(lbin << 16);
    for (int j = 0; j < vec; j += 4) {
      v128_t v = wasm_f32x4_add(wasm_v128_load(pr + j), wasm_v128_load(bias + j));
      v128_t on = wasm_v128_and(wasm_f32x4_gt(v, zero), wasm_i32x4_ge(v, lo));
      if (!wasm_v128_any_true(on)) continue;
      unsigned bits = wasm_i32x4_bitmask(on);
      while (bits) {
        int b = __builtin_ctz(bits);
        hist[float_bits(pr[j + b] + bias[j + b]) >> 16]++;
        cnt++;
        bits &= bits - 1;
      }
    }
    for (int j = vec; j < m; j++) {
      float v = pr[j] + bias[j];
      if (v > 0.0f && (int)float_bits(v) >= (lbin << 16)) {
        hist[float_bits(v) >> 16]++;
        cnt++;
      }
    }
    while (cnt - hist[lbin] >= target) {
      cnt -= hist[lbin];
      lbin++;
    }
  }
  L->lbin = lbin;
  L->cntge = cnt;
}

// The second pass over `rows` rows: counts the positive values v = p + bias of top bin `bin` by their low 16
// bits.
EXPORT(batchtopk_hist2)
void batchtopk_hist2(lane_t *restrict L, const float *restrict p, int rows, int bin) {
  const int m = L->m, vec = m & ~3;
  const float *restrict bias = L->bias;
  int *restrict hist2 = L->hist2;
  v128_t zero = wasm_f32x4_splat(0.0f), want = wasm_i32x4_splat(bin);
  for (int r = 0; r < rows; r++) {
    const float *pr = p + (long)r * m;
    for (int j = 0; j < vec; j += 4) {
      v128_t v = wasm_f32x4_add(wasm_v128_load(pr + j), wasm_v128_load(bias + j));
      v128_t on = wasm_v128_and(wasm_f32x4_gt(v, zero), wasm_i32x4_eq(wasm_u32x4_shr(v, 16), want));
      if (!wasm_v128_any_true(on)) continue;
      unsigned bits = wasm_i32x4_bitmask(on);
      while (bits) {
        int b = __builtin_ctz(bits);
        hist2[float_bits(pr[j + b] + bias[j + b]) & 0xffff]++;
        bits &= bits - 1;
      }
    }
    for (int j = vec; j < m; j++) {
      float v = pr[j] + bias[j];
      if (v > 0.0f && (int)(float_bits(v) >> 16) == bin) hist2[float_bits(v) & 0xffff]++;
    }
  }
}

// BatchTopK's selection at the lane's threshold theta (the positive v = p + bias ≥ theta, in feature order),
// then decode_row, for `rows` rows of p [rows, m] (global rows row0…; x, xhat, l1, l0, l2, rec point at the
// first of them); vmin becomes the smallest kept value. Stops before a row whose entries do not fit in the
// lane's share. Returns the number of rows done.
EXPORT(batchtopk_rows)
int batchtopk_rows(lane_t *restrict L, const float *restrict p, const float *restrict x, float *restrict xhat,
                   float *restrict l1, float *restrict l0, float *restrict l2, float *restrict rec, int row0, int rows,
                   float scale, float add) {
  const int m = L->m;
  const float *restrict bias = L->bias;
  int *restrict cand_idx = L->cand_idx;
  float *restrict cand_val = L->cand_val;
  int *restrict idx = L->idx;
  float *restrict val = L->val;
  const float theta = L->theta;
  float vmin = L->vmin;
  int done = 0;
  for (; done < rows; done++) {
    int count = collect(p + (long)done * m, bias, m, theta, cand_idx, cand_val);
    int e = L->cursor;
    if (e + count > L->end) break;
    float abs = 0.0f;
    for (int c = 0; c < count; c++) {
      float v = cand_val[c];
      int j = cand_idx[c];
      idx[e + c] = j;
      val[e + c] = v;
      abs += v;
      vmin = v < vmin ? v : vmin;
      L->fired[j] += 1;
    }
    L->rs[row0 + done] = e;
    L->re[row0 + done] = e + count;
    L->cursor = e + count;
    l1[done] = abs;
    l0[done] = (float)count;
  }
  L->vmin = vmin;
  for (int r = 0; r < done; r++) {
    decode_row(L, L->rs[row0 + r], L->re[row0 + r], x + (long)r * L->n, xhat + (long)r * L->n,
               L->dx + (long)(row0 + r) * L->ld, l2 + r, rec + r, scale, add);
  }
  return done;
}

// ---- JumpReLU: a threshold per feature --------------------------------------------------------------------

// JumpReLU's selection, then the decoder and the backward pass up to ∂L/∂pre, for `rows` rows of
// pre-activations p [rows, m] without the bias (global rows row0…; x, xhat, l1, l0, l2 point at the first of
// them). For each row, with v = p + bias:
//   entries: the v > θ_j, in feature order (f = v, also when v ≤ 0 with θ_j < 0);
//   l1 = their count (the step penalty Σ_j [v > θ_j]), or Σ f_j · wl1[j] where the lane has wl1; l0 = the
//   count of the positive ones, fired[j] += 1 for each of those (the batch statistics count f > 0);
// then decode_row as TopK's (one prefix of weight 1, dval = ∂L/∂pre = ∂L/∂f at each entry). The rectangle
// kernel's band, u = (v − θ_j)/ε with |u| < ½ (in float, as tfjs computes it): bcnt[j] += 1 and
// bsum[j] += ∂L/∂f for each value in it, active (dval) or not (Q · wdec_j, with Q the row's ∂L/∂x̂). Stops
// before a row whose entries might not fit in the lane's share. With ε = 0 there is no band (u is ±∞ or NaN).
// Where the lane has fadd, dval[e] += fadd[idx[e]] after the band's sums (April ReLU: θ = 0, ε = 0, its
// penalty's ∂L/∂f = sλ‖wDec_j‖). Returns the number of rows done.
EXPORT(jumprelu_rows)
int jumprelu_rows(lane_t *restrict L, const float *restrict p, const float *restrict x, float *restrict xhat,
                  float *restrict l1, float *restrict l0, float *restrict l2, int row0, int rows, float scale) {
  const int m = L->m, n = L->n, vec = m & ~3, nvec = n & ~15;
  const float *restrict bias = L->bias;
  const float *restrict thr = L->thr;
  const float *restrict wdec = L->wdec;
  const float eps = L->eps;
  int *restrict idx = L->idx;
  float *restrict val = L->val;
  int *restrict bidx = L->bidx;
  const v128_t half4 = wasm_f32x4_splat(0.5f), eps4 = wasm_f32x4_splat(eps);
  int done = 0;
  for (; done < rows; done++) {
    const float *restrict pr = p + (long)done * m;
    int at = L->cursor, count = 0, positive = 0, nb = 0;
    // At most m entries: stop unless a whole row fits.
    if (at + m > L->end) break;
    for (int j = 0; j < m; j += 4) {
      unsigned bits;
      if (j < vec) {
        v128_t v = wasm_f32x4_add(wasm_v128_load(pr + j), wasm_v128_load(bias + j));
        v128_t t = wasm_v128_load(thr + j);
        v128_t u = wasm_f32x4_div(wasm_f32x4_sub(v, t), eps4);
        v128_t on = wasm_v128_or(wasm_f32x4_gt(v, t), wasm_f32x4_lt(wasm_f32x4_abs(u), half4));
        if (!wasm_v128_any_true(on)) continue;
        bits = wasm_i32x4_bitmask(on);
      } else {
        bits = (1u << (m - j)) - 1u;
      }
      while (bits) {
        int jj = j + __builtin_ctz(bits);
        bits &= bits - 1;
        float v = pr[jj] + bias[jj];
        if (v > thr[jj]) {
          idx[at + count] = jj;
          val[at + count] = v;
          count++;
          if (v > 0.0f) {
            positive++;
            L->fired[jj] += 1;
          }
        } else if (__builtin_fabsf((v - thr[jj]) / eps) < 0.5f) {
          bidx[nb++] = jj;
        }
      }
    }
    L->rs[row0 + done] = at;
    L->re[row0 + done] = at + count;
    L->cursor = at + count;
    if (L->wl1) {
      float pen = 0.0f;
      for (int e = at; e < at + count; e++) pen += val[e] * L->wl1[idx[e]];
      l1[done] = pen;
    } else {
      l1[done] = (float)count;
    }
    l0[done] = (float)positive;
    float *restrict dq = L->dx + (long)(row0 + done) * L->ld;
    decode_row(L, at, at + count, x + (long)done * n, xhat + (long)done * n, dq, l2 + done, 0, scale, 0.0f);
    // The band: the active values in it (their ∂L/∂f is dval), then the others.
    for (int e = at; e < at + count; e++) {
      int j = idx[e];
      if (__builtin_fabsf((val[e] - thr[j]) / eps) < 0.5f) {
        L->bcnt[j] += 1.0f;
        L->bsum[j] += L->dval[e];
      }
    }
    for (int b = 0; b < nb; b++) {
      int j = bidx[b];
      const float *w = wdec + (long)j * n;
      v128_t s0 = wasm_f32x4_splat(0.0f), s1 = s0, s2 = s0, s3 = s0;
      for (int i = 0; i < nvec; i += 16) {
        s0 = wasm_f32x4_add(s0, wasm_f32x4_mul(wasm_v128_load(dq + i), wasm_v128_load(w + i)));
        s1 = wasm_f32x4_add(s1, wasm_f32x4_mul(wasm_v128_load(dq + i + 4), wasm_v128_load(w + i + 4)));
        s2 = wasm_f32x4_add(s2, wasm_f32x4_mul(wasm_v128_load(dq + i + 8), wasm_v128_load(w + i + 8)));
        s3 = wasm_f32x4_add(s3, wasm_f32x4_mul(wasm_v128_load(dq + i + 12), wasm_v128_load(w + i + 12)));
      }
      float dot = hsum4(wasm_f32x4_add(wasm_f32x4_add(s0, s1), wasm_f32x4_add(s2, s3)));
      for (int i = nvec; i < n; i++) dot += dq[i] * w[i];
      L->bcnt[j] += 1.0f;
      L->bsum[j] += dot;
    }
    if (L->fadd) {
      for (int e = at; e < at + count; e++) L->dval[e] += L->fadd[idx[e]];
    }
  }
  return done;
}

// ---- Gated SAEs: the gate's open features carry both paths ----------------------------------------------

// Gated SAE, `rows` rows of z = x̄ · wEnc in p [rows, m] (global rows row0…; x, xhat, l1, l0, l2, aux point at
// the first of them). Per row, the entries are the open gates πgate = z + bEnc > 0 (in feature order):
//   gate path: g = πgate; x̂_gate = Σ g_j wdec_j + bdec (into the lane's xs), aux = mean (x̂_gate − x)²,
//     ∂L/∂πgate_j = scale · (x̂_gate − x) · wdec_j + add  (add = sλ);  l1 = Σ g (the penalty);
//   magnitude path: πmag = z · mscale + mbias, f = ReLU(πmag) (0 for a closed gate); decode_row as TopK's
//     (x̂, ∂L/∂x̂ into dx, l2, ∂L/∂f = dval); ∂L/∂πmag = ∂L/∂f · [f > 0];  l0, fired count f > 0;
//   dval ← ∂L/∂z = ∂L/∂πmag · mscale + ∂L/∂πgate (the weight gradients gather val = f and dval), and the
//   lane's gsum += ∂L/∂πgate, bcnt += ∂L/∂πmag, bsum += ∂L/∂πmag · z · mscale.
// The gate path's ∂L/∂x̂_gate goes to the lane's tsq and no column sum (its decoder is frozen). Stops before a
// row whose entries might not fit in the lane's share. Returns the number of rows done.
EXPORT(gated_rows)
int gated_rows(lane_t *restrict L, const float *restrict p, const float *restrict x, float *restrict xhat,
               float *restrict l1, float *restrict l0, float *restrict l2, float *restrict aux, int row0, int rows,
               float scale, float add) {
  const int m = L->m, n = L->n;
  const float *restrict ms = L->mscale;
  const float *restrict mb = L->mbias;
  int *restrict idx = L->idx;
  float *restrict val = L->val;
  float *restrict dval = L->dval;
  float *restrict dgate = L->heap;
  int done = 0;
  for (; done < rows; done++) {
    const float *restrict pr = p + (long)done * m;
    const float *restrict xr = x + (long)done * n;
    int at = L->cursor;
    if (at + m > L->end) break;
    int count = collect(pr, L->bias, m, -__builtin_inff(), L->cand_idx, L->cand_val);
    float pen = 0.0f;
    for (int c = 0; c < count; c++) {
      idx[at + c] = L->cand_idx[c];
      val[at + c] = L->cand_val[c];
      pen += L->cand_val[c];
    }
    L->rs[row0 + done] = at;
    L->re[row0 + done] = at + count;
    L->cursor = at + count;
    l1[done] = pen;
    // The gate path, its column sums into scratch.
    float *colsum = L->colsum;
    L->colsum = L->tsum;
    decode_row(L, at, at + count, xr, L->xs, L->tsq, aux + done, 0, scale, add);
    L->colsum = colsum;
    for (int e = at; e < at + count; e++) dgate[e - at] = dval[e];
    // The magnitude path.
    int positive = 0;
    for (int e = at; e < at + count; e++) {
      int j = idx[e];
      float mag = pr[j] * ms[j] + mb[j];
      float f = mag > 0.0f ? mag : 0.0f;
      val[e] = f;
      if (f > 0.0f) {
        positive++;
        L->fired[j] += 1;
      }
    }
    l0[done] = (float)positive;
    decode_row(L, at, at + count, xr, xhat + (long)done * n, L->dx + (long)(row0 + done) * L->ld, l2 + done, 0,
               scale, 0.0f);
    for (int e = at; e < at + count; e++) {
      int j = idx[e];
      float dmag = val[e] > 0.0f ? dval[e] : 0.0f;
      float dg = dgate[e - at];
      dval[e] = dmag * ms[j] + dg;
      L->gsum[j] += dg;
      L->bcnt[j] += dmag;
      L->bsum[j] += (dmag * pr[j]) * ms[j];
    }
  }
  return done;
}

// ---- AuxK: the dead features reconstruct the residual ---------------------------------------------------
//
// After the main step (TopK's or BatchTopK's), on the same workspace: p holds the dead features'
// pre-activations without the bias, each row compacted to nd values (feature dlist[c] at column c), and the
// lane's bias is the dead features' encoder bias (bias[c] of feature dlist[c]).

// Compacts `rows` rows of p [rows, m] in place to the nd columns dlist (increasing) of each: p[r·nd + c] =
// p[r·m + dlist[c]]. Each write lands at or before the value it copies, and after every value already read.
EXPORT(auxk_gather)
void auxk_gather(float *p, int rows, int m, const int *restrict dlist, int nd) {
  for (long r = 0; r < rows; r++) {
    for (int c = 0; c < nd; c++) p[r * nd + c] = p[r * m + dlist[c]];
  }
}

// AuxK for `rows` rows (global rows row0…; e, ehat, aux point at the first of them; p at the first row's nd
// values). Selection as TopK's, with k = kaux, among the dead features: the positive v = p + bias that are
// among the row's kaux largest (ties kept), as entries (feature dlist[c], v), fired[j] += 1 for each. Stops
// before a row whose entries might not fit in the lane's share. Then decode_row with the residual e = x − x̂
// of the main step as its target (the lane set to one prefix of weight 1, bdec 0):
//   ê = Σ_e val[e] · wdec[idx[e]] into ehat;  d = ê − e;  aux = mean d²;  dx = scale · d;
//   dval[e] = dx · wdec[idx[e]]   (∂L/∂pre at the entry)
// Returns the number of rows done.
EXPORT(auxk_rows)
int auxk_rows(lane_t *restrict L, const float *restrict p, int nd, const int *restrict dlist,
              const float *restrict e, float *restrict ehat, float *restrict aux, int row0, int rows, float scale,
              int kaux) {
  const float *restrict bias = L->bias;
  int *restrict cand_idx = L->cand_idx;
  float *restrict cand_val = L->cand_val;
  int *restrict idx = L->idx;
  float *restrict val = L->val;
  int done = 0;
  for (; done < rows; done++) {
    int count = collect(p + (long)done * nd, bias, nd, -__builtin_inff(), cand_idx, cand_val);
    int at = L->cursor;
    if (at + count > L->end) break;
    // Fewer than kaux positive values: the kaux-th largest is ≤ 0 and every positive value is kept.
    float kth = count > kaux ? kth_largest(cand_val, count, kaux, L->heap) : 0.0f;
    int kept = 0;
    for (int c = 0; c < count; c++) {
      float v = cand_val[c];
      if (!(v >= kth)) continue;
      int j = dlist[cand_idx[c]];
      idx[at + kept] = j;
      val[at + kept] = v;
      L->fired[j] += 1;
      kept++;
    }
    L->rs[row0 + done] = at;
    L->re[row0 + done] = at + kept;
    L->cursor = at + kept;
  }
  for (int r = 0; r < done; r++) {
    decode_row(L, L->rs[row0 + r], L->re[row0 + r], e + (long)r * L->n, ehat + (long)r * L->n,
               L->dx + (long)(row0 + r) * L->ld, aux + r, 0, scale, 0.0f);
  }
  return done;
}

// Stores four lanes down a column of gwenc [n, m] (rows 4 apart by m), added when `accumulate`.
static inline void store_column4(float *g, int m, v128_t v, int accumulate) {
  float l0 = wasm_f32x4_extract_lane(v, 0), l1 = wasm_f32x4_extract_lane(v, 1);
  float l2 = wasm_f32x4_extract_lane(v, 2), l3 = wasm_f32x4_extract_lane(v, 3);
  if (accumulate) {
    g[0] += l0;
    g[m] += l1;
    g[2 * m] += l2;
    g[3 * m] += l3;
  } else {
    g[0] = l0;
    g[m] = l1;
    g[2 * m] = l2;
    g[3 * m] = l3;
  }
}

// TopK, the weight gradients of features [j0, j1) from the entries of every row, gathered by feature:
//   gwdec[j] = Σ_{entries (r, j)} val · dx_t[r]     [m, n], dx_t = Q_t of the first prefix t that contains j
//                                                   (dx + t · dxstride; t = 0 with one prefix)
//   gwenc[:, j] = Σ_{entries (r, j)} dval · xbar[r]  [n, m] (the encoder's layout)
//   gbenc[j] = Σ_{entries (r, j)} dval
// (added to the outputs when `accumulate`, else written). The entries are first sorted by feature (a
// counting sort into the lane's crow/cval/cd); then for each 32 columns, each feature's sums stay in
// registers while its rows stream in from cache, and every output is written once.
EXPORT(topk_weight_grads)
void topk_weight_grads(lane_t *restrict L, int j0, int j1, int accumulate) {
  const int n = L->n, m = L->m, batch = L->batch, w = j1 - j0;
  const int *restrict idx = L->idx;
  const int *restrict rs = L->rs;
  const int *restrict re = L->re;
  int *restrict start = L->start;
  int *restrict crow = L->crow;
  float *restrict cval = L->cval;
  float *restrict cd = L->cd;
  const float *restrict dx = L->dx;
  const float *restrict xbar = L->xbar;
  float *restrict gwdec = L->gwdec;
  float *restrict gwenc = L->gwenc;
  for (int j = 0; j <= w; j++) start[j] = 0;
  for (int r = 0; r < batch; r++) {
    for (int e = rs[r]; e < re[r]; e++) {
      unsigned jj = (unsigned)(idx[e] - j0);
      if (jj < (unsigned)w) start[jj + 1]++;
    }
  }
  for (int j = 0; j < w; j++) start[j + 1] += start[j];
  for (int r = 0; r < batch; r++) {
    for (int e = rs[r]; e < re[r]; e++) {
      unsigned jj = (unsigned)(idx[e] - j0);
      if (jj >= (unsigned)w) continue;
      int q = start[jj]++;
      crow[q] = r * L->ld;
      cval[q] = L->val[e];
      cd[q] = L->dval[e];
    }
  }
  // start[jj] is now the end of feature j0 + jj's entries, and the beginning of the next one's.
  for (int jj = 0; jj < w; jj++) {
    float s = 0.0f;
    for (int q = jj ? start[jj - 1] : 0; q < start[jj]; q++) s += cd[q];
    L->gbenc[j0 + jj] = accumulate ? L->gbenc[j0 + jj] + s : s;
  }
  const int *restrict ends = L->ends;
  int c = 0;
  for (; c + 32 <= n; c += 32) {
    int t = 0;
    for (int jj = 0; jj < w; jj++) {
      while (j0 + jj >= ends[t]) t++;
      const float *dxt = dx + (long)t * L->dxstride;
      v128_t a0 = wasm_f32x4_splat(0.0f), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
      for (int q = jj ? start[jj - 1] : 0; q < start[jj]; q++) {
        const float *d = dxt + crow[q] + c;
        v128_t sv = wasm_f32x4_splat(cval[q]);
        a0 = wasm_f32x4_add(a0, wasm_f32x4_mul(sv, wasm_v128_load(d)));
        a1 = wasm_f32x4_add(a1, wasm_f32x4_mul(sv, wasm_v128_load(d + 4)));
        a2 = wasm_f32x4_add(a2, wasm_f32x4_mul(sv, wasm_v128_load(d + 8)));
        a3 = wasm_f32x4_add(a3, wasm_f32x4_mul(sv, wasm_v128_load(d + 12)));
        a4 = wasm_f32x4_add(a4, wasm_f32x4_mul(sv, wasm_v128_load(d + 16)));
        a5 = wasm_f32x4_add(a5, wasm_f32x4_mul(sv, wasm_v128_load(d + 20)));
        a6 = wasm_f32x4_add(a6, wasm_f32x4_mul(sv, wasm_v128_load(d + 24)));
        a7 = wasm_f32x4_add(a7, wasm_f32x4_mul(sv, wasm_v128_load(d + 28)));
      }
      float *gd = gwdec + (long)(j0 + jj) * n + c;
      if (accumulate) {
        a0 = wasm_f32x4_add(a0, wasm_v128_load(gd));
        a1 = wasm_f32x4_add(a1, wasm_v128_load(gd + 4));
        a2 = wasm_f32x4_add(a2, wasm_v128_load(gd + 8));
        a3 = wasm_f32x4_add(a3, wasm_v128_load(gd + 12));
        a4 = wasm_f32x4_add(a4, wasm_v128_load(gd + 16));
        a5 = wasm_f32x4_add(a5, wasm_v128_load(gd + 20));
        a6 = wasm_f32x4_add(a6, wasm_v128_load(gd + 24));
        a7 = wasm_f32x4_add(a7, wasm_v128_load(gd + 28));
      }
      wasm_v128_store(gd, a0);
      wasm_v128_store(gd + 4, a1);
      wasm_v128_store(gd + 8, a2);
      wasm_v128_store(gd + 12, a3);
      wasm_v128_store(gd + 16, a4);
      wasm_v128_store(gd + 20, a5);
      wasm_v128_store(gd + 24, a6);
      wasm_v128_store(gd + 28, a7);
    }
    float *ge = gwenc + (long)c * m + j0;
    for (int jj = 0; jj < w; jj++) {
      v128_t a0 = wasm_f32x4_splat(0.0f), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
      for (int q = jj ? start[jj - 1] : 0; q < start[jj]; q++) {
        const float *xb = xbar + crow[q] + c;
        v128_t sd = wasm_f32x4_splat(cd[q]);
        a0 = wasm_f32x4_add(a0, wasm_f32x4_mul(sd, wasm_v128_load(xb)));
        a1 = wasm_f32x4_add(a1, wasm_f32x4_mul(sd, wasm_v128_load(xb + 4)));
        a2 = wasm_f32x4_add(a2, wasm_f32x4_mul(sd, wasm_v128_load(xb + 8)));
        a3 = wasm_f32x4_add(a3, wasm_f32x4_mul(sd, wasm_v128_load(xb + 12)));
        a4 = wasm_f32x4_add(a4, wasm_f32x4_mul(sd, wasm_v128_load(xb + 16)));
        a5 = wasm_f32x4_add(a5, wasm_f32x4_mul(sd, wasm_v128_load(xb + 20)));
        a6 = wasm_f32x4_add(a6, wasm_f32x4_mul(sd, wasm_v128_load(xb + 24)));
        a7 = wasm_f32x4_add(a7, wasm_f32x4_mul(sd, wasm_v128_load(xb + 28)));
      }
      float *g = ge + jj;
      store_column4(g, m, a0, accumulate);
      store_column4(g + 4L * m, m, a1, accumulate);
      store_column4(g + 8L * m, m, a2, accumulate);
      store_column4(g + 12L * m, m, a3, accumulate);
      store_column4(g + 16L * m, m, a4, accumulate);
      store_column4(g + 20L * m, m, a5, accumulate);
      store_column4(g + 24L * m, m, a6, accumulate);
      store_column4(g + 28L * m, m, a7, accumulate);
    }
  }
  for (; c < n; c++) {
    int t = 0;
    for (int jj = 0; jj < w; jj++) {
      while (j0 + jj >= ends[t]) t++;
      const float *dxt = dx + (long)t * L->dxstride;
      float a = 0.0f, b = 0.0f;
      for (int q = jj ? start[jj - 1] : 0; q < start[jj]; q++) {
        a += cval[q] * dxt[crow[q] + c];
        b += cd[q] * xbar[crow[q] + c];
      }
      float *gd = gwdec + (long)(j0 + jj) * n + c;
      float *ge = gwenc + (long)c * m + j0 + jj;
      *gd = accumulate ? *gd + a : a;
      *ge = accumulate ? *ge + b : b;
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
