#include "conv_layers.h"

#include <algorithm>
#include <cmath>
#include <initializer_list>
#include <limits>
#include <optional>

#include <Eigen/Core>

#include "common/error.h"

namespace vae::ref {

namespace {

using Matrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using MatMap = Eigen::Map<Matrix>;
using ConstMatMap = Eigen::Map<const Matrix>;
using Index = Eigen::Index;

// The plain conv a layer is, or is the adjoint of: a kernel sliding over an "image" (the
// plain conv's input) whose windows make a "grid" (its output). For a plain conv the image
// is x and the grid y; for a transposed conv the image is y and the grid x. In both PyTorch
// layouts the weight is then [grid_channels, image_channels, k, k].
struct Frame {
  Index image_channels, image_h, image_w;
  Index grid_channels, grid_h, grid_w;
  Index kernel, stride, padding;

  Index patch() const { return image_channels * kernel * kernel; }  // rows of im2col
  Index windows() const { return grid_h * grid_w; }                 // columns of im2col
  Index image_size() const { return image_channels * image_h * image_w; }
  Index grid_size() const { return grid_channels * windows(); }
};

Frame frame_of(const ConvGeometry& g) {
  if (!g.transposed)
    return {g.in_channels, g.in_h, g.in_w, g.out_channels, g.out_h(), g.out_w(), g.kernel, g.stride, g.padding};
  return {g.out_channels, g.out_h(), g.out_w(), g.in_channels, g.in_h, g.in_w, g.kernel, g.stride, g.padding};
}

// col [patch, windows]: row (c*k + ky)*k + kx, column gy*grid_w + gx holds
// image[c, gy*s - p + ky, gx*s - p + kx], zero where that falls in the padding.
void im2col(const Frame& f, const double* image, double* col) {
  const Index k = f.kernel, s = f.stride, p = f.padding;
  for (Index c = 0; c < f.image_channels; ++c)
    for (Index ky = 0; ky < k; ++ky)
      for (Index kx = 0; kx < k; ++kx) {
        double* row = col + ((c * k + ky) * k + kx) * f.windows();
        for (Index gy = 0; gy < f.grid_h; ++gy) {
          const Index iy = gy * s - p + ky;
          double* out = row + gy * f.grid_w;
          if (iy < 0 || iy >= f.image_h) {
            for (Index gx = 0; gx < f.grid_w; ++gx) out[gx] = 0.0;
            continue;
          }
          const double* in = image + (c * f.image_h + iy) * f.image_w;
          for (Index gx = 0; gx < f.grid_w; ++gx) {
            const Index ix = gx * s - p + kx;
            out[gx] = (ix >= 0 && ix < f.image_w) ? in[ix] : 0.0;
          }
        }
      }
}

// The adjoint of im2col: image = sum of every column entry added back where im2col read it
// (entries that fall in the padding are dropped). Overwrites image.
void col2im(const Frame& f, const double* col, double* image) {
  const Index k = f.kernel, s = f.stride, p = f.padding;
  std::fill(image, image + f.image_size(), 0.0);
  for (Index c = 0; c < f.image_channels; ++c)
    for (Index ky = 0; ky < k; ++ky)
      for (Index kx = 0; kx < k; ++kx) {
        const double* row = col + ((c * k + ky) * k + kx) * f.windows();
        for (Index gy = 0; gy < f.grid_h; ++gy) {
          const Index iy = gy * s - p + ky;
          if (iy < 0 || iy >= f.image_h) continue;
          const double* in = row + gy * f.grid_w;
          double* out = image + (c * f.image_h + iy) * f.image_w;
          for (Index gx = 0; gx < f.grid_w; ++gx) {
            const Index ix = gx * s - p + kx;
            if (ix >= 0 && ix < f.image_w) out[ix] += in[gx];
          }
        }
      }
}

void check_call(const ConvGeometry& g, int batch, const char* what, std::initializer_list<const void*> required) {
  g.check();
  if (batch < 1) throw Error(g.describe() + ": " + what + ": batch must be positive, got " + std::to_string(batch));
  for (const void* p : required)
    if (!p) throw Error(g.describe() + ": " + what + ": a required tensor pointer is null");
}

std::string bn_name(const char* mode, int batch, int channels, int hw) {
  return std::string("batch_norm (") + mode + ", input [" + std::to_string(batch) + ", " + std::to_string(channels) +
         ", hw=" + std::to_string(hw) + "])";
}

void check_bn(const char* mode, int batch, int channels, int hw, double eps, bool training) {
  const std::string name = bn_name(mode, batch, channels, hw);
  if (batch < 1 || channels < 1 || hw < 1) throw Error(name + ": batch, channels and hw must be positive");
  if (!(eps >= 0.0) || !std::isfinite(eps)) throw Error(name + ": eps must be finite and >= 0, got " + std::to_string(eps));
  // nn.BatchNorm2d's own check and message (torch/nn/functional.py _verify_batch_size): with
  // one value per channel x - mean is 0 and the unbiased variance is 0/0.
  if (training && int64_t(batch) * hw == 1)
    throw Error(name + ": Expected more than 1 value per channel when training, got input size [1, " +
                std::to_string(channels) + ", 1, 1]");
}

void check_stats(const char* mode, int channels, const BatchNormStats& stats) {
  if (stats.mean.size() != size_t(channels) || stats.var_biased.size() != size_t(channels))
    throw Error(std::string("batch_norm (") + mode + "): stats hold " + std::to_string(stats.mean.size()) +
                " means and " + std::to_string(stats.var_biased.size()) + " variances, expected " +
                std::to_string(channels) + " of each");
}

}  // namespace

void conv_forward(const ConvGeometry& g, int batch, const double* x, const double* weight, const double* bias,
                  double* y) {
  check_call(g, batch, "conv_forward", {x, weight, y});
  const Frame f = frame_of(g);
  const ConstMatMap w(weight, f.grid_channels, f.patch());
  const Index in_size = g.in_size(), out_size = g.out_size();
  const Index out_hw = Index(g.out_h()) * g.out_w();
  Matrix col(f.patch(), f.windows());
  for (Index b = 0; b < batch; ++b) {
    double* yb = y + b * out_size;
    if (!g.transposed) {
      im2col(f, x + b * in_size, col.data());
      MatMap(yb, f.grid_channels, f.windows()).noalias() = w * col;
    } else {
      col.noalias() = w.transpose() * ConstMatMap(x + b * in_size, f.grid_channels, f.windows());
      col2im(f, col.data(), yb);
    }
    if (bias)
      MatMap(yb, g.out_channels, out_hw).colwise() += Eigen::Map<const Eigen::VectorXd>(bias, g.out_channels);
  }
}

void conv_backward(const ConvGeometry& g, int batch, const double* x, const double* weight, const double* dy,
                   double* dx, double* dweight, double* dbias) {
  check_call(g, batch, "conv_backward", {x, weight, dy});
  const Frame f = frame_of(g);
  const ConstMatMap w(weight, f.grid_channels, f.patch());
  const Index in_size = g.in_size(), out_size = g.out_size();
  const Index out_hw = Index(g.out_h()) * g.out_w();

  if (dbias) {
    Eigen::Map<Eigen::VectorXd> db(dbias, g.out_channels);
    db.setZero();
    for (Index b = 0; b < batch; ++b) db += ConstMatMap(dy + b * out_size, g.out_channels, out_hw).rowwise().sum();
  }
  if (!dx && !dweight) return;

  std::optional<MatMap> dw;
  if (dweight) {
    dw.emplace(dweight, f.grid_channels, f.patch());
    dw->setZero();
  }
  // col is im2col of the image side: x for a plain conv (its forward's columns), dy for a
  // transposed conv (the plain conv's forward applied to dy is the transposed conv's dx).
  Matrix col(f.patch(), f.windows());
  for (Index b = 0; b < batch; ++b) {
    const double* xb = x + b * in_size;
    const double* dyb = dy + b * out_size;
    if (!g.transposed) {
      const ConstMatMap dgrid(dyb, f.grid_channels, f.windows());
      if (dw) {
        im2col(f, xb, col.data());
        dw->noalias() += dgrid * col.transpose();
      }
      if (dx) {
        col.noalias() = w.transpose() * dgrid;
        col2im(f, col.data(), dx + b * in_size);
      }
    } else {
      im2col(f, dyb, col.data());
      if (dw) dw->noalias() += ConstMatMap(xb, f.grid_channels, f.windows()) * col.transpose();
      if (dx) MatMap(dx + b * in_size, f.grid_channels, f.windows()).noalias() = w * col;
    }
  }
}

void batch_norm_train_forward(int batch, int channels, int hw, const double* x, const double* gamma,
                              const double* beta, double eps, double* y, BatchNormStats& stats) {
  check_bn("training", batch, channels, hw, eps, true);
  const int64_t n = int64_t(batch) * hw;
  stats.mean.assign(channels, 0.0);
  stats.var_biased.assign(channels, 0.0);
  for (int c = 0; c < channels; ++c) {
    // Two passes (mean, then squared deviations): no cancellation as in E[x^2] - E[x]^2.
    double sum = 0.0;
    for (int b = 0; b < batch; ++b) {
      const double* xc = x + (int64_t(b) * channels + c) * hw;
      for (int i = 0; i < hw; ++i) sum += xc[i];
    }
    const double mean = sum / double(n);
    double sq = 0.0;
    for (int b = 0; b < batch; ++b) {
      const double* xc = x + (int64_t(b) * channels + c) * hw;
      for (int i = 0; i < hw; ++i) sq += (xc[i] - mean) * (xc[i] - mean);
    }
    const double var = sq / double(n);
    stats.mean[c] = mean;
    stats.var_biased[c] = var;
    const double inv_sigma = 1.0 / std::sqrt(var + eps);
    const double gm = gamma ? gamma[c] : 1.0, bt = beta ? beta[c] : 0.0;
    for (int b = 0; b < batch; ++b) {
      const int64_t off = (int64_t(b) * channels + c) * hw;
      for (int i = 0; i < hw; ++i) y[off + i] = gm * ((x[off + i] - mean) * inv_sigma) + bt;
    }
  }
}

void batch_norm_train_backward(int batch, int channels, int hw, const double* x, const double* gamma,
                               const BatchNormStats& stats, double eps, const double* dy, double* dx,
                               double* dgamma, double* dbeta) {
  check_bn("training", batch, channels, hw, eps, true);
  check_stats("training", channels, stats);
  const double n = double(int64_t(batch) * hw);
  for (int c = 0; c < channels; ++c) {
    const double mean = stats.mean[c];
    const double inv_sigma = 1.0 / std::sqrt(stats.var_biased[c] + eps);
    double sum_dy = 0.0, sum_dy_xhat = 0.0;
    for (int b = 0; b < batch; ++b) {
      const int64_t off = (int64_t(b) * channels + c) * hw;
      for (int i = 0; i < hw; ++i) {
        sum_dy += dy[off + i];
        sum_dy_xhat += dy[off + i] * ((x[off + i] - mean) * inv_sigma);
      }
    }
    if (dbeta) dbeta[c] = sum_dy;
    if (dgamma) dgamma[c] = sum_dy_xhat;
    if (!dx) continue;
    // dx = (gamma / sigma) (dy - mean(dy) - xhat mean(dy xhat))
    const double scale = (gamma ? gamma[c] : 1.0) * inv_sigma;
    const double mean_dy = sum_dy / n, mean_dy_xhat = sum_dy_xhat / n;
    for (int b = 0; b < batch; ++b) {
      const int64_t off = (int64_t(b) * channels + c) * hw;
      for (int i = 0; i < hw; ++i) {
        const double xhat = (x[off + i] - mean) * inv_sigma;
        dx[off + i] = scale * (dy[off + i] - mean_dy - xhat * mean_dy_xhat);
      }
    }
  }
}

void batch_norm_eval_forward(int batch, int channels, int hw, const double* x, const double* gamma,
                             const double* beta, const double* running_mean, const double* running_var,
                             double eps, double* y) {
  check_bn("eval", batch, channels, hw, eps, false);
  if (!running_mean || !running_var) throw Error(bn_name("eval", batch, channels, hw) + ": running statistics are null");
  for (int c = 0; c < channels; ++c) {
    if (!(running_var[c] + eps > 0.0))
      throw Error(bn_name("eval", batch, channels, hw) + ": running_var[" + std::to_string(c) + "] + eps = " +
                  std::to_string(running_var[c] + eps) + " is not positive");
    const double inv_sigma = 1.0 / std::sqrt(running_var[c] + eps);
    const double gm = gamma ? gamma[c] : 1.0, bt = beta ? beta[c] : 0.0;
    for (int b = 0; b < batch; ++b) {
      const int64_t off = (int64_t(b) * channels + c) * hw;
      for (int i = 0; i < hw; ++i) y[off + i] = gm * ((x[off + i] - running_mean[c]) * inv_sigma) + bt;
    }
  }
}

void batch_norm_eval_backward(int batch, int channels, int hw, const double* x, const double* gamma,
                              const double* running_mean, const double* running_var, double eps, const double* dy,
                              double* dx, double* dgamma, double* dbeta) {
  check_bn("eval backward", batch, channels, hw, eps, false);
  if (!running_mean || !running_var)
    throw Error(bn_name("eval backward", batch, channels, hw) + ": running statistics are null");
  for (int c = 0; c < channels; ++c) {
    const double inv_sigma = 1.0 / std::sqrt(running_var[c] + eps);
    const double gm = gamma ? gamma[c] : 1.0;
    double sum_dy = 0, sum_dy_xhat = 0;
    for (int b = 0; b < batch; ++b) {
      const int64_t off = (int64_t(b) * channels + c) * hw;
      for (int i = 0; i < hw; ++i) {
        sum_dy += dy[off + i];
        sum_dy_xhat += dy[off + i] * (x[off + i] - running_mean[c]) * inv_sigma;
        if (dx) dx[off + i] = gm * inv_sigma * dy[off + i];
      }
    }
    if (dgamma) dgamma[c] = sum_dy_xhat;
    if (dbeta) dbeta[c] = sum_dy;
  }
}

void batch_norm_update_running(const BatchNormStats& stats, int64_t n, double momentum, double* running_mean,
                               double* running_var) {
  check_stats("running update", int(stats.mean.size()), stats);
  if (n < 2)
    throw Error("batch_norm (running update): the unbiased variance needs at least 2 values per channel, got n = " +
                std::to_string(n) + " (PyTorch's nn.BatchNorm2d refuses such a training batch)");
  if (!running_mean || !running_var) throw Error("batch_norm (running update): running statistics are null");
  const double unbias = double(n) / double(n - 1);
  for (size_t c = 0; c < stats.mean.size(); ++c) {
    // PyTorch's order (aten batch_norm_cpu_update_stats): m * batch + (1 - m) * running.
    running_mean[c] = momentum * stats.mean[c] + (1.0 - momentum) * running_mean[c];
    running_var[c] = momentum * (stats.var_biased[c] * unbias) + (1.0 - momentum) * running_var[c];
  }
}

}  // namespace vae::ref
