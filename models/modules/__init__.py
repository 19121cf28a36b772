"""Building blocks of InvMIHNet: the dense subnet, the affine coupling block, the downsampling operations,
the wavelet transform, 8-bit quantization, and the two invertible networks built from them."""
