"""The names of a run directory's files, which training writes and resume, evaluation,
export, the weight importers and the reports read (README: "Training, checkpoints and
the workdir")."""

CONFIG = 'config.json'               # the resolved config the run was started with
STATISTICS = 'dataset_statistics.json'  # the training split's statistics its normalization
                                        # used: alexnet_jax.load and export need no dataset
METRICS = 'metrics.jsonl'            # one record per log window, epoch and evaluation
TRAIN_EVAL = 'eval_train.json'       # ablations: the training split evaluated as the test
                                     # split is, after training (the overfitting table)
MACHINES = 'machines.jsonl'          # one record per training process: the step it started
                                     # at, its CPU, devices and package versions
KERNELS = 'conv1_kernels.json'       # --mode=kernels: conv1's colour statistics per column
KERNEL_GRID = 'conv1_kernels.png'    # --mode=kernels: conv1's kernels drawn (Figure 3)
TENSORBOARD = 'tensorboard'          # the same records as TensorBoard events
CHECKPOINTS = 'checkpoints'          # the last `checkpoint.keep` steps
BEST_CHECKPOINTS = 'checkpoints_best'  # the step with the lowest validation error
