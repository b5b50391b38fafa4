"""The Python peer: the pytorch/examples MNIST VAE, timed the way vaebench times its C++ backends.

Model, loss and optimiser are those of https://github.com/pytorch/examples/blob/main/vae/main.py:
fc1 784->400 ReLU, fc21/fc22 400->20 (mu, logvar), z = mu + exp(0.5*logvar)*randn, fc3 20->400 ReLU,
fc4 400->784 logits; loss = BCE-with-logits summed over pixels and images + KL; Adam lr 1e-3. The layers
carry vaebench's flat-layout names (fc1 = enc.0, fc21 = enc.mu, fc22 = enc.logvar, fc3 = dec.0,
fc4 = dec.out) and the class takes vaebench's configuration (more hidden layers, tanh, the Gaussian
likelihood, beta, K samples), so the same code that is timed with the example's configuration can be
checked on every validation case.
Models given as layers (impl/model/layers.h; a config's "layers", as case metadata carries them, or
`bench --model conv-mnist|conv-celeba64`, the seeds' ConvVAE and CelebAVAE) are built as LayeredVAE: one
nn.Linear / nn.Conv2d / nn.ConvTranspose2d per layer with nn.BatchNorm2d as its child "bn", named as
vaebench names the parameters (enc.<i>.weight, enc.<i>.bn.weight, enc.mu.*, dec.out.*, ...), so a case
file's param.<name> and buffer.<name> tensors load by name (every one checked). Batch norm runs in
training mode wherever the cases are computed and trained (the batch's statistics, updating the running
statistics, which a case's results report as running.<name>); the `eval` benchmark and the test-set
evaluation put the model in eval mode, as PyTorch evaluation does.
Pixels are uint8/255 in float32 (no binarisation). Backends ("modes"):
  python-eager                     plain PyTorch;
  python-compile                   step function and model wrapped in torch.compile (default mode);
  python-compile-reduce-overhead   torch.compile(mode="reduce-overhead") (CUDA graphs on a GPU).
Compiled functions use dynamic=False, so every batch shape gets its own static-shape graph, as the
C++ backends have; dynamo's caches are reset before each benchmark so graphs never mix.

Data: the MNIST IDX files are parsed with gzip + numpy and the whole split is kept resident on the
device as uint8. Batches are gathered by index (images[idx].float().div_(255)) and shuffled with a
seeded torch.randperm (CPU generator, seed + epoch). No DataLoader: we measure compute, not data
loading, exactly as the C++ side (which also keeps the data resident and gathers by index).

Timing (`bench`), identical to the C++ benchmark binary so the numbers sit side by side:
  * warm-up: call the function until at least 3 calls AND at least 0.1 s have passed (compilation,
    cuDNN/BLAS autotuning, CUDA-graph recording and Adam's lazy state all happen here);
  * each repetition times single iterations -- time.perf_counter() around the call on the CPU (the
    work is done when the call returns), a pair of torch.cuda.Event(enable_timing=True) around it on
    CUDA (the end event synchronised), i.e. device time, not queueing time -- and adds iterations
    until their sum reaches --min-time (at least one);
  * one repetition = one Google Benchmark "iteration" entry with real_time = mean time per iteration
    (manual time), cpu_time from time.process_time(); R > 1 adds mean/median/stddev/cv aggregates.
Names follow Google Benchmark's manual-time convention, "<kind>/<mode>/<device>/fp32/batch:<B>/manual_time",
so tools/compare.py and our report generator read peer and C++ results alike; every entry carries
"model" (mlp, conv-mnist, ...) and "data", and a model other than the MLP is also in the name,
".../fp32/model:<m>/batch:<B>/manual_time", so runs of two models merged into one file stay apart.
`--model` picks a preset, `--config FILE` any configuration (a config JSON, a layers JSON, or a case
file / checkpoint); a model whose input is not MNIST's 784 pixels (conv-celeba64: 3x64x64) runs on
seeded synthetic images, which the output, the context and every entry ("data") say. FLOP counts
are the exact dense and conv counts of impl/model/flops.h (batch norm and element-wise work are not
counted).

`train` runs the example's training loop epoch by epoch, evaluates the test split after each epoch
and writes a history JSON in the format of the C++ trainer ("vaebench training history v1").

`cases DIR --modes ... --out ROOT` computes every case file of `vaebench cases export DIR` with each
mode -- the per-image outputs and the gradient from the mode's own forward and backward, the Adam
steps with its own compiled train step, the case's noise instead of randn -- and writes
ROOT/<mode>/<case>.safetensors in the results format of docs/case-format.md, for
`vaebench validate --external <mode>=ROOT/<mode>`; `--precision fp64` runs the same code in float64
(judged at the fp64 tolerances: a check of the model itself rather than of float32 rounding).

Run as `python3 bench/python_peer.py bench|train|cases ...` (a launcher that needs torch, numpy and
safetensors, not this package installed) or `python -m vaebench.peer ...`. The modules, one job each:
  errors     UsageError (stderr, exit status 2)
  layers     a layers JSON checked, its shapes derived (LayerPlan); the layer dicts
  config     DEFAULT_CONFIG (the example's), the presets, layered_config / preset_config
  flops      count_flops, as impl/model/flops.h
  models     VAE, LayeredVAE, make_model
  objective  per_image_losses, vae_loss, objective, kl_weight
  runner     Runner (model + Adam + the mode's possibly compiled functions), MODES, PRECISIONS
  data       the MNIST IDX files
  device     torch's process settings and the device
  files      the JSON output files
  timing     measure and the Google Benchmark entries
  bench      `bench`;  train  `train`;  cases  `cases` (case files through vaebench.casefile)
  cli        the command line: build_parser, main
"""
