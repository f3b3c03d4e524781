"""What a training run is made of: the pure step functions and their compiled
wrappers, optimizers (the paper's and cuda-convnet's update rules), learning-rate
schedules, the workdir's rules and file names, checkpoints and metric writers."""
