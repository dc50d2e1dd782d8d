// Element-wise kernels of saekit's fused SAE step, compiled to WebAssembly
// with SIMD (see tasks/build_wasm.ts). Each works in place on one block of
// rows that lives in the module's memory, between two BLAS products.
//
// Build: clang --target=wasm32 -O3 -msimd128 -fassociative-math -fno-signed-zeros -fno-trapping-math
// -nostdlib (no libc is used). Column sums are float: the caller adds each
// block's sums (a few hundred rows) into double accumulators.

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

// The compiler may call memset for zero-length loops; there is no libc.
void *memset(void *dest, int value, unsigned long count) {
  unsigned char *d = dest;
  while (count--) *d++ = (unsigned char)value;
  return dest;
}
