"""Default config: the small two-column AlexNet on Fashion-MNIST, offline, on a CPU.

Run it (after importing Fashion-MNIST once, see README):

    python -m alexnet_jax.main --config=configs/default.py --workdir=/tmp/alexnet_fmnist

Every other config imports this one and overrides a few fields. Any field can be
overridden from the command line, e.g. `--config.model.lrn=False`.

`get_config("paper")` gives the ImageNet-scale paper network (227x227, 1000
classes) with the paper's recipe.
"""

import ml_collections


def get_config(arg=None):
  """Returns the default config; `arg='paper'` selects the full-size network."""
  config = ml_collections.ConfigDict()
  config.mode = 'train'
  config.seed = 0
  config.init_from = ''              # a run or imported-weights directory (weights.py) to start
                                     # from (fine-tuning); layers whose shapes differ, e.g. a
                                     # classifier for other classes, keep their fresh init
  config.resume = 'auto'             # auto: rerunning resumes a workdir's run, and refuses
                                     # if its config differs | restart: move that run to
                                     # DIR/previous_runs/<time>/ and start over (README)

  # ---- The network (alexnet_jax/models/alexnet.py) --------------------------------
  config.model = model = ml_collections.ConfigDict()
  model.variant = 'small'            # paper | owt | small | cc_11pct | cc_11pct_no_rnorm |
                                     # cc_11pct_r540 | cc_13pct | cc_18pct
                                     # (cc_*: cuda-convnet's CIFAR-10 nets, cuda_convnet.py)
  model.num_classes = 10
  model.columns = 2                  # kernel columns (paper section 3.2): 1 or 2
  model.width_multiplier = 1.0       # scales the kernels of every conv layer ...
  model.width_exempt = ()            # ... except the conv layers named here
  model.halve_kernels_but_last = False  # True: every conv layer but the last has half its
                                     # kernels: the paper's one-GPU net (section 3.2), columns=1
  model.removed_layers = ()          # conv layers left out, e.g. ('conv4',): the depth claim
                                     # (section 7); only those that neither normalize nor pool
  model.activation = 'relu'          # relu | tanh (paper section 3.1)
  model.tanh_a = 1.0                 # tanh is a * tanh(b * x), cuda-convnet's tanh[a,b] neuron;
  model.tanh_b = 1.0                 # a=b=1 plain; LeCun's scaled tanh: 1.7159, 2/3
  model.pooling = 'overlapping'      # overlapping (3x3/2) | non_overlapping (2x2/2)
  model.lrn = True                   # local response normalization (section 3.3)
  model.lrn_k = 2.0
  model.lrn_n = 5
  model.lrn_alpha = 1e-4
  model.lrn_beta = 0.75
  model.lrn_across_columns = False   # True: LRN windows cross the two columns' maps, as in
                                     # Caffe's bvlc_alexnet; False: each column its own (paper)
  model.dropout_rate = 0.25          # on fc6 and fc7 (section 4.2); the paper: 0.5 (:paper,
                                     # presets)
  model.init = 'he'                  # paper (N(0, 0.01), biases 1/0) | paper_zero_bias (the
                                     # same weights, biases 0) | he (small nets)
  model.dtype = 'float32'            # compute dtype: float32 | bfloat16
  model.conv_chunk = 0               # >0: conv layers run over slices of this many images
                                     # (per device; CPU cache blocking, same function)

  # ---- The data (alexnet_jax/data/input_pipeline.py) ---------------------------
  config.data = data = ml_collections.ConfigDict()
  data.name = 'fashion_mnist'
  data.data_dir = ml_collections.config_dict.placeholder(str)
  data.arrays_dir = ''               # a folder of <split>.npz (x uint8 NHWC, y labels): no TFDS
                                     # (data/array_files.py; machines without TensorFlow)
  data.train_split = 'train'
  data.eval_split = 'test'
  data.image_size = 28               # network input size (after cropping)
  data.channels = 1
  # Augmentation (paper section 4.1); every step can be switched off.
  data.resize_size = 0               # >0: shorter side to this, center crop (paper: 256)
  data.random_crop = True            # random image_size crops for training
  data.crop_padding = 0              # zero padding before the random crop (small images)
  data.flip = True                   # random horizontal flips
  data.pca_std = 0.0                 # PCA colour noise std (paper: 0.1; needs RGB)
  data.normalization = 'per_channel'  # per_pixel (the mean image, pixels in [0, 1]) | per_channel
                                     # | none | cuda_convnet (pixels 0-255 minus the mean image's
                                     # center: the paper's, :paper)
  data.statistics_images = 0         # mean image and PCA from: 0 the whole training split
                                     # (cuda-convnet's data_mean); N a seeded sample of N images
  data.ten_views = False             # evaluate on the paper's 10 views, softmax averaged
  data.num_workers = 2               # decoding threads for datasets not held in memory
  data.worker_processes = 0          # N: N processes make training batches (workers.py);
                                     # -1: one per core
  data.prefetch = 2                  # batches prepared ahead by a background thread
  # Datasets of fixed-size images up to this many bytes are decoded once into memory;
  # larger ones (ImageNet) per batch. 0: always per batch (pipeline_throughput.py).
  data.in_memory_max_bytes = 4 << 30
  # True: the training split is held on the device and each step's batch is cut,
  # augmented and normalized there (data/device_data.py); 'auto': on GPU/TPU only.
  # Evaluation stays host-fed. Up to on_device_max_bytes of uint8 images.
  data.on_device = ml_collections.FieldReference(False, field_type=object)  # False | True | 'auto'
  data.on_device_max_bytes = 4 << 30

  # ---- Optimization (alexnet_jax/train.py) --------------------------------
  config.batch_size = 128            # global batch, split over the data devices
  config.eval_batch_size = 500
  config.num_epochs = 3.0            # the default job: ~90% on Fashion-MNIST in 2.5-5 min on
                                     # 2 cores (README)
  config.num_train_steps = -1        # > 0 overrides num_epochs
  config.stop_at_train_error = 0.0   # > 0: stop after the first epoch whose mean training
                                     # error is at most this (Figure 1's 25% criterion)
  config.log_every_steps = 50
  config.steps_per_dispatch = 1      # K > 1: K steps per launch (a lax.scan; needs data.on_device);
                                     # K must divide the log, eval and checkpoint cadences
  config.eval_every_steps = -1       # -1: once per epoch (and at the end)
  config.schedule = schedule = ml_collections.ConfigDict()
  schedule.name = 'cosine'           # plateau (paper, the :paper preset) | constant | step | cosine
  schedule.factor = 0.1
  schedule.patience = 1              # evaluations without improvement before a reduction
  schedule.max_reductions = 3        # the paper reduced the rate three times
  schedule.boundaries = (0.5, 0.75)  # step schedule: fractions of training
  config.optimizer = optimizer = ml_collections.ConfigDict()
  optimizer.name = 'adam'            # sgd (the paper's rule, section 5; the :paper preset) | adam
                                     # | cuda_convnet (cuda-convnet's per-layer rule; cc_* nets)
  optimizer.learning_rate = 2e-3     # paper (sgd): 0.01
  optimizer.momentum = 0.9
  optimizer.weight_decay = 5e-4      # sgd, adam (cuda_convnet: the layer file's per-layer wc)
  optimizer.layer_weight_decay = True  # cuda_convnet: apply the layer file's wc (False: none)
  optimizer.bias_rate_drops = False  # cuda_convnet: the schedule lowers epsW only, as the 11pct
                                     # header says (True: epsB too, the runs before 2026-12-04)

  # ---- Checkpoints and evaluation (training/checkpoints.py, evaluate.py) -
  config.checkpoint = checkpoint = ml_collections.ConfigDict()
  checkpoint.every_steps = 500
  checkpoint.keep = 3
  checkpoint.async_save = True
  config.eval = ml_collections.ConfigDict()
  config.eval.checkpoint = 'latest'  # latest | best | <step> | <path to a step directory>
  config.eval.max_examples = 0       # >0: a fixed seeded sample of this many examples of the
                                     # split (the same in every run); 0: every example

  # ---- Devices (alexnet_jax/devices/parallel.py) ----------------------------------
  config.parallel = parallel = ml_collections.ConfigDict()
  parallel.model_devices = 1         # 2 puts one kernel column on each device
  parallel.data_devices = -1         # -1: all remaining devices
  parallel.backend = 'pmap'          # pmap | shard_map

  # ---- Several hosts (alexnet_jax/devices/distributed.py) -------------------------
  config.distributed = distributed = ml_collections.ConfigDict()
  distributed.num_processes = 1      # > 1: run the same command on every host
  distributed.process_id = 0         # this host's index; process 0 is the coordinator
  distributed.coordinator_address = ''  # HOST:PORT of process 0
  distributed.timeout_s = 60         # how long to wait for the coordinator

  # ---- Speed measurement (--mode=benchmark) -------------------------------
  config.benchmark = benchmark = ml_collections.ConfigDict()
  benchmark.batch_size = 32
  benchmark.warmup_steps = 5          # untimed: compilation, and the host heap settling
                                      # (host_memory)
  benchmark.steps = 10

  if arg == 'paper':
    model.variant = 'paper'
    model.dropout_rate = 0.5
    model.init = 'paper'
    optimizer.name = 'sgd'
    optimizer.learning_rate = 0.01
    schedule.name = 'plateau'
    model.num_classes = 1000
    data.name = 'imagenet2012'
    data.image_size = 227
    data.channels = 3
    data.train_split = 'train'
    data.eval_split = 'validation'
    data.resize_size = 256
    data.crop_padding = 0
    data.pca_std = 0.1
    # Raw 0-255 pixels minus the mean image, as cuda-convnet fed the paper's net: its
    # N(0, 0.01) weights and LRN constants (k=2, alpha=1e-4) are sized for that scale.
    # Pixels in [0, 1] make the first layer's outputs 255 times smaller, LRN a constant
    # division by k^beta, and the initial outputs nearly the same for every image.
    data.normalization = 'cuda_convnet'
    config.num_epochs = 90.0
  elif arg is not None:
    raise ValueError(f"configs/default.py: unknown preset {arg!r}; allowed: 'paper' or none")
  return config
