#pragma once
// Adam hyper-parameters, with torch.optim.Adam's defaults (no weight decay, no AMSGrad).
namespace vae {

struct AdamOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
};

}  // namespace vae
