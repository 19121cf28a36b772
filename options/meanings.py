"""What each option-file key means, one line per dotted key of the schema in ``options/options.py``.

``datasets.*.<key>`` stands for a key of every entry under ``datasets`` (``train``, ``val``, ``test_<k>``).
``python -m scripts.option_reference`` writes docs/options.md from the schema, its choices and these lines; a test
checks that every schema key has a meaning here and that every meaning names a schema key.
"""
from __future__ import annotations

MEANINGS: dict[str, str] = {
    'name': 'name of the run: experiments/<name>/ (training) or results/<name>/ (test)',
    'model': 'the model to build',
    'use_tb_logger': 'also log to TensorBoard under experiments/<name>/tb_logger/',
    'scale_H': 'rows of the mosaic grid; N = scale_H x scale_W secrets (1 x 1 is HiNet)',
    'scale_W': 'columns of the mosaic grid',
    'gpu_ids': 'use CUDA when set and present, otherwise the CPU; CUDA_VISIBLE_DEVICES is left alone',
    'network_G.which_model_G.subnet_type': 'subnet of the IIR coupling blocks (the published dense block)',
    'network_G.which_model_G.use_ConvDownsampling': 'IIR downsamples with a learnable invertible convolution instead '
                                                    'of Haar (the published 6- and 9-image models)',
    'network_G.in_nc': 'image channels of IIR (RGB only)',
    'network_G.out_nc': 'image channels of IIR (RGB only)',
    'network_G.block_num': 'IIR coupling blocks per downsampling level, e.g. [8] or [8, 8]; [] for a 1 x 1 grid',
    'network_G.init': 'initialisation of the IIR subnets',
    'network_H.block_num': 'IIH coupling blocks',
    'network_H.method': 'how the secrets reach the hiding network: mosaic (InvMIHNet), concat (ISN-style baseline) '
                        'or sequential (DeepMIH-style baseline); the baselines have no IIR (network_G.block_num: [])',
    'path.root': 'folder under which experiments/ and results/ are written (default: the repository)',
    'path.pretrain_model_G': 'IIR checkpoint to load (released format)',
    'path.pretrain_model_H': 'IIH checkpoint to load (released format)',
    'path.strict_load': 'a checkpoint must hold exactly the configured network\'s weights',
    'path.resume_state': 'training state to resume from, or auto (the experiment\'s newest)',
    'train.lr_G': 'IIR learning rate (Adam)',
    'train.lr_H': 'IIH learning rate (Adam)',
    'train.beta1': 'IIR Adam beta1',
    'train.beta2': 'IIR Adam beta2',
    'train.beta1_H': 'IIH Adam beta1',
    'train.beta2_H': 'IIH Adam beta2',
    'train.eps_H': 'IIH Adam epsilon',
    'train.weight_decay_G': 'IIR weight decay',
    'train.weight_decay_H': 'IIH weight decay',
    'train.niter': 'training iterations',
    'train.warmup_iter': 'iterations of linear learning-rate warm-up (-1: none)',
    'train.lr_scheme': 'learning-rate schedule of both optimizers',
    'train.lr_steps': 'MultiStepLR milestones (iterations) where the rate is multiplied by lr_gamma',
    'train.lr_gamma': 'MultiStepLR factor at each milestone',
    'train.restarts': 'iterations where the schedule restarts at its initial rate (times restart_weights)',
    'train.restart_weights': 'initial-rate factor of each restart',
    'train.clear_state': 'at a restart, also forget the optimizers\' moments',
    'train.T_period': 'CosineAnnealingLR_Restart: length of each cosine period (one per restart plus one)',
    'train.eta_min': 'CosineAnnealingLR_Restart: the lowest learning rate',
    'train.pixel_criterion_forw': 'loss of the IIR forward fit (LR secrets vs their bicubic downscales)',
    'train.pixel_criterion_back': 'loss of the IIR reverse reconstruction (recovered vs original secrets)',
    'train.manual_seed': 'seed of every random stream (null: a random seed, logged)',
    'train.val_freq': 'validate (and save the first validation image set) every so many iterations',
    'train.lambda_fit_forw': 'weight of forw_fit (LR secrets vs bicubic downscales)',
    'train.lambda_rec_back': 'weight of back_rec (recovered vs original secrets)',
    'train.lambda_ce_forw': 'weight of forw_ce (energy of the IIR latent)',
    'train.lamda_reconstruction': 'weight of reconstruction (revealed vs hidden LR secrets)',
    'train.lamda_guide': 'weight of guide (stego tiles vs cover tiles)',
    'train.lamda_outline': 'weight of outline (ours; 0 = the published loss): squared correlation of each stego '
                           "tile's residual with its secret's Sobel outlines",
    'train.lamda_texture': 'weight of texture (ours; 0 = the published loss): squared correlation, over 8 x 8 '
                           "blocks, of each stego tile's residual with its secret's local variance",
    'train.lamda_colour': 'weight of colour (ours; 0 = the published loss): summed squared canonical correlations, '
                          "over 4 x 4 blocks, of each stego tile's residual per channel with its secret's colour, "
                          'local variance and outlines',
    'train.lamda_tiles': 'weight of tiles (ours; 0 = the published loss): variance over each image set\'s tiles of the '
                         'log of each channel\'s mean |stego - cover|',
    'train.lamda_pattern': 'weight of pattern (ours; 0 = the published loss): summed squared canonical correlations, '
                           "pixel by pixel, of the fine detail of each stego tile's signed residual per channel "
                           "with that of its secret's luma in the 3 x 3 neighbourhood",
    'train.lamda_wavelet': 'weight of wavelet (ours; 0 = the published loss): summed squared canonical correlations, '
                           "over the 2 x 2 blocks of the Haar grid, of the 12 Haar coefficients of each stego tile's "
                           "signed residual with its secret's colour there",
    'train.lamda_low_frequency': 'weight of low_frequency (stego vs cover in the wavelet LL band)',
    'train.gradient_clipping': 'clip each network\'s gradient norm to this value (null: no clipping)',
    'train.gaussian_scale': 'scale of the latent noise z drawn on the training reveal path',
    'train.two_pass_backward': 'take the published two backward passes instead of one (same gradients, slower)',
    'train.reveal_from': 'the training reveal path: the float stego (published) or the stego rounded to 8 bits',
    'train.distortions': 'distortions applied to the stego in training: a list of {name, p} entries',
    'train.precision': 'precision of the subnets\' hidden convolutions (fp16: CUDA only)',
    'train.memory_saving': 'trade time for memory: activation checkpointing, or rebuilding inputs from outputs',
    'train.compile': 'torch.compile the dense subnets',
    'train.on_divergence': 'on a non-finite loss or a loss spike: stop the run, rollback to the last good state '
                           'with the learning rates scaled by rollback_lr_factor, or skip the batch before its step '
                           '(docs/training_stability.md)',
    'train.divergence_factor': 'a spike: the total loss above this many times its running median (null: NaN / inf '
                               'only)',
    'train.divergence_window': 'iterations in the running median of the total loss',
    'train.rollback_lr_factor': 'factor on every learning rate at a rollback, in (0, 1]',
    'train.max_rollbacks': 'rollbacks allowed before the run stops with an error',
    'train.max_consecutive_skips': 'under skip: batches in a row that may diverge before the run stops with an error',
    'test.reveal_from': 'reveal from the saved 8-bit stego (png, what a receiver has) or the float stego',
    'test.seed': 'seed of the reveal noise (and of the attacks)',
    'test.gaussian_scale': 'scale of the latent noise z drawn on the reveal path',
    'test.center_crop': 'centre-crop the test images to this size (an int or [H, W]) where a test set sets none',
    'test.save_images': 'save cover, stego, secrets and recovered secrets as PNG',
    'test.attacks': 'distortions applied to the saved stego before revealing, each evaluated (none: the clean stego)',
    'test.trained_distortions': 'the distortions the model was trained for, which hide.py and test.py report',
    'test.precision': 'precision of the subnets\' hidden convolutions at test time (fp16: CUDA only)',
    'test.chunk': 'secrets / tiles per network call, to bound memory (null: all at once; same output)',
    'test.compile': 'torch.compile the dense subnets at test time',
    'logger.print_freq': 'log the losses every so many iterations',
    'logger.save_checkpoint_freq': 'save the networks and the training state every so many iterations',
    'datasets.*.name': 'name of the image set (folder name of its results)',
    'datasets.*.mode': 'dataset type; both names load the same StegDataset (LQGT is the published name)',
    'datasets.*.dataroot_GT': 'image folder or LMDB of the images',
    'datasets.*.dataroot_LQ': 'optional folder or LMDB of precomputed LR references',
    'datasets.*.use_shuffle': 'shuffle the training images',
    'datasets.*.n_workers': 'DataLoader worker processes',
    'datasets.*.batch_size': 'must be N + 1 (one cover and N secrets) when given',
    'datasets.*.GT_size': 'training crop size (required for train)',
    'datasets.*.use_flip': 'training augmentation: random horizontal flip',
    'datasets.*.use_rot': 'training augmentation: random vertical flip and transpose',
    'datasets.*.color': 'colour space of the images (RGB only)',
    'datasets.*.on_corrupt': 'an unreadable image is an error, or is skipped with a warning',
    'datasets.*.center_crop': 'val / test: centre-crop every image to this size (an int or [H, W])',
    'datasets.*.max_batches': 'val / test: evaluate at most this many image sets',
    'datasets.*.sets_per_batch': 'train: image sets per training step (batch sets x (N + 1))',
}
